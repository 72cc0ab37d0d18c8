r"""NeuralSort's smooth pairwise term in ``O(N n)`` by Chebyshev interpolation.

In ``mode="smooth"`` NeuralSort needs $A_j = S(\hat x_j)$ with

$$S(x) = \sum_i \operatorname{softabs}(x - \hat x_i), \qquad
\operatorname{softabs}(d) = d \tanh\!\big(d / (2s)\big).$$

$S$ is analytic in the strip $|\operatorname{Im} x| < \pi s$ (the poles of
$\tanh$), so on the row's interval $[\ell, h]$ of length $L$ its Chebyshev
interpolant of degree $N$ converges geometrically (Trefethen, *Approximation
Theory and Approximation Practice*, Thm. 8.2): with $\rho = b + \sqrt{1 + b^2}$,
$b = \pi s / L$, the Bernstein ellipse $E_\rho$ reaches $|\operatorname{Im} x|
\le \pi s / 2$, where $|\tanh| \le 1$, so $|S| \le M = n L (\sqrt{1+b^2} + 1) / 2$
there and

$$\|S - p_N\|_\infty \le \frac{4 M \rho^{-N}}{\rho - 1}.$$

The interpolant takes ``N`` node sums of ``n`` terms and one barycentric
evaluation at the ``n`` points: ``O(N n)`` time and memory instead of the
dense ``O(n²)`` time. It is used where the bound above is below a tenth of
the dense sum's own rounding scale, ``eps · n · L`` (:func:`smooth_abs_sum`
returns the flag); at the default softness on standardized rows
(``s / L >= 0.1``) that holds with ``N = 96`` (float32) and ``N = 192``
(float64).

Derivatives come from the same construction (``jax.custom_jvp``): with
$K = \operatorname{softabs}'$ and $H = \partial_s \operatorname{softabs}$,
$dA_j = dx_j \sum_i K(\hat x_j - \hat x_i) - \sum_i K(\hat x_j - \hat x_i)\, dx_i
+ ds \sum_i H(\hat x_j - \hat x_i)$, three more interpolated sums, the middle
one linear in the tangent (so reverse mode transposes it).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

# Interpolation degree by precision.
NODES_DOUBLE = 192
NODES_SINGLE = 96
# The interpolation error allowed, as a fraction of eps * n * L.
TOLERANCE = 0.1
# |d| / (2 s) beyond this saturates tanh in every float format; the kernels
# clamp their argument there so nothing overflows.
_SATURATED = 40.0


def nodes_for(dtype: jnp.dtype) -> int:
    """The interpolation degree used for ``dtype``."""
    return NODES_DOUBLE if jnp.finfo(dtype).bits >= 64 else NODES_SINGLE


def _chebyshev_points(nodes: int) -> np.ndarray:
    """First-kind points ``cos(π (k + ½) / N)`` on [-1, 1] (the end points are not nodes)."""
    return np.cos(np.pi * (np.arange(nodes) + 0.5) / nodes)


def _barycentric_weights(nodes: int) -> np.ndarray:
    """Weights of the barycentric formula for the first-kind points (Berrut & Trefethen 2004)."""
    k = np.arange(nodes)
    return (-1.0) ** k * np.sin(np.pi * (k + 0.5) / nodes)


def _softabs(d, s):
    return d * jnp.tanh(jnp.clip(d / (2 * s), -_SATURATED, _SATURATED))


def _softabs_slope(d, s):
    """``softabs'(d) = tanh(u) + u sech²(u)``, ``u = d / 2s``."""
    u = jnp.clip(d / (2 * s), -_SATURATED, _SATURATED)
    th = jnp.tanh(u)
    return th + u * (1 - th * th)


def _softabs_softness(d, s):
    """``∂ softabs / ∂s = -2 u² sech²(u)``."""
    u = jnp.clip(d / (2 * s), -_SATURATED, _SATURATED)
    th = jnp.tanh(u)
    return -2 * u * u * (1 - th * th)


class _Interval:
    """The row's interval ``[lo, hi]`` as centre and half-width, and the map to [-1, 1]."""

    def __init__(self, v: jax.Array, softness: jax.Array):
        fixed = jax.lax.stop_gradient(v)
        lo, hi = jnp.min(fixed), jnp.max(fixed)
        self.mid = lo / 2 + hi / 2  # no overflow near the dtype's max
        half = hi / 2 - lo / 2
        # A constant row: any interval containing it; one of width 2s is
        # resolved to rounding by a handful of nodes.
        self.half = jnp.where(half > 0, half, jax.lax.stop_gradient(softness))
        self.length = 2 * self.half

    def nodes(self, count: int) -> jax.Array:
        return self.mid + self.half * jnp.asarray(_chebyshev_points(count), self.mid.dtype)

    def to_unit(self, x: jax.Array) -> jax.Array:
        # No clip: the end points map to +-1 up to rounding, where the
        # barycentric formula is still exact, and a clip would halve the
        # derivative there.
        return (x - self.mid) / self.half


