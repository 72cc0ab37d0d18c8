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

_KINDS = ("ef", "el", "bf", "bl")


class Table(NamedTuple):
    """Flat ``(levels * size,)`` arrays, level ``k`` at ``[k size, (k + 1) size)``.

    ``fields["f{p}"]``/``fields["l{p}"]``, ``p = 1..degree``: from the first /
    from the last value, ``E_k[i]`` where ``i`` is in the left half of its
    ``2^(k+1)`` block (the only place a query reads it) and ``B_k[i]`` in the
    right half. ``v`` is the row padded to ``size`` entries (the last value
    repeated).
    """

    v: jax.Array
    fields: dict[str, jax.Array]


def build(v: jax.Array, degree: int) -> Table:
    """The table of ascending 1-D ``v`` (detached: values only)."""
    v = jax.lax.stop_gradient(v)
    n = v.shape[-1]
    size = 1 << (n - 1).bit_length()
    tree = segment_tree.build(v, None, degree)
    padded = tree["first"][:size]
    dtype = padded.dtype
    i = jnp.arange(size, dtype=jnp.int32)
    zeros = jnp.zeros_like(padded)
    current = {f"{kind}{p}": zeros for kind in _KINDS for p in range(1, degree + 1)}
    depth = max((size - 1).bit_length(), 1)
    fields = {f"{o}{p}": jnp.zeros((depth * size,), dtype) for o in "fl" for p in range(1, degree + 1)}
    _keep(fields, current, 0, i, size)
    e_last, b_first = padded, padded  # E's last value, B's first value
    for k in range(1, (size - 1).bit_length()):
        half = 1 << (k - 1)
        in_left = (i & half) == 0
        # The level-(k-1) node of the other half of i's 2^k block.
        sibling = 2 * size - 2 * (size >> (k - 1)) + (i >> (k - 1)) + jnp.where(in_left, 1, -1)
        first, last = tree["first"][sibling], tree["last"][sibling]
        node_f = [tree[f"f{p}"][sibling] for p in range(degree + 1)]
        node_l = [tree[f"l{p}"][sibling] for p in range(degree + 1)]
        e_count = ((i | (half - 1)) - i + 1).astype(dtype)
        b_count = ((i & (half - 1)) + 1).astype(dtype)
        own_el = [e_count] + [current[f"el{p}"] for p in range(1, degree + 1)]
        own_bf = [b_count] + [current[f"bf{p}"] for p in range(1, degree + 1)]
        grown = {}
        for p in range(1, degree + 1):
            # E_k[i] = E_{k-1}[i] + node (i in the left half): from v_i the node
            # moves by first - v_i; from the new last value E moves by last - e_last.
            grown[f"ef{p}"] = current[f"ef{p}"] + segment_tree.shifted(node_f, first - padded, p)
            grown[f"el{p}"] = segment_tree.shifted(own_el, last - e_last, p) + node_l[p]
            # B_k[i] = node + B_{k-1}[i] (i in the right half), likewise.
            grown[f"bf{p}"] = node_f[p] + segment_tree.shifted(own_bf, b_first - first, p)
            grown[f"bl{p}"] = current[f"bl{p}"] + segment_tree.shifted(node_l, padded - last, p)
        for key, value in current.items():
            grows = in_left if key[0] == "e" else ~in_left
            current[key] = jnp.where(grows, grown[key], value)
        _keep(fields, current, k, i, size)
        e_last = jnp.where(in_left, last, e_last)
        b_first = jnp.where(in_left, b_first, first)
    return Table(padded, fields)


def _keep(fields: dict[str, jax.Array], current: dict[str, jax.Array], k: int, i: jax.Array, size: int):
    """Store level ``k`` in place.

    A query reads ``E_k`` only left of a ``2^(k+1)`` block's middle and
    ``B_k`` only right of it, so one array holds both.
    """
    left_half = (i & (1 << k)) == 0
    for key, stored in fields.items():
        o, p = key[0], key[1:]
        level = jnp.where(left_half, current[f"e{o}{p}"], current[f"b{o}{p}"])
        fields[key] = jax.lax.dynamic_update_slice(stored, level, (k * size,))


def range_sums(
    table: Table, a: jax.Array, b: jax.Array, gap: jax.Array, from_first: bool, degree: int
) -> jax.Array:
    r"""``Σ_{j in [a, b]} e_j^degree``, ``e_j = (v_j - v_a) + gap`` (``from_first``) or ``(v_b - v_j) + gap``.

    ``gap >= 0`` (then every ``e_j >= 0``); an empty range (``a > b``) sums
    to 0. ``a``, ``b`` and ``gap`` arrays of one shape, ``0 <= a, b < n``.
    The shifts are formed as the segment tree forms them
    (:func:`softjax._src.kernels.segment_tree.range_moments`).
    """
    v, fields = table.v, table.fields
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
        shift_left, shift_right = gap, (v[mid_] - v[a_]) + gap
    else:
        shift_left, shift_right = (v[b_] - v[jnp.clip(mid - 1, 0, last)]) + gap, gap
    total = segment_tree.shifted(left, shift_left, degree) + segment_tree.shifted(right, shift_right, degree)
    total = jnp.where(a == b, gap**degree, total)
    return jnp.where(a > b, jnp.zeros((), dtype), total)


__all__ = ["Table", "build", "range_sums"]
