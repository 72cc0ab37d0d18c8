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
and for each ``k`` one on ``L`` (the ``k`` closest positions). On the
support window $\rho = d_{max} + \delta$ with
$\sum_W (\delta + e_j)^\alpha = s^\alpha$, $e_j = d_{max} - d_j \ge 0$, and
$\sum_j y_j u_j = \sum_q \binom{\alpha}{q} \delta^{\alpha-q} \sum_W e_j^q u_j / s^\alpha$:
only window moments of $e$ are needed. O(n log² n) time; memory O(n) plus
a few ``n`` per level of the tree (value and gradient at n = 16384, float32:
137 ``n``-vectors for ``c0``, 205 for ``c2``; the dense rows take 800-1300).
The moments are in the units of ``v``, so $s^\alpha$ must be a normal number
of the working dtype (``s > 1e-12`` for ``c2`` in float32).

Window moments come from a segment tree over sorted positions, not from
prefix sums: a difference of prefix sums of a long row cancels (in float32 a
window of a few entries of spread $10^{-4}$ keeps no digit of
$\sum_W d_j$), and so does its transpose in reverse mode. Each aligned
segment stores its power sums relative to its own first and last value
(non-negative), and a window is at most ``2 log n`` segments, each shifted by
one non-negative offset (binomial expansion): every moment is a sum of terms
of one sign (of ``u``'s sign with ``u``), forward, JVP and VJP alike. Left of
the anchor $e_j = (v_j - v_L) + o_L$, right of it $(v_R - v_j) + o_R$, with
$o = d_{max} - $ (the distance of that end) $\ge 0$. The origins are
detached constants, so derivatives follow by ordinary autodiff (the window
search is integer work on detached values).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from softjax._src.kernels.vma import vary_like

Tree = dict[str, jax.Array]

_BINOMIAL = ((1,), (1, 1), (1, 2, 1), (1, 3, 3, 1))


def _shifted(moments: list[jax.Array], shift: jax.Array, p: int) -> jax.Array:
    """``Σ (shift + x)^p`` from ``moments[q] = Σ x^q``, ``q <= p`` (terms of one sign for ``shift >= 0``)."""
    total = moments[p]
    for q in range(p):
        total = total + _BINOMIAL[p][q] * shift ** (p - q) * moments[q]
    return total


def _levels(n: int) -> int:
    return (n - 1).bit_length() + 1


def _tree(v: jax.Array, u: jax.Array | None, alpha: int) -> Tree:
    """Aligned segments of ascending ``v``, all levels in one flat array per field.

    Level ``l`` (``2**l`` positions per segment, ``size >> l`` segments, ``size``
    the power of two ``>= n``) starts at ``2 size - 2 (size >> l)``. Fields:
    ``first``/``last`` (detached), ``f{p} = Σ (v - first)^p``,
    ``l{p} = Σ (last - v)^p`` and, with ``u``, ``fu{p}``/``lu{p}`` (times ``u``),
    ``p <= alpha``. Positions past ``n`` repeat the last value (with ``u = 0``);
    no window query reaches them.
    """
    n = v.shape[-1]
    size = 1 << (n - 1).bit_length()
    v = jnp.concatenate([v, jnp.repeat(v[-1:], size - n)])
    origin = jax.lax.stop_gradient(v)
    ones = jnp.ones_like(v)
    level = {"first": origin, "last": origin, "f0": ones, "l0": ones}
    for p in range(1, alpha + 1):
        level[f"f{p}"] = (v - origin) ** p  # 0, carrying the derivative
        level[f"l{p}"] = (origin - v) ** p
    prefixes: tuple[str, ...] = ("",)
    if u is not None:
        u = jnp.concatenate([u, jnp.zeros((size - n,), u.dtype)])
        prefixes = ("", "u")
        for p in range(alpha + 1):
            level[f"fu{p}"] = level[f"f{p}"] * u
            level[f"lu{p}"] = level[f"l{p}"] * u
    levels = [level]
    while level["first"].shape[-1] > 1:
        a = {k: x[0::2] for k, x in level.items()}
        b = {k: x[1::2] for k, x in level.items()}
        shift_first = b["first"] - a["first"]  # >= 0, detached
        shift_last = b["last"] - a["last"]
        level = {"first": a["first"], "last": b["last"]}
        for p in range(alpha + 1):
            for prefix in prefixes:
                fs = [b[f"f{prefix}{q}"] for q in range(p + 1)]
                ls = [a[f"l{prefix}{q}"] for q in range(p + 1)]
                level[f"f{prefix}{p}"] = a[f"f{prefix}{p}"] + _shifted(fs, shift_first, p)
                level[f"l{prefix}{p}"] = b[f"l{prefix}{p}"] + _shifted(ls, shift_last, p)
        levels.append(level)
    return {k: jnp.concatenate([lv[k] for lv in levels]) for k in levels[0]}


def _moments(tree: Tree, n: int, lo: jax.Array, hi: jax.Array, gap, from_first: bool, alpha: int) -> Tree:
    """``e{p} = Σ e^p`` (and ``eu{p} = Σ e^p u``) over positions ``[lo, hi)``.

    ``e = gap(index) + local`` on the segment at flat ``index``: ``gap`` is the
    (non-negative) ``e`` at its first (``from_first``) or last position.
    One level per step of a loop whose body is rematerialised in the backward
    pass, so memory stays O(n).
    """
    size = 1 << (n - 1).bit_length()
    with_u = "fu0" in tree
    side = "f" if from_first else "l"
    prefixes = ("", "u") if with_u else ("",)
    names = [f"e{prefix}{p}" for prefix in prefixes for p in range(alpha + 1)]
    dtype = tree["first"].dtype

    @jax.checkpoint
    def level_step(level, carry):
        lo, hi, out = carry
        offset = 2 * size - 2 * jnp.right_shift(size, level)
        for take_lo in (True, False):
            if take_lo:
                take = (lo < hi) & (lo % 2 == 1)
                node = lo
                lo = jnp.where(take, lo + 1, lo)
            else:
                take = (lo < hi) & (hi % 2 == 1)
                hi = jnp.where(take, hi - 1, hi)
                node = hi
            index = offset + jnp.clip(node, 0, jnp.right_shift(size, level) - 1)
            g = jnp.where(take, gap(index), 0.0)
            out = dict(out)
            for prefix in prefixes:
                local = [tree[f"{side}{prefix}{q}"][index] for q in range(alpha + 1)]
                for p in range(alpha + 1):
                    name = f"e{prefix}{p}"
                    out[name] = out[name] + jnp.where(take, _shifted(local, g, p), 0.0)
        return lo // 2, hi // 2, out

    out = {k: jnp.zeros(lo.shape, dtype) for k in names}
    # Inside shard_map every carry must vary like the data (lo or hi may be
    # built from constants such as arange(n)).
    init = vary_like((lo, hi, out), lo, hi, *tree.values())
    return jax.lax.fori_loop(0, _levels(n), level_step, init)[2]


def _window_moments(tree: Tree, v: jax.Array, start: jax.Array, stop: jax.Array, alpha: int) -> Tree:
    """Moments of ``e = d_max - d`` over the window ``[start, stop]`` around each anchor."""
    n = v.shape[-1]
    r = jnp.arange(n, dtype=jnp.int32)
    v_start, v_stop = v[start], v[stop]
    reach_left, reach_right = v - v_start, v_stop - v
    d_max = jnp.maximum(reach_left, reach_right)
    o_left, o_right = d_max - reach_left, d_max - reach_right
    left = _moments(tree, n, start, r + 1, lambda i: (tree["first"][i] - v_start) + o_left, True, alpha)
    right = _moments(tree, n, r + 1, stop + 1, lambda i: (v_stop - tree["last"][i]) + o_right, False, alpha)
    return {k: left[k] + right[k] for k in left}


def _bisect(lo: jax.Array, hi: jax.Array, go_right, steps: int, like: jax.Array) -> jax.Array:
    """Smallest ``i`` in ``[lo, hi]`` with ``not go_right(i)`` (``hi`` if none), ``go_right`` monotone.

    The bounds are made to vary like ``like`` (inside shard_map the loop
    carry must vary like the data ``go_right`` reads).
    """

    def body(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) // 2
        right = (lo < hi) & go_right(jnp.maximum(jnp.minimum(mid, hi - 1), lo))
        return jnp.where(right, mid + 1, lo), jnp.where(right | (lo >= hi), hi, mid)

    return jax.lax.fori_loop(0, steps, body, vary_like((lo, hi), like))[0]


def windows(v: jax.Array, softness: jax.Array, alpha: int) -> tuple[jax.Array, jax.Array]:
    """Support ``[L_r, R_r]`` of every row for ``y = t^alpha``, ascending ``v``; int32.

    Pass detached ``v`` and ``softness``: this is index computation only.
    """
    n = v.shape[-1]
    r = jnp.arange(n, dtype=jnp.int32)
    steps = n.bit_length() + 1
    tree = _tree(v, None, alpha)
    bound = softness**alpha

    def window_start(k: jax.Array) -> jax.Array:
        # The k positions closest to v_r: slide right while the left end is
        # farther than the entry just past the right end.
        lo = jnp.maximum(0, r - k + 1)
        hi = jnp.maximum(lo, jnp.minimum(r, n - k))
        return _bisect(lo, hi, lambda start: v - v[start] > v[jnp.minimum(start + k, n - 1)] - v, steps, v)

    def in_support(k: jax.Array) -> jax.Array:
        start = window_start(k)
        return _window_moments(tree, v, start, start + k - 1, alpha)[f"e{alpha}"] < bound

    # Largest k in [1, n] in the support (k = 1 always is): the first k that is not, minus one.
    # (At least 1 even where s^alpha underflows to 0 and nothing passes the test.)
    first, past = jnp.ones_like(r), jnp.full_like(r, n + 1)
    k = _bisect(first, past, lambda k: in_support(jnp.minimum(k, n)), steps, v) - 1
    k = jnp.maximum(k, 1)
    start = window_start(k)
    return start, start + k - 1


def _delta(e: dict[str, jax.Array], softness: jax.Array, alpha: int) -> jax.Array:
    """``δ >= 0`` with ``Σ_W (δ + e_j)^alpha = s^alpha``."""
    k = e["e0"]
    rest = softness**alpha - e[f"e{alpha}"]  # > 0: the window is the support
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
    e = _window_moments(_tree(v, u, alpha), v, left, right, alpha)
    delta = _delta(e, softness, alpha)
    total = _shifted([e[f"eu{q}"] for q in range(alpha + 1)], delta, alpha)
    return total / softness**alpha
