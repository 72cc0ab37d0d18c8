"""Argument validation and dtype helpers shared by every operator.

Everything here is Python-level (runs at trace time) except the array
conversions. Checks on *values* (softness, ``log_prob_eps``) run whenever the
value is concrete — also inside ``jax.jit`` when it was passed as a Python
number or a closed-over constant — and are skipped for tracers, so a call
behaves the same inside and outside ``jit`` for the same concrete arguments.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, TypeGuard

import jax
import jax.numpy as jnp
import numpy as np

MODES: tuple[str, ...] = ("hard", "smooth", "c0", "c1", "c2")
SOFT_MODES: tuple[str, ...] = ("smooth", "c0", "c1", "c2")
STEP_MODES: tuple[str, ...] = ("smooth", "c0", "c1", "_c1_pnorm", "c2", "_c2_pnorm")


def is_tracer(x: Any) -> TypeGuard[jax.Array]:
    """True when ``x`` is an abstract value (inside ``jit``/``grad``/``vmap``)."""
    return isinstance(x, jax.core.Tracer)


def host_value(x: Any) -> Any:
    """A concrete ``jax.Array`` as the same value on the host, anything else unchanged.

    Per-row computations run under ``shard_map`` on explicit meshes, which
    cannot close over arrays placed on the mesh. A weakly typed scalar
    becomes a Python scalar and any other array a NumPy array, so dtype
    promotion is unchanged.
    """
    if not isinstance(x, jax.Array) or is_tracer(x):
        return x
    if x.ndim == 0 and x.weak_type:
        return x.item()
    return np.asarray(x)


def concrete_or_none(x: Any) -> np.ndarray | None:
    """``x`` as a NumPy array if its value is known at trace time, else ``None``."""
    if is_tracer(x):
        return None
    try:
        return np.asarray(x)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return None


def ensure_float(x: Any) -> jax.Array:
    """``jnp.asarray(x)``, cast to the default float dtype if not inexact.

    Float inputs keep their dtype (float32 stays float32 under x64).
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    return x


def validate_softness(softness: Any) -> Any:
    """Check that a concrete ``softness`` is finite and strictly positive.

    Accepts Python scalars and arrays that broadcast against the input (one
    softness per element is allowed). Tracers are returned unchecked.

    Raises:
        TypeError: if ``softness`` is not numeric.
        ValueError: if any concrete entry is ``<= 0``, NaN or infinite.
    """
    value = concrete_or_none(softness)
    if value is None:
        return softness
    if value.dtype == object or not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
        raise TypeError(f"softness must be a positive number or array, got {softness!r}")
    if value.size and not (np.all(np.isfinite(value)) and np.all(value > 0)):
        raise ValueError(f"softness must be positive and finite (softness > 0), got {softness!r}")
    return softness


def validate_mode(mode: Any, allowed: Sequence[str] = MODES) -> str:
    """Raise ``ValueError("Invalid mode: ...")`` unless ``mode`` is one of ``allowed``."""
    if not isinstance(mode, str) or mode not in allowed:
        raise ValueError(f"Invalid mode: {mode!r}. mode must be one of {', '.join(map(repr, allowed))}.")
    return mode


def validate_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    """Generic check for string-valued enum arguments (``method``, ``noise``, ...)."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"Invalid {name}: {value!r}. {name} must be one of {', '.join(map(repr, allowed))}.")
    return value


def canonicalize_axis(axis: Any, ndim: int, name: str = "axis") -> int:
    """Map a possibly negative ``axis`` into ``[0, ndim)``.

    Raises:
        TypeError: if ``axis`` is not an integer.
        ValueError: ``"axis <a> is out of bounds for array of dimension <ndim>"``.
    """
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{name} must be an integer or None, got {axis!r}") from None
    if not -ndim <= a < ndim:
        raise ValueError(f"{name} {a} is out of bounds for array of dimension {ndim}")
    return a + ndim if a < 0 else a


def validate_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """``operator.index(value)`` with a lower bound, raising clear errors."""
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={v}")
    return v
