r"""``lax.top_k`` along the last axis that stays batch-sharded under ``jit``.

XLA's SPMD partitioner treats the ``TopK`` operation as a unit: with the batch
axis sharded (``P("data", None)``) it all-gathers the whole batch onto every
device first. :func:`top_k_indices` wraps ``lax.top_k`` in a
``custom_partitioning`` rule that declares it row-parallel (each device runs it
on its own rows, the element axis replicated) and a ``custom_vmap`` rule that
folds a ``vmap`` axis into the rows. :func:`top_k` reads the values with
``take_along_axis`` so its derivative is the ordinary one of a gather (the same
as ``lax.top_k``'s). Ties and NaN order exactly as ``lax.top_k``: the largest
first, equal values by lower index first.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_batching import custom_vmap
from jax.experimental.custom_partitioning import custom_partitioning

from softjax._src.kernels.row_sharding import row_sharding

__all__ = ["top_k", "top_k_indices"]


@functools.cache
def _rows_top_k(k: int):
    """``(rows, n) -> (rows, k)`` int32 indices, partitioned over rows."""

    def lower(x):
        return lax.top_k(x, k)[1]

    @custom_partitioning
    def partitioned(x):
        return lower(x)

    def partition(mesh, arg_shapes, result_shape):
        sharding = row_sharding(mesh, arg_shapes)
        return mesh, lower, sharding, (sharding,)

    def infer(mesh, arg_shapes, result_shape):
        return row_sharding(mesh, arg_shapes)

    partitioned.def_partition(
        partition=partition,
        infer_sharding_from_operands=infer,
        sharding_rule="r n -> r k",
        need_replication_factors=("n", "k"),
    )

    @custom_vmap
    def rows_top_k(x):
        return partitioned(x)

    @rows_top_k.def_vmap
    def _vmap(axis_size, in_batched, x):
        # x is batched (the only operand): fold the vmapped axis into the rows.
        shape = x.shape
        out = rows_top_k(x.reshape((-1, shape[-1])))
        return out.reshape((*shape[:-1], k)), True

    return rows_top_k


def top_k_indices(x: jax.Array, k: int) -> jax.Array:
    """Indices of ``lax.top_k(x, k)`` (last axis, int32, no derivative)."""
    # Also 1-D rows go through the rule: under a user's vmap they are batched.
    x = lax.stop_gradient(x)
    shape = x.shape
    out = _rows_top_k(k)(x.reshape((-1, shape[-1])))
    # (a weak-typed operand would make the indices weak-typed too)
    return lax.convert_element_type(out, jnp.int32).reshape((*shape[:-1], k))


def top_k(x: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """``lax.top_k(x, k)``: ``(values, indices)`` along the last axis, batch-sharding preserved."""
    indices = top_k_indices(x, k)
    return jnp.take_along_axis(x, indices, axis=-1), indices
