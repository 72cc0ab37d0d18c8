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

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap


def _batch_wide(reduce: Callable[[jax.Array], jax.Array], name: str) -> Callable[[jax.Array], jax.Array]:
    @custom_vmap
    def predicate(flags: jax.Array) -> jax.Array:
        return reduce(flags)

    @predicate.def_vmap
    def _fold(axis_size, in_batched, flags):
        del axis_size, in_batched
        # Recursing reduces the mapped axis here and any outer mapped axis
        # in that vmap's own rule.
        return predicate(flags), False

    predicate.__doc__ = (
        f"``jnp.{name}(flags)``, a scalar also under ``vmap`` (the mapped rows join the reduction)."
    )
    return predicate


all_rows = _batch_wide(jnp.all, "all")
any_rows = _batch_wide(jnp.any, "any")


__all__ = ["all_rows", "any_rows"]
