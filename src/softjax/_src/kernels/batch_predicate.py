"""Batch-wide predicates that stay scalars under ``jax.vmap``.

The kernels choose a fast path for a whole batch with one ``lax.cond``: the
fast branch is exact wherever its certificate holds, the fallback everywhere.
Under ``jax.vmap`` a ``cond`` whose predicate is batched becomes a
``select`` that evaluates every branch, so the quadratic fallback would run
on every call. :func:`all_rows` and :func:`any_rows` reduce their flags over
the mapped axes as well (a ``custom_vmap`` rule), so the mapped rows simply
join the batch and the ``cond`` stays one branch. Their flags carry no
derivative.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap


@custom_vmap
def all_rows(flags: jax.Array) -> jax.Array:
    """``jnp.all(flags)``, a scalar also under ``vmap`` (the mapped rows join the reduction)."""
    return jnp.all(flags)


@all_rows.def_vmap
def _all_rows_vmap(axis_size, in_batched, flags):
    del axis_size, in_batched
    # Recursing reduces the mapped axis here and any outer mapped axis in
    # that vmap's own rule.
    return all_rows(flags), False


@custom_vmap
def any_rows(flags: jax.Array) -> jax.Array:
    """``jnp.any(flags)``, a scalar also under ``vmap`` (the mapped rows join the reduction)."""
    return jnp.any(flags)


@any_rows.def_vmap
def _any_rows_vmap(axis_size, in_batched, flags):
    del axis_size, in_batched
    return any_rows(flags), False


__all__ = ["all_rows", "any_rows"]
