r"""SoftSort's sparse rows (``c0``, ``c1``, ``c2``) contracted with a vector, without the ``n x n`` matrix.

Row ``r`` is $y_j = t_j^\alpha$, $t_j = (\rho_r - d_j)_+ / s$ with
$\sum_j t_j^\alpha = 1$, $d_j = |a_r - v_j|$ and $\alpha = 1, 2, 3$
(sparsemax, Martins & Astudillo 2016; 1.5- and 4/3-entmax up to a rescaling,
Peters, Niculae & Martins 2019). In sorted order the scores
$-d_j / s$ are unimodal in ``j`` with the peak at the anchor $a_r = v_r$, so
the support is the window of the ``k*`` positions closest to $a_r$: a
contiguous ``[L, R]`` around ``r``. With $d_{max}$ the largest distance in a
window of ``k`` positions, the ``k``-th closest is in the support iff
$\sum_W (d_{max} - d_j)^\alpha < s^\alpha$ (the sorted-input support
criterion of the projection), monotone in ``k``: a binary search on ``k``,
and for each ``k`` one on ``L`` (the ``k`` closest positions). The anchor's
own term bounds $\rho \le s$, so ``k`` is at most the number ``R`` of
positions within distance $s$ of the anchor: both searches take $\log_2 R$
steps rather than $\log_2 n$. Each test of the criterion is four lookups
in a range table (:mod:`softjax._src.kernels.range_table`, built once per
row). On the support window $\rho = d_{max} + \delta$ with
$\sum_W (\delta + e_j)^\alpha = s^\alpha$, $e_j = d_{max} - d_j \ge 0$, and
$\sum_j y_j u_j = \sum_q \binom{\alpha}{q} \delta^{\alpha-q} \sum_W e_j^q u_j / s^\alpha$:
only window moments of $e$ are needed, taken in units of $s$.
O(n log n log R) time. Memory is O(n) plus a few ``n`` per level of the
segment tree, and the search's table (``2 alpha log n`` vectors, freed
before the contraction): value and gradient at n = 16384, float32, take
162 ``n``-vectors of XLA temporaries for ``c0``, 220 for ``c1``, 272 for
``c2``; the dense rows take 800-1300.

The contraction's window moments come from the segment tree of
:mod:`softjax._src.kernels.segment_tree` (no difference of prefix sums,
which would cancel). Left of the anchor $e_j = (v_j - v_L) + o_L$, right of
it $(v_R - v_j) + o_R$, with $o = d_{max} - $ (the distance of that end)
$\ge 0$: each segment's power sums move to the window's origin by one
non-negative shift. The origins are detached constants, so derivatives
follow by ordinary autodiff (the window search is integer work on detached
values).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from softjax._src.kernels import range_table, segment_tree

# Offsets (the search's table, the contraction's tree) are in units of the
# softness and capped at _CAP: a support window spans less than 2 s (every entry is within s of the
# anchor), so the ranges it sums are exact, and the high powers of the
# ranges no window uses (rows at 1e20 with s = 1e-6) cannot overflow into
# the derivatives. A capped offset is at least min(offset, _CAP), so with
# _CAP >= 1 the search's test (the window's sum below 1) passes only where
# every term was exact.
_CAP = 4.0


def _window_power_sum(
    table: range_table.Table, v: jax.Array, start: jax.Array, stop: jax.Array, alpha: int
) -> jax.Array:
    """``Σ_W e^alpha``, ``e = (d_max - d) / unit``, over ``[start, stop]`` (two table lookups a side)."""
    r = jnp.arange(v.shape[-1], dtype=jnp.int32)
    o_left, o_right = _edge_gaps(v, v[start], v[stop])
    left = range_table.range_sums(table, start, r, o_left / table.unit, True, alpha)
    right = range_table.range_sums(table, r + 1, stop, o_right / table.unit, False, alpha)
    return left + right


def _window_moments(
    tree: segment_tree.Tree, v: jax.Array, start: jax.Array, stop: jax.Array, alpha: int, unit: jax.Array
) -> segment_tree.Tree:
    """Moments of ``e = (d_max - d) / unit`` over the window ``[start, stop]`` around each anchor.

    Walks of ``log n`` levels of the segment tree, differentiable: for the
    contraction, one query per row, where a table (``n log n`` entries,
    each with its backward pass) would cost more than the walks.
    """
    n = v.shape[-1]
    r = jnp.arange(n, dtype=jnp.int32)
    v_start, v_stop = v[start], v[stop]
    o_left, o_right = _edge_gaps(v, v_start, v_stop)

    def gap_left(i):
        return ((tree["first"][i] - v_start) + o_left) / unit

    def gap_right(i):
        return ((v_stop - tree["last"][i]) + o_right) / unit

    left = segment_tree.range_moments(tree, n, start, r + 1, gap_left, True, alpha)
    right = segment_tree.range_moments(tree, n, r + 1, stop + 1, gap_right, False, alpha)
    return {k: left[k] + right[k] for k in left}


def _edge_gaps(v: jax.Array, v_start: jax.Array, v_stop: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``e`` at the window's two ends: ``d_max`` minus the distance of that end (>= 0)."""
    reach_left, reach_right = v - v_start, v_stop - v
    d_max = jnp.maximum(reach_left, reach_right)
    return d_max - reach_left, d_max - reach_right


