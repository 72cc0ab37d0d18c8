"""Input handling shared by the objectives of ``softjax.losses``: validation, axis moves, pairing."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src import axiswise as aw
from softjax._src.methods import registry
from softjax._src.validation import (
    canonicalize_axis,
    ensure_float,
)


def _check(mode: Any, softness: Any, method: Any = None) -> None:
    """Validate ``mode``/``softness`` (and ``method``, also in hard mode)."""
    aw.check_mode_and_softness(mode, softness)
    if method is not None:
        registry.validate(method, "values")


def _last(x: jax.Array, axis: Any, name: str) -> jax.Array:
    """``x`` with ``axis`` moved last (``x`` at least 1-D, the axis non-empty)."""
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar")
    x = jnp.moveaxis(x, canonicalize_axis(axis, x.ndim), -1)
    if x.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty axis (got length 0 along axis={axis})")
    return x


def _pair(a: ArrayLike, b: ArrayLike, axis: Any, names: tuple[str, str]) -> tuple[jax.Array, jax.Array]:
    """Two float arrays broadcast together, ``axis`` moved last, one common float dtype."""
    a, b = ensure_float(a), ensure_float(b)
    try:
        shape = jnp.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{names[0]} and {names[1]} must have broadcastable shapes, got {a.shape} and {b.shape}"
        ) from None
    dtype = jnp.result_type(a, b)
    a = _last(jnp.broadcast_to(a, shape).astype(dtype), axis, names[0])
    b = _last(jnp.broadcast_to(b, shape).astype(dtype), axis, names[1])
    return a, b
