"""``shard_map`` support: mark kernel constants as varying like the data (``check_vma``).

Inside ``jax.shard_map`` (default ``check_vma=True``) every value carries the set
of manual mesh axes it varies over, and a loop carry must keep its set: a carry
seeded from a constant (zeros, an index, a one-hot) but updated from per-shard
data fails to trace. Kernels seed such carries with :func:`vary_like`. Outside
``shard_map`` it returns its argument unchanged.
"""

from __future__ import annotations

import jax
from jax import lax


def _varying(x) -> frozenset:
    aval = jax.typeof(x)
    mat = getattr(aval, "mat", None)  # jax >= 0.10
    return frozenset(mat.varying if mat is not None else getattr(aval, "vma", ()))


def vary_like(tree, *refs: jax.Array):
    """Every leaf of ``tree`` marked as varying over the manual axes any of ``refs`` varies over."""
    varying = frozenset().union(*(_varying(r) for r in refs))

    def cast(a):
        axes = tuple(sorted(varying - _varying(a)))
        return lax.pcast(a, axes, to="varying") if axes else a

    return jax.tree.map(cast, tree)


__all__ = ["vary_like"]
