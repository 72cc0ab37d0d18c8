r"""Power sums over any range of a sorted row in two lookups (a disjoint sparse table).

:mod:`softjax._src.kernels.segment_tree` answers a range query by walking
up to ``2 log n`` aligned segments; a search that asks many queries per row
pays that walk every time. Here the walk is done once per position: for
every position ``i`` and level ``k``,

* ``E_k[i]`` holds the power sums of ``[i, end of the aligned 2^k block
  holding i]``;
* ``B_k[i]`` those of ``[start of that block, i]``;

each in two orientations: offsets from the range's first value
($\sum (v_j - v_{first})^p$) and from its last ($\sum (v_{last} - v_j)^p$).
A range ``[a, b]`` with ``a < b`` splits at the middle ``m`` of the smallest
aligned block holding both (``k = bitlength(a xor b) - 1``): ``[a, m - 1]``
is ``E_k[a]`` and ``[m, b]`` is ``B_k[b]`` (a "disjoint sparse table").
As in the segment
tree every sum is of non-negative terms and every change of origin a
binomial expansion with a non-negative shift, so nothing cancels.

``E_k`` follows from ``E_{k-1}`` and one segment-tree node (the right half
of the ``2^k`` block, where ``i`` lies in its left half), ``B_k`` likewise:
building costs ``O(n log n)`` time and memory, ``2 p log n`` vectors of
length ``n`` for degree ``p`` (a query reads ``E_k`` only left of a
block's middle and ``B_k`` only right of it, so the two share one array).
It is meant for detached searches: values only, nothing kept for a
backward pass.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from softjax._src.kernels import segment_tree


class Table(NamedTuple):
    """Flat ``(levels * size,)`` arrays, level ``k`` at ``[k size, (k + 1) size)``.

    ``fields["f{p}"]``/``fields["l{p}"]``, ``p = 1..degree``: from the first /
    from the last value, ``E_k[i]`` where ``i`` is in the left half of its
    ``2^(k+1)`` block (the only place a query reads it) and ``B_k[i]`` in the
    right half. Level 0 holds single positions. ``v`` is the row padded to
    ``size`` entries (the last value repeated); offsets are in units of
    ``unit``.
    """

    v: jax.Array
    fields: dict[str, jax.Array]
    unit: jax.Array | float


def build(v: jax.Array, degree: int, unit: jax.Array | float = 1.0, cap: float | None = None) -> Table:
    """The table of ascending 1-D ``v``, offsets in units of ``unit`` capped at ``cap`` (values only).

    With ``cap``, a range's sums are exact where it spans at most ``cap``
    units, and every capped term is at least ``min(term, cap)``.

    Level ``k`` works on blocks of ``2^k`` positions, each seen as two halves
    (a ``(blocks, 2, 2^(k-1))`` view): ``E`` grows in the left halves by the
    right half's tree node, ``B`` in the right halves by the left's. Every
    operand is a static view or a broadcast of the tree's level ``k - 1``,
    so the build is whole-array arithmetic (no gathers).
    """
    v, unit = jax.lax.stop_gradient((v, unit))
    n = v.shape[-1]
    size = 1 << (n - 1).bit_length()
    tree = segment_tree.build(v, None, degree, unit=unit, cap=cap)
    padded = tree["first"][:size]
    dtype = padded.dtype
    powers = range(1, degree + 1)

    def offset(d: jax.Array) -> jax.Array:
        d = d / unit
        return d if cap is None else jnp.minimum(d, cap)

    def moments(source: dict[str, jax.Array], side: str, p: int, count: jax.Array) -> list[jax.Array]:
        # [e^0, ..., e^p] of one range, for `shifted`.
        return [count] + [source[f"{side}{q}"] for q in range(1, p + 1)]

    zeros = jnp.zeros_like(padded)  # single positions: offset 0 from themselves
    current = {f"{kind}{side}{p}": zeros for kind in "eb" for side in "fl" for p in powers}
    levels = {f"{side}{p}": [zeros] for side in "fl" for p in powers}
    for k in range(1, (size - 1).bit_length()):
        half, blocks = 1 << (k - 1), size >> k
        nodes = _halves(tree, size, k - 1)
        (first0, first1), (last0, last1) = nodes["first"], nodes["last"]
        node0 = {key: pair[0] for key, pair in nodes.items()}
        node1 = {key: pair[1] for key, pair in nodes.items()}
        halves = {key: value.reshape(blocks, 2, half) for key, value in current.items()}
        e_own = {key[1:]: value[:, 0] for key, value in halves.items() if key[0] == "e"}
        b_own = {key[1:]: value[:, 1] for key, value in halves.items() if key[0] == "b"}
        v_left, v_right = (padded.reshape(blocks, 2, half)[:, side] for side in (0, 1))
        position = jnp.arange(half, dtype=dtype)
        e_count, b_count = half - position, position + 1
        grown = {}
        for p in powers:
            # E_k = E_{k-1} + the right node (left half): from v_i the node moves by
            # first1 - v_i; from the new last value E_{k-1} moves by last1 - last0.
            node = moments(node1, "f", p, node1["f0"])
            grown[f"ef{p}"] = e_own[f"f{p}"] + segment_tree.shifted(node, offset(first1 - v_left), p)
            own = moments(e_own, "l", p, e_count)
            grown[f"el{p}"] = segment_tree.shifted(own, offset(last1 - last0), p) + node1[f"l{p}"]
            # B_k = the left node + B_{k-1} (right half), likewise.
            own = moments(b_own, "f", p, b_count)
            grown[f"bf{p}"] = node0[f"f{p}"] + segment_tree.shifted(own, offset(first1 - first0), p)
            node = moments(node0, "l", p, node0["l0"])
            grown[f"bl{p}"] = b_own[f"l{p}"] + segment_tree.shifted(node, offset(v_right - last0), p)
        for key, value in halves.items():
            left, right = (grown[key], value[:, 1]) if key[0] == "e" else (value[:, 0], grown[key])
            current[key] = jnp.stack([left, right], axis=1).reshape(size)
        # Level k is read as E_k left of a 2^(k+1) block's middle and B_k right of it.
        for key, stored in levels.items():
            stored.append(_interleave(current[f"e{key}"], current[f"b{key}"], half << 1, size))
    return Table(padded, {key: jnp.concatenate(stored) for key, stored in levels.items()}, unit)


def _halves(tree: segment_tree.Tree, size: int, level: int) -> dict[str, tuple[jax.Array, jax.Array]]:
    """The tree's level-``level`` nodes as (left, right) halves of each ``2^(level+1)`` block.

    Each is ``(blocks, 1)``, to broadcast over the positions of a half.
    """
    count = size >> level
    start = 2 * size - 2 * count
    return {
        key: (pairs[:, :1], pairs[:, 1:])
        for key, field in tree.items()
        for pairs in [field[start : start + count].reshape(count // 2, 2)]
    }


def _interleave(e: jax.Array, b: jax.Array, block: int, size: int) -> jax.Array:
    """``e`` in the left half of every ``2 block`` positions, ``b`` in the right half."""
    pairs = size // (2 * block)
    left, right = e.reshape(pairs, 2, block)[:, 0], b.reshape(pairs, 2, block)[:, 1]
    return jnp.stack([left, right], axis=1).reshape(size)


def range_sums(
    table: Table, a: jax.Array, b: jax.Array, gap: jax.Array, from_first: bool, degree: int
) -> jax.Array:
    r"""``Σ_{j in [a, b]} e_j^degree`` with ``e_j`` in the table's unit.

    ``e_j = (v_j - v_a) / unit + gap`` (``from_first``) or
    ``(v_b - v_j) / unit + gap``, ``gap >= 0`` (then every ``e_j >= 0``); an
    empty range (``a > b``) sums to 0. ``a``, ``b`` and ``gap`` arrays of one
    shape, ``0 <= a, b < n``.
    The shifts are formed as the segment tree forms them
    (:func:`softjax._src.kernels.segment_tree.range_moments`).
    """
    v, fields, unit = table.v, table.fields, table.unit
    size = v.shape[-1]
    dtype = v.dtype
    last = size - 1
    k = jnp.maximum(31 - jax.lax.clz(a ^ b), 0)  # bitlength(a xor b) - 1
    mid = jnp.right_shift(b, k) << k  # first position of b's half (a < b)
    a_, b_, mid_ = (jnp.clip(t, 0, last) for t in (a, b, mid))
    kind = "f" if from_first else "l"
    stored = [fields[f"{kind}{p}"] for p in range(1, degree + 1)]
    left = [(mid - a).astype(dtype)] + [t[k * size + a_] for t in stored]
    right = [(b - mid + 1).astype(dtype)] + [t[k * size + b_] for t in stored]
    if from_first:
        shift_left, shift_right = gap, (v[mid_] - v[a_]) / unit + gap
    else:
        shift_left, shift_right = (v[b_] - v[jnp.clip(mid - 1, 0, last)]) / unit + gap, gap
    total = segment_tree.shifted(left, shift_left, degree) + segment_tree.shifted(right, shift_right, degree)
    total = jnp.where(a == b, gap**degree, total)
    return jnp.where(a > b, jnp.zeros((), dtype), total)


__all__ = ["Table", "build", "range_sums"]