def windows(v: jax.Array, softness: jax.Array, alpha: int) -> tuple[jax.Array, jax.Array]:
    """Support ``[L_r, R_r]`` of every row for ``y = t^alpha``, ascending ``v``; int32.

    Pass detached ``v`` and ``softness``: this is index computation only.
    """
    n = v.shape[-1]
    r = jnp.arange(n, dtype=jnp.int32)
    # The anchor's own term is (rho / s)^alpha <= 1, so the support lies within
    # distance s of the anchor: at most `reach` positions (counted with a
    # margin for the rounding of v +- s). The searches then take log2(reach)
    # steps, not log2(n).
    margin = softness * 1.001 + 4 * jnp.spacing(jnp.max(jnp.abs(v)))
    reach = jnp.searchsorted(v, v + margin, side="right") - jnp.searchsorted(v, v - margin, side="left")
    reach = jnp.clip(reach, 1, n).astype(jnp.int32)
    steps = 33 - jax.lax.clz(jnp.max(reach))  # bit_length(max reach) + 1

    def window_start(k: jax.Array) -> jax.Array:
        # The k positions closest to v_r: slide right while the left end is
        # farther than the entry just past the right end.
        lo = jnp.maximum(0, r - k + 1)
        hi = jnp.maximum(lo, jnp.minimum(r, n - k))
        # As many halvings as the widest bracket needs: late in the search on k,
        # the brackets are near the support's size, not the reach.
        halvings = 33 - jax.lax.clz(jnp.max(hi - lo))
        return segment_tree.bisect(
            lo, hi, lambda start: v - v[start] > v[jnp.minimum(start + k, n - 1)] - v, halvings, v
        )

    table = range_table.build(v, alpha, unit=softness, cap=_CAP)

    def test(start: jax.Array, k: jax.Array) -> jax.Array:
        return _window_power_sum(table, v, start, start + k - 1, alpha) < 1

    def in_support(k: jax.Array) -> jax.Array:
        return test(window_start(k), k)

    # Largest k in [1, reach] in the support (k = 1 always is): the first k that is not, minus one.
    first, past = jnp.ones_like(r), reach + 1
    k = segment_tree.bisect(first, past, lambda k: in_support(jnp.minimum(k, reach)), steps, v) - 1
    # test(k) holds for the k found (the bisection only moves past tested k).
    k = jnp.maximum(k, 1)
    start = window_start(k)
    return start, start + k - 1


def _delta(e: dict[str, jax.Array], alpha: int) -> jax.Array:
    """``δ >= 0`` with ``Σ_W (δ + e_j)^alpha = 1`` (``e`` and ``δ`` in units of the softness)."""
    k = e["e0"]
    # > 0: the window is the support (the search tested this sum on the table); the floor
    # guards the tree's different rounding of it, where the farthest term's weight is 0 anyway.
    rest = jnp.maximum(1.0 - e[f"e{alpha}"], 0.0)
    if alpha == 1:
        return rest / k
    if alpha == 2:
        # Root of k δ² + 2 E1 δ - rest = 0 without cancellation.
        return rest / (e["e1"] + jnp.sqrt(e["e1"] ** 2 + k * rest))

    # alpha = 3: k δ³ + 3 E1 δ² + 3 E2 δ = rest, increasing and convex in δ >= 0.
    # Each term alone bounds δ from above, the smallest bound is within 3x of the
    # root, and Newton from above converges monotonically (detached); two final
    # steps carry the derivatives (the implicit ones, to second order).
    def f(d, e1, e2, rest):
        return ((k * d + 3.0 * e1) * d + 3.0 * e2) * d - rest, (3.0 * k * d + 6.0 * e1) * d + 3.0 * e2

    e1, e2 = e["e1"], e["e2"]
    e1_, e2_, rest_ = (jax.lax.stop_gradient(a) for a in (e1, e2, rest))
    pos = jnp.maximum(rest_, 0.0)
    inf = jnp.asarray(jnp.inf, pos.dtype)
    d = jnp.cbrt(pos / k)
    d = jnp.minimum(d, jnp.where(e1_ > 0, jnp.sqrt(pos / (3.0 * jnp.where(e1_ > 0, e1_, 1.0))), inf))
    d = jnp.minimum(d, jnp.where(e2_ > 0, pos / (3.0 * jnp.where(e2_ > 0, e2_, 1.0)), inf))

    def newton(_, d):
        value, slope = f(d, e1_, e2_, rest_)
        return jnp.maximum(d - value / jnp.where(slope > 0, slope, 1.0), 0.0)

    d = jax.lax.fori_loop(0, 12, newton, d)
    for _ in range(2):
        value, slope = f(d, e1, e2, rest)
        d = d - value / jnp.where(slope > 0, slope, 1.0)
    return d


def contract(
    v: jax.Array, softness: jax.Array, u: jax.Array, left: jax.Array, right: jax.Array, alpha: int
) -> jax.Array:
    """``Σ_j y_rj u_j`` for every row ``r`` on its support window ``[L_r, R_r]``.

    Differentiable in ``v``, ``softness`` and ``u`` (the windows are data).
    """
    tree = segment_tree.build(v, u, alpha, unit=softness, cap=_CAP)
    e = _window_moments(tree, v, left, right, alpha, softness)
    delta = _delta(e, alpha)
    return segment_tree.shifted([e[f"eu{q}"] for q in range(alpha + 1)], delta, alpha)
