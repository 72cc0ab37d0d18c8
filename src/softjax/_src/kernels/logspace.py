"""The one logarithm of a probability used across the library."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def log_or_neg_inf(p: jax.Array) -> jax.Array:
    """``log p``, with ``-inf`` and a zero gradient where ``p <= 0``; NaN propagates.

    The inner ``where`` keeps ``log`` away from 0: a plain
    ``where(p > 0, log(p), -inf)`` would differentiate ``log`` at 0 and put
    ``0 * inf = NaN`` into the gradient.
    """
    ok = (p > 0) | jnp.isnan(p)
    return jnp.where(ok, jnp.log(jnp.where(ok, p, 1)), -jnp.inf)


__all__ = ["log_or_neg_inf"]
