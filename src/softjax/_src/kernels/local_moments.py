r"""Moments of a range of a sorted row about a nearby origin, in O(1), without far-away cancellation.

A sequential search (the ``c1`` merge of :mod:`softjax._src.kernels.isotonic`)
asks, many times per row, for $\sum_{j \in [a, b]} (v_j - o)^p$, $p = 0, 1, 2$,
over a range of the ascending row $v$ and an origin $o$ near it. Taken as a
difference of prefix sums over the row, the answer carries the rounding of
the whole prefix: in float32, for a row of spread 600 and 1024 entries,
$\epsilon \sum_{j \le b} v_j^2 \approx 20$, more than the block equation it
feeds is worth. Here every sum stays local.

For every level $k$ the row is cut into aligned blocks of $2^{k+1}$ positions
(a "disjoint sparse table"). Position $i$ in the left half of its block keeps
the power sums of $[i, m - 1]$ about $v_{m-1}$ (its half's last value), and
in the right half those of $[m, i]$ about $v_m$, where $m$ is the block's
middle: cumulative sums of non-negative terms along each half, built with
one reshape and one ``cumsum`` per level and power. Each position's entry
sits next to its half's origin value, so a query reads two contiguous cells:
$(p + 1)\, n \log_2 n$ values per row for degree $p$.
A range $[a, b]$ with $a < b$ splits at the middle $m$ of the smallest
aligned block holding both (level $k = \mathrm{bitlength}(a \oplus b) - 1$),
and each part is moved to the origin by one binomial shift of size at most
$|o - v_{m-1}|$ or $|o - v_m|$. With the origin inside the range or next to
it, the error is about $\epsilon\,(b - a + 1)\,(\text{span}^2)$: relative to
the range's own spread, whatever the rest of the row holds.

Values only (the tables are built on ``stop_gradient`` data): a search tool.
"""

from __future__ import annotations

from math import comb
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class Table(NamedTuple):
    """Per-level half-block sums of rows padded to ``size = 2**levels`` entries.

    ``cells``: flat ``(rows * levels * size * (degree + 1),)``. The cell of
    position ``i`` at level ``k`` of row ``r`` starts at
    ``((r * levels + k) * size + i) * (degree + 1)`` and holds the half's
    origin ($v_{m-1}$ or $v_m$) followed by the power sums ``1..degree`` of
    the offsets from it: one contiguous read per part of a query.
    """

    cells: jax.Array
    levels: int
    size: int
    degree: int


def build(v: jax.Array, degree: int) -> Table:
    """The table of ascending rows ``v`` of shape ``(rows, n)`` (detached), ``O(n log n)``."""
    v = lax.stop_gradient(v)
    rows, n = v.shape
    levels = max((n - 1).bit_length(), 1)
    size = 1 << levels
    padded = jnp.concatenate([v, jnp.broadcast_to(v[:, -1:], (rows, size - n))], axis=1)
    per_level = []
    for k in range(levels):
        half = 1 << k
        blocks = padded.reshape(rows, size // (2 * half), 2, half)
        origin_left = jnp.broadcast_to(blocks[:, :, 0, -1:], blocks[:, :, 0, :].shape)
        origin_right = jnp.broadcast_to(blocks[:, :, 1, :1], blocks[:, :, 1, :].shape)
        left = origin_left - blocks[:, :, 0, :]  # v_{m-1} - v_j >= 0
        right = blocks[:, :, 1, :] - origin_right  # v_j - v_m >= 0
        fields_left, fields_right = [origin_left], [origin_right]
        for p in range(1, degree + 1):
            fields_left.append(jnp.flip(jnp.cumsum(jnp.flip(left**p, -1), axis=-1), -1))
            fields_right.append(jnp.cumsum(right**p, axis=-1))
        cell = jnp.stack([jnp.stack(fields_left, -1), jnp.stack(fields_right, -1)], axis=2)
        per_level.append(cell.reshape(rows, size, degree + 1))
    return Table(jnp.stack(per_level, axis=1).ravel(), levels, size, degree)


def moments(table: Table, row: jax.Array, a: jax.Array, b: jax.Array, origin: jax.Array) -> list[jax.Array]:
    r"""``[count, Σ (v_j - origin), Σ (v_j - origin)^2, ...]`` over ``j in [a, b]`` of row ``row``.

    Scalar integer ``row``, ``a`` and ``b`` (``0 <= a, b < n``); an empty
    range (``a > b``) gives zeros. Accurate relative to the range's spread
    when ``origin`` lies in or next to ``[v_a, v_b]``.
    """
    size, levels, degree = table.size, table.levels, table.degree
    width = degree + 1
    dtype = table.cells.dtype
    last = size - 1
    a_, b_ = jnp.clip(a, 0, last), jnp.clip(b, 0, last)
    # Level: bitlength(a xor b) - 1. A single position (a = b) is level 0's
    # right part: one entry, its own origin.
    k = jnp.clip(31 - lax.clz(a_ ^ b_), 0, levels - 1)
    mid = jnp.right_shift(b_, k) << k
    base = (row * levels + k) * size

    def cell(i):
        return lax.dynamic_slice_in_dim(table.cells, (base + i) * width, width)

    left, right = cell(a_), cell(b_)
    d_left, d_right = left[0] - origin, right[0] - origin  # v_j - o = d_left - e_j, d_right + f_j
    n_left, n_right = (mid - a_).astype(dtype), (b_ - mid + 1).astype(dtype)
    left_m = [n_left] + [left[p] for p in range(1, width)]
    right_m = [n_right] + [right[p] for p in range(1, width)]
    out = [n_left + n_right]
    for p in range(1, degree + 1):
        # sum (d - e)^p and sum (d + f)^p by the binomial theorem.
        total = jnp.zeros((), dtype)
        for q in range(p + 1):
            total = total + comb(p, q) * (
                d_left ** (p - q) * (-1) ** q * left_m[q] + d_right ** (p - q) * right_m[q]
            )
        out.append(total)
    return [jnp.where(a > b, jnp.zeros((), dtype), m) for m in out]


__all__ = ["Table", "build", "moments"]
