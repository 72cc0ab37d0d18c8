"""Sharding of row-parallel ``custom_partitioning`` kernels (rows sharded, elements whole)."""

from __future__ import annotations

from jax.sharding import NamedSharding, PartitionSpec as P


def row_sharding(mesh, arg_shapes) -> NamedSharding:
    """``P(rows, None)``: the row axis keeps the operands' sharding (the first
    operand that shards it), the element axis is replicated."""
    specs = [getattr(a.sharding, "spec", None) for a in arg_shapes]
    rows = next((spec[0] for spec in specs if spec and spec[0] is not None), None)
    return NamedSharding(mesh, P(rows, None))


__all__ = ["row_sharding"]
