r"""Power sums over ranges of a sorted row, without cancellation.

A sum over positions ``[lo, hi)`` of a sorted row taken as a difference of
prefix sums cancels: in float32 a range of a few entries of spread
$10^{-4}$ keeps no digit of $\sum (v_j - v_{lo})$ once the prefix holds
thousands of entries, and the transpose in reverse mode cancels the same way.
Here the row is cut into aligned segments (``2**l`` positions at level ``l``)
and each segment stores the power sums of its entries relative to its own
first value, $\sum (v - v_{first})^p$, and to its own last value,
$\sum (v_{last} - v)^p$: sums of non-negative terms. A range is at most
``2 log n`` segments; moving a segment's sums to a common origin
is a binomial expansion with one non-negative shift, so every moment is a sum
of terms of one sign (of ``u``'s sign with a weight ``u``), forward, JVP and
VJP alike.

Offsets may be measured in a ``unit`` (``(v - v_{first}) / unit``, the
difference taken first so it keeps its digits) and capped at ``cap``: a range
query that only ever uses segments spanning at most ``cap`` units then never
meets a power of a large offset, and the high powers of the segments it does
not use cannot overflow.

The origins are detached constants, so derivatives follow by ordinary autodiff.
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb

import jax
import jax.numpy as jnp

from softjax._src.kernels.vma import vary_like

Tree = dict[str, jax.Array]


def shifted(moments: list[jax.Array], shift: jax.Array, p: int) -> jax.Array:
    """``Σ (shift + x)^p`` from ``moments[q] = Σ x^q``, ``q <= p`` (terms of one sign for ``shift >= 0``)."""
    total = moments[p]
    for q in range(p):
        total = total + comb(p, q) * shift ** (p - q) * moments[q]
    return total


def levels(n: int) -> int:
    """Number of levels of the tree over ``n`` positions (level 0 holds single positions)."""
    return (n - 1).bit_length() + 1


def build(
    v: jax.Array,
    u: jax.Array | None,
    degree: int,
    unit: jax.Array | float = 1.0,
    cap: float | None = None,
) -> Tree:
    """Aligned segments of ascending 1-D ``v``, all levels in one flat array per field.

    Level ``l`` (``2**l`` positions per segment, ``size >> l`` segments, ``size``
    the power of two ``>= n``) starts at ``2 size - 2 (size >> l)``. Fields:
    ``first``/``last`` (detached, in the units of ``v``),
    ``f{p} = Σ ((v - first) / unit)^p``, ``l{p} = Σ ((last - v) / unit)^p``
    and, with ``u``, ``fu{p}``/``lu{p}`` (times ``u``), ``p <= degree``.
    With ``cap``, every offset is taken as at most ``cap``: exact for any
    segment whose spread is at most ``cap`` units. Positions past ``n``
    repeat the last value (with ``u = 0``); no range query reaches them.
    """
    n = v.shape[-1]
    size = 1 << (n - 1).bit_length()
    v = jnp.concatenate([v, jnp.repeat(v[-1:], size - n)])
    origin = jax.lax.stop_gradient(v)

    def offset(d):
        d = d / unit
        return d if cap is None else jnp.minimum(d, cap)

    ones = jnp.ones_like(v)
    level = {"first": origin, "last": origin, "f0": ones, "l0": ones}
    for p in range(1, degree + 1):
        level[f"f{p}"] = offset(v - origin) ** p  # 0, carrying the derivative
        level[f"l{p}"] = offset(origin - v) ** p
    prefixes: tuple[str, ...] = ("",)
    if u is not None:
        u = jnp.concatenate([u, jnp.zeros((size - n,), u.dtype)])
        prefixes = ("", "u")
        for p in range(degree + 1):
            level[f"fu{p}"] = level[f"f{p}"] * u
            level[f"lu{p}"] = level[f"l{p}"] * u
    all_levels = [level]
    while level["first"].shape[-1] > 1:
        a = {k: x[0::2] for k, x in level.items()}
        b = {k: x[1::2] for k, x in level.items()}
        shift_first = offset(b["first"] - a["first"])  # >= 0, detached
        shift_last = offset(b["last"] - a["last"])
        level = {"first": a["first"], "last": b["last"]}
        for p in range(degree + 1):
            for prefix in prefixes:
                fs = [b[f"f{prefix}{q}"] for q in range(p + 1)]
                ls = [a[f"l{prefix}{q}"] for q in range(p + 1)]
                level[f"f{prefix}{p}"] = a[f"f{prefix}{p}"] + shifted(fs, shift_first, p)
                level[f"l{prefix}{p}"] = b[f"l{prefix}{p}"] + shifted(ls, shift_last, p)
        all_levels.append(level)
    return {k: jnp.concatenate([lv[k] for lv in all_levels]) for k in all_levels[0]}


def range_moments(
    tree: Tree,
    n: int,
    lo: jax.Array,
    hi: jax.Array,
    gap: Callable[[jax.Array], jax.Array],
    from_first: bool,
    degree: int,
    max_levels: int | jax.Array | None = None,
) -> Tree:
    """``e{p} = Σ e^p`` (and ``eu{p} = Σ e^p u``) over positions ``[lo, hi)``.

    ``e = gap(index) + local`` on the segment at flat ``index``, where
    ``local`` is the segment's offset from its first (``from_first``) or last
    position and ``gap`` the (non-negative) ``e`` there, in the tree's unit.
    One level per step of a loop whose body is rematerialised in the backward
    pass, so memory stays O(n). A range of at most ``m`` positions needs only
    ``m.bit_length() + 1`` levels: ``max_levels`` (possibly traced, then not
    reverse-differentiable) stops the loop there.
    """
    size = 1 << (n - 1).bit_length()
    with_u = "fu0" in tree
    side = "f" if from_first else "l"
    prefixes = ("", "u") if with_u else ("",)
    names = [f"e{prefix}{p}" for prefix in prefixes for p in range(degree + 1)]
    dtype = tree["f0"].dtype

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
                local = [tree[f"{side}{prefix}{q}"][index] for q in range(degree + 1)]
                for p in range(degree + 1):
                    name = f"e{prefix}{p}"
                    out[name] = out[name] + jnp.where(take, shifted(local, g, p), 0.0)
        return lo // 2, hi // 2, out

    out = {k: jnp.zeros(lo.shape, dtype) for k in names}
    # Inside shard_map every carry must vary like the data (lo or hi may be
    # built from constants such as arange(n)).
    init = vary_like((lo, hi, out), lo, hi, *tree.values())
    steps = levels(n) if max_levels is None else jnp.minimum(max_levels, levels(n))
    return jax.lax.fori_loop(0, steps, level_step, init)[2]


def bisect(lo: jax.Array, hi: jax.Array, go_right, steps: int | jax.Array, like: jax.Array) -> jax.Array:
    """Smallest ``i`` in ``[lo, hi]`` with ``not go_right(i)`` (``hi`` if none), ``go_right`` monotone.

    ``steps`` of halving (``(hi - lo).bit_length() + 1`` suffice); a traced
    ``steps`` makes the loop a while loop (not reverse-differentiable).

    The bounds are made to vary like ``like`` (inside shard_map the loop
    carry must vary like the data ``go_right`` reads).
    """

    def body(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) // 2
        right = (lo < hi) & go_right(jnp.maximum(jnp.minimum(mid, hi - 1), lo))
        return jnp.where(right, mid + 1, lo), jnp.where(right | (lo >= hi), hi, mid)

    return jax.lax.fori_loop(0, steps, body, vary_like((lo, hi), like))[0]


__all__ = ["Tree", "bisect", "build", "levels", "range_moments", "shifted"]