def _interpolation_matrix(interval: _Interval, at: jax.Array, count: int) -> jax.Array:
    """``(n, N)`` weights taking values at the ``N`` nodes to the interpolant at ``at (n,)``.

    The second (true) barycentric formula, forward stable at Chebyshev
    points (Higham 2004): its rounding is about ``eps · log N · max |f|``,
    where a Clenshaw sum of the coefficients carries ``N eps``.
    """
    t_nodes = jnp.asarray(_chebyshev_points(count), at.dtype)
    weights = jnp.asarray(_barycentric_weights(count), at.dtype)
    diff = interval.to_unit(at)[:, None] - t_nodes[None, :]
    hit = diff == 0
    c = weights / jnp.where(hit, 1.0, diff)
    c = jnp.where(jnp.any(hit, axis=1, keepdims=True), hit.astype(c.dtype), c)  # on a node: its value
    return c / jnp.sum(c, axis=1, keepdims=True)


class _Terms(NamedTuple):
    """What the value and its derivatives share for one row."""

    interval: _Interval
    distances: jax.Array  # (N, n): node minus entry
    matrix: jax.Array  # (n, N): the interpolation weights


def _terms(v: jax.Array, softness: jax.Array) -> _Terms:
    interval = _Interval(v, softness)
    count = nodes_for(v.dtype)
    x = interval.nodes(count)
    return _Terms(interval, x[:, None] - v[None, :], _interpolation_matrix(interval, v, count))


def _value_and_slope(terms: _Terms, softness: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(A, Σ_i K(v_j - v_i), K)`` with ``K = softabs'`` at the node distances."""
    slope = _softabs_slope(terms.distances, softness)
    node_values = jnp.stack([jnp.sum(_softabs(terms.distances, softness), axis=1), jnp.sum(slope, axis=1)], 1)
    a, total_slope = (terms.matrix @ node_values).T
    return a, total_slope, slope


@jax.custom_jvp
def _abs_sum(v: jax.Array, softness: jax.Array) -> jax.Array:
    return _value_and_slope(_terms(v, softness), softness)[0]


def _abs_sum_jvp(primals, tangents):
    v, softness = primals
    dv, ds = tangents
    terms = _terms(v, softness)
    a, total_slope, slope = _value_and_slope(terms, softness)
    da = jnp.zeros_like(a)
    if not isinstance(dv, SymbolicZero):
        da = da + dv * total_slope - terms.matrix @ (slope @ dv)
    if not isinstance(ds, SymbolicZero):
        da = da + terms.matrix @ jnp.sum(_softabs_softness(terms.distances, softness), axis=1) * ds
    return a, da


_abs_sum.defjvp(_abs_sum_jvp, symbolic_zeros=True)


def certified(v: jax.Array, softness: jax.Array) -> jax.Array:
    """Whether the Chebyshev bound is within :data:`TOLERANCE` ``· eps · n · L`` (scalar bool)."""
    s = jax.lax.stop_gradient(jnp.asarray(softness, v.dtype))
    interval = _Interval(v, s)
    b = jnp.minimum(math.pi * s / interval.length, 1e6)
    root = jnp.sqrt(1 + b * b)
    rho = b + root
    nodes = nodes_for(v.dtype)
    # log of 4 M rho^-N / (rho - 1) / (eps n L), with M = n L (root + 1) / 2.
    log_ratio = -nodes * jnp.log(rho) + jnp.log(2 * (root + 1) / (rho - 1)) - math.log(jnp.finfo(v.dtype).eps)
    return (log_ratio <= math.log(TOLERANCE)) & jnp.all(jnp.isfinite(v))


def smooth_abs_sum(v: jax.Array, softness: jax.Array | float) -> tuple[jax.Array, jax.Array]:
    r"""$A_j = \sum_i \hat x_i$-distances softened by $d \tanh(d / 2s)$, for a 1-D row ``v``.

    Args:
        v: ``(n,)``, any order.
        softness: scalar ``s > 0``.

    Returns:
        ``(A (n,), ok)``: ``A`` equals the dense sum to within a tenth of its
        rounding scale where the scalar ``ok`` holds; elsewhere it is finite
        but meaningless (the caller takes the dense sum).
    """
    s = jnp.asarray(softness, v.dtype)
    ok = certified(v, s)
    # Where the bound fails the row may span far more than the softness (up
    # to overflow in its distances): interpolate zeros instead, so nothing
    # non-finite reaches the discarded result or its zero cotangent.
    return _abs_sum(jnp.where(ok, v, jnp.zeros_like(v)), s), ok
