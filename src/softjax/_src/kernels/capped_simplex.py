r"""Regularised projections onto the capped simplex ``{y in [0, 1]^n : sum y = k}``.

A pure math kernel (last axis, any leading batch axes): it knows nothing of
``softness``, axes or the public API. Two solvers share one implicit
derivative.

:func:`project_capped_simplex` solves, for ``z`` (already divided by the
softness),

$$y^\star = \operatorname*{argmax}_{y \in [0,1]^n,\ \sum_i y_i = k}\ \langle z, y\rangle - \Omega(y)$$

for a separable regulariser, i.e. the regularised projection onto the
permutahedron of ``(1, ..., 1, 0, ..., 0)`` (Sander, Puigcerver, Djolonga,
Peyré & Blondel 2023, "Fast, Differentiable and Sparse Top-k: a Convex
Analysis Perspective"). By the KKT conditions ``y_i = f(z_i - tau)`` with
``tau`` the root of ``sum_i f(z_i - tau) = k`` and

* ``smooth`` (``Omega = sum y log y - y``): ``f(u) = min(1, exp(u))``;
* ``c0`` (``Omega = 1/2 sum y^2``): ``f(u) = clip(u, 0, 1)``;
* ``c1`` / ``c2`` (``Omega = 2/3 sum y^{3/2}`` / ``3/4 sum y^{4/3}``, the
  p = 3/2 and 4/3 regularisers of :mod:`~softjax._src.kernels.simplex`, same
  scaling): ``f(u) = clip(u, 0, 1)^alpha`` with ``alpha = 2, 3``.

``sum f(z_i - tau)`` is continuous, non-increasing and piecewise smooth in
``tau`` with breakpoints ``z_i - c`` (an entry reaches its cap, ``c = 0`` for
smooth, ``1`` otherwise) and ``z_i`` (an entry leaves zero, sparse modes).
The breakpoints are sorted once (O(n log n)) and the bracketing pair is found
by binary search, each probe an exact O(n) evaluation of the sum (no prefix
sums, so no cancellation however wide the row). In the bracket the capped set
and the active set are fixed and ``tau`` solves, with ``v = z - b_lo`` and
``r = k - #capped`` (shifted so nothing cancels): smooth ``tau =
logsumexp(z_uncapped) - log r``; c0 ``t = (sum v - r) / |A|``; c1 the smaller
root of ``|A| t^2 - 2 (sum v) t + sum v^2 - r = 0`` in a cancellation-free
form; c2 Newton's method on the convex decreasing cubic
``sum (v - t)^3 - r`` started at the bracket's left end, where it increases
monotonically to the root without overshooting (run until it stops moving,
60 steps at most).

:func:`threshold_capped` solves ``sum_i S(x_i - tau; s) = k`` for any
increasing elementwise step ``S`` (``softjax.sigmoidal`` in practice) by
Newton's method safeguarded by a bracket and bisection inside
``lax.while_loop`` (until the bracket or the step stops shrinking, 100
iterations at most), O(n) per iteration.

Derivatives (both solvers): the solve runs on detached values; the gaps
``u = z - tau`` come out of one ``jax.custom_jvp`` that differentiates the
constraint ``sum f(u_i; p) = k`` implicitly:
``d tau = (sum f'_i dz_i + sum df_i/dp dp - dk) / sum f'_i`` (``d tau = 0``
when ``sum f' = 0``: the mask is then locally constant) and ``du = dz - d tau``;
``y = f(u)`` is formed by ordinary JAX ops. The rule uses only
differentiable operations on the custom function's own output, so second
derivatives (``hessian``) are exact wherever ``f`` is twice differentiable.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from softjax._src.kernels.vma import vary_like
from softjax._src.validation import SOFT_MODES, validate_mode

_ALPHA = {"c0": 1, "c1": 2, "c2": 3}
_NEWTON_CAP = 60
_THRESHOLD_CAP = 100


# --------------------------------------------------------------------------- implicit derivative


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _implicit_gaps(fn: Callable, z: jax.Array, k: jax.Array, params: Any, tau: jax.Array) -> jax.Array:
    """``u = z - tau`` where ``tau`` (detached) solves ``sum fn(u, params) = k``."""
    del k, params
    return z - tau


@_implicit_gaps.defjvp
def _implicit_gaps_jvp(fn, primals, tangents):
    z, k, params, tau = primals
    dz, dk, dparams, _ = tangents
    u = _implicit_gaps(fn, z, k, params, tau)  # the custom function again: differentiable
    slope = jax.jvp(lambda v: fn(v, params), (u,), (jnp.ones_like(u),))[1]
    moved = jax.jvp(lambda p: fn(u, p), (params,), (dparams,))[1]
    total = jnp.sum(slope, axis=-1, keepdims=True)
    ok = total > 0
    num = jnp.sum(slope * dz + moved, axis=-1, keepdims=True) - dk
    dtau = jnp.where(ok, num / jnp.where(ok, total, 1.0), 0.0)
    return u, dz - dtau


# --------------------------------------------------------------------------- capped regularised projection


def capped_value(u: jax.Array, mode: str) -> jax.Array:
    """``f(u)`` of the module docstring; derivative 0 at the kinks (``u = 0``, cap)."""
    if mode == "smooth":
        below = u < 0
        return jnp.where(below, jnp.exp(jnp.where(below, u, 0.0)), 1.0)
    alpha = _ALPHA[mode]
    inside = (u > 0) & (u < 1)
    v = jnp.where(inside, u, 0.0)
    power = v if alpha == 1 else v * v if alpha == 2 else v * v * v
    return jnp.where(inside, power, jnp.where(u >= 1, 1.0, 0.0))


def _row_sum(z: jax.Array, b: jax.Array, mode: str) -> jax.Array:
    return jnp.sum(capped_value(z - b, mode), axis=-1, keepdims=True)


class _Search(NamedTuple):
    lo: jax.Array  # index into the sorted breakpoints with sum >= k
    hi: jax.Array  # index with sum < k


class _Newton(NamedTuple):
    t: jax.Array
    step: jax.Array
    moving: jax.Array


def _cubic_root(v: jax.Array, active: jax.Array, r: jax.Array, h: jax.Array) -> jax.Array:
    """Root ``t`` in ``[0, h]`` of ``sum_A (v - t)^3 = r`` by monotone Newton from 0."""

    def body(s: _Newton) -> _Newton:
        g = jnp.where(active, v - s.t, 0.0)
        phi = jnp.sum(g * g * g, axis=-1, keepdims=True) - r
        dphi = 3.0 * jnp.sum(g * g, axis=-1, keepdims=True)
        step = jnp.where(dphi > 0, phi / jnp.where(dphi > 0, dphi, 1.0), 0.0)
        t = jnp.clip(s.t + jnp.maximum(step, 0.0), s.t, h)
        return _Newton(t, s.step + 1, t > s.t)

    def cond(s: _Newton) -> jax.Array:
        return jnp.any(s.moving) & (s.step < _NEWTON_CAP)

    start = vary_like(_Newton(jnp.zeros_like(r), jnp.zeros((), jnp.int32), jnp.ones(r.shape, bool)), v, r)
    return jax.lax.while_loop(cond, body, start).t


# The solvers run on detached values; jitted (keyed on the static mode / step
# object) so that eager calls compile their loops once per shape.
@functools.partial(jax.jit, static_argnames="mode")
def _solve_projection(z: jax.Array, k: jax.Array, mode: str) -> jax.Array:
    """``tau`` (shape ``batch + (1,)``) with ``sum f(z - tau) = k``, for ``0 < k < n``."""
    n = z.shape[-1]
    cap = 0.0 if mode == "smooth" else 1.0
    inf = jnp.full((*z.shape[:-1], 1), jnp.inf, z.dtype)
    parts = (z, inf) if mode == "smooth" else (z - cap, z, inf)
    raw = jnp.concatenate(parts, axis=-1)
    size = raw.shape[-1]
    iota = jax.lax.broadcasted_iota(jnp.int32, raw.shape, raw.ndim - 1)
    breaks, order = jax.lax.sort((raw, iota), dimension=raw.ndim - 1, num_keys=1)
    rank = jnp.argsort(order, axis=-1)  # sorted position of every breakpoint

    def at(index: jax.Array) -> jax.Array:
        return jnp.take_along_axis(breaks, index, axis=-1)

    # sum(b_0) = n >= k (every entry capped) and sum(+inf) = 0 < k.
    def probe(_, s: _Search) -> _Search:
        mid = (s.lo + s.hi) // 2
        big = _row_sum(z, at(mid), mode) >= k
        return _Search(jnp.where(big, mid, s.lo), jnp.where(big, s.hi, mid))

    zeros = jnp.zeros(k.shape, jnp.int32)
    steps = max(1, math.ceil(math.log2(size)))
    found = jax.lax.fori_loop(0, steps, probe, vary_like(_Search(zeros, zeros + (size - 1)), z, k))
    b_lo, b_hi = at(found.lo), at(found.hi)
    # No breakpoint lies strictly inside (b_lo, b_hi): each entry is capped,
    # zero or active on the whole open interval. The sets are read off the
    # breakpoints' sorted positions, not by comparing values again: XLA may
    # recompute z differently in different fusions, and an entry tied with a
    # bracket end would then be classified inconsistently.
    capped = rank[..., :n] >= found.hi
    r = k - jnp.sum(capped, axis=-1, keepdims=True).astype(z.dtype)
    if mode == "smooth":
        rest = jnp.where(capped, -jnp.inf, z)
        m = jnp.max(rest, axis=-1, keepdims=True)
        m = jnp.where(jnp.isfinite(m), m, 0.0)
        lse = m + jnp.log(jnp.sum(jnp.exp(rest - m), axis=-1, keepdims=True))
        tau = lse - jnp.log(jnp.where(r > 0, r, 1.0))
        return jnp.clip(tau, b_lo, b_hi)
    active = ~capped & (rank[..., n : 2 * n] > found.lo)
    count = jnp.sum(active, axis=-1, keepdims=True).astype(z.dtype)
    v = jnp.where(active, z - b_lo, 0.0)
    h = b_hi - b_lo
    some = count > 0
    s1 = jnp.sum(v, axis=-1, keepdims=True)
    if mode == "c0":
        t = (s1 - r) / jnp.where(some, count, 1.0)
    elif mode == "c1":
        q = jnp.sum(v * v, axis=-1, keepdims=True) - r
        disc = jnp.maximum(s1 * s1 - count * q, 0.0)
        den = s1 + jnp.sqrt(disc)
        t = q / jnp.where(den > 0, den, 1.0)
    else:
        t = _cubic_root(v, active, r, h)
    t = jnp.clip(jnp.where(some, t, 0.0), 0.0, h)
    return b_lo + t


def _safe_k(k: jax.Array, n: int) -> jax.Array:
    """``k`` where ``0 < k < n``, else ``n / 2`` (those rows are overwritten by :func:`_finish`)."""
    return jnp.where((k > 0) & (k < n), k, 0.5 * n)


def _finish(y: jax.Array, k: jax.Array, n: int, nan: jax.Array) -> jax.Array:
    y = jnp.where(k >= n, 1.0, jnp.where(k <= 0, 0.0, y))
    return jnp.where(nan, jnp.nan, y)


def project_capped_simplex(z: jax.Array, k: Any, mode: str) -> jax.Array:
    r"""Regularised projection of each row of ``z`` onto ``{y in [0,1]^n : sum y = k}``.

    Args:
        z: ``(..., n)`` float array, already divided by the softness.
        k: scalar or ``(..., 1)``, real-valued (differentiable); ``k <= 0``
            gives zeros and ``k >= n`` ones (derivative 0).
        mode: ``"smooth"``, ``"c0"``, ``"c1"`` or ``"c2"`` (module docstring).

    Returns:
        ``(..., n)`` in ``[0, 1]`` summing to ``k`` up to rounding; a row with
        a NaN is all NaN.

    Examples:
        >>> from softjax._src.kernels.capped_simplex import project_capped_simplex
        >>> project_capped_simplex(jnp.array([3.0, 0.75, 0.25, -1.0]), 2, "c0")
        Array([1.  , 0.75, 0.25, 0.  ], dtype=float32)
    """
    validate_mode(mode, SOFT_MODES)
    n = z.shape[-1]
    k = jnp.broadcast_to(jnp.asarray(k, z.dtype), (*z.shape[:-1], 1))
    k_safe = _safe_k(k, n)
    zs = z - jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
    tau = jax.lax.stop_gradient(
        _solve_projection(jax.lax.stop_gradient(zs), jax.lax.stop_gradient(k_safe), mode)
    )
    nan = jnp.any(jnp.isnan(z), axis=-1, keepdims=True)
    tau = jnp.where(nan | ~jnp.isfinite(tau), 0.0, tau)
    u = _implicit_gaps(_capped_fn(mode), zs, k_safe, (), tau)
    return _finish(capped_value(u, mode), k, n, nan)


@functools.cache
def _capped_fn(mode: str) -> Callable:
    # One function object per mode, so custom_jvp traces are reused.
    def fn(u, params):
        del params
        return capped_value(u, mode)

    return fn


# --------------------------------------------------------------------------- threshold of a step function


class _Bracketed(NamedTuple):
    lo: jax.Array  # sum S(x - lo) >= k
    hi: jax.Array  # sum S(x - hi) <= k
    tau: jax.Array
    step: jax.Array
    done: jax.Array


@functools.partial(jax.jit, static_argnames="step")
def _solve_threshold(x, k, params, step: Callable, reach) -> jax.Array:
    lo = jnp.min(x, axis=-1, keepdims=True) - reach
    hi = jnp.max(x, axis=-1, keepdims=True) + reach

    def sum_and_slope(tau):
        u = x - tau
        y, dy = jax.jvp(lambda v: step(v, params), (u,), (jnp.ones_like(u),))
        return jnp.sum(y, axis=-1, keepdims=True), jnp.sum(dy, axis=-1, keepdims=True)

    def body(s: _Bracketed) -> _Bracketed:
        g, slope = sum_and_slope(s.tau)
        phi = g - k
        lo = jnp.where(phi >= 0, s.tau, s.lo)
        hi = jnp.where(phi <= 0, s.tau, s.hi)
        newton = s.tau + phi / jnp.where(slope > 0, slope, 1.0)
        inside = (slope > 0) & (newton > lo) & (newton < hi)
        mid = lo + 0.5 * (hi - lo)
        tau = jnp.where(inside, newton, mid)
        stalled = (tau == s.tau) | (mid <= lo) | (mid >= hi) | (phi == 0) | jnp.isnan(phi)
        done = s.done | stalled
        keep = s.done
        return _Bracketed(
            jnp.where(keep, s.lo, lo),
            jnp.where(keep, s.hi, hi),
            jnp.where(keep | (phi == 0), s.tau, tau),
            s.step + 1,
            done,
        )

    def cond(s: _Bracketed) -> jax.Array:
        return ~jnp.all(s.done) & (s.step < _THRESHOLD_CAP)

    start = _Bracketed(lo, hi, lo + 0.5 * (hi - lo), jnp.zeros((), jnp.int32), jnp.zeros(k.shape, bool))
    start = vary_like(start, x, k)
    return jax.lax.while_loop(cond, body, start).tau


def threshold_capped(x: jax.Array, k: Any, params: Any, step: Callable, reach: Any) -> jax.Array:
    r"""``y = step(x - tau, params)`` with ``tau`` such that ``sum y = k`` along the last axis.

    Args:
        x: ``(..., n)`` float array.
        k: scalar or ``(..., 1)``, real-valued (differentiable); ``k <= 0``
            gives zeros and ``k >= n`` ones.
        params: pytree of arrays passed to ``step`` (e.g. the softness),
            differentiable.
        step: ``step(u, params)``, elementwise, increasing from 0 to 1; a
            hashable callable (reuse one object so traces are cached).
        reach: ``w >= 0`` (scalar or ``(..., 1)``) with
            ``step(w) >= max(k/n, 1 - k/n)`` and ``step(-w) <= min(k/n, 1 - k/n)``,
            so that ``[min x - w, max x + w]`` brackets ``tau``.

    Returns:
        ``(..., n)`` in ``[0, 1]`` summing to ``k`` (to the resolution of
        ``tau``); a row with a NaN is all NaN.
    """
    n = x.shape[-1]
    k = jnp.broadcast_to(jnp.asarray(k, x.dtype), (*x.shape[:-1], 1))
    k_safe = _safe_k(k, n)
    sg = jax.lax.stop_gradient
    tau = sg(
        _solve_threshold(sg(x), sg(k_safe), jax.tree_util.tree_map(sg, params), step=step, reach=sg(reach))
    )
    nan = jnp.any(jnp.isnan(x), axis=-1, keepdims=True)
    tau = jnp.where(nan | ~jnp.isfinite(tau), 0.0, tau)
    u = _implicit_gaps(step, x, k_safe, params, tau)
    return _finish(step(u, params), k, n, nan)


__all__ = ["capped_value", "project_capped_simplex", "threshold_capped"]
