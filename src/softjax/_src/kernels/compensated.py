r"""Double-word ("compensated") arithmetic for the dual potentials of the OT solvers.

A sparse transport plan is $\Gamma = \phi'(f_i + g_j - C_{ij})$ with potentials
$f, g$ and costs of order one but entries $z_{ij} = f_i + g_j - C_{ij}$ of order
$s/n$: in float32 the plain sum rounds $z$ by $u\,(|f| + |g| + |C|)$ ($u$ the
unit round-off), which is $10^{-3}$ of a plan entry at $n = 1024$, softness
$0.1$. A solver that sees its marginals only through that noise stops short
of the solution, and the Jacobian of a piecewise-linear plan (``c0``) changes
wherever a rounded $z$ changes sign.

Here a potential is carried as an unevaluated sum ``hi + lo`` of two numbers
of the working dtype (Dekker / Knuth error-free transformations), and
:func:`dual_gap` evaluates $z$ with an error of about $u\,|z|$ instead of
$u\,(|f| + |g| + |C|)$: ``hi_f + hi_g`` is split exactly into its rounded sum
and rounding error (TwoSum), the cost is subtracted from the rounded sum (one
rounding, relative to the result), and the small terms are added last. The
costs themselves are data: they are used as given.

In float64 the plain sums are accurate enough; callers pass ``lo = None``
there and pay nothing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def needs_compensation(dtype) -> bool:
    """Whether potentials of ``dtype`` are carried as ``hi + lo`` (anything below float64)."""
    return jnp.finfo(dtype).bits < 64


def two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e == a + b`` exactly (Knuth's TwoSum)."""
    s = a + b
    b_virtual = s - a
    e = (a - (s - b_virtual)) + (b - b_virtual)
    return s, e


def add(hi, lo, delta):
    """``(hi, lo) + delta`` as a renormalised pair (``|lo| <= ulp(hi) / 2``)."""
    s, e = two_sum(hi, delta)
    lo = lo + e
    new_hi = s + lo
    return new_hi, lo - (new_hi - s)


def dual_gap(f, g, cost, f_lo=None, g_lo=None) -> jax.Array:
    r"""$z_{ij} = f_i + g_j - C_{ij}$ for ``(n,)`` potentials and an ``(n, m)`` cost.

    With ``f_lo``/``g_lo`` (the low words of double-word potentials) the
    result is accurate to about $u\,|z_{ij}|$ plus $u$ times the low words;
    without them it is the plain float sum.
    """
    if f_lo is None:
        return f[..., :, None] + g[..., None, :] - cost
    s, e = two_sum(f[..., :, None], g[..., None, :])
    return (s - cost) + (e + (f_lo[..., :, None] + g_lo[..., None, :]))
