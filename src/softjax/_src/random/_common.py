"""Validation, shape and logit helpers shared by the relaxed samplers.

Everything here runs at trace time except the array helpers
(:func:`finite_logits`, :func:`log_weights`).
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Sequence
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np

from softjax._src.kernels.logspace import log_or_neg_inf
from softjax._src.methods import registry
from softjax._src.validation import is_tracer, validate_mode

# "_hard": the soft modes' random construction with the exact discrete decision.
SAMPLER_MODES: tuple[str, ...] = ("hard", "_hard", "smooth", "c0", "c1", "c2")


def default_float() -> jnp.dtype:
    """``jnp.result_type(float)``: float64 iff x64 is enabled."""
    return jnp.dtype(jnp.result_type(float))


def validate_noise(noise: Any, expected: str) -> None:
    """Each sampler accepts exactly one noise family; checked first, in every mode."""
    if not isinstance(noise, str) or noise != expected:
        raise ValueError(f"Invalid noise: {noise!r}. Only noise={expected!r} is supported.")


def validate_sampler_mode(mode: Any) -> str:
    return validate_mode(mode, SAMPLER_MODES)


def validate_index_method(method: Any) -> str:
    """Methods that produce a SoftIndex (the value-only sorts have none)."""
    return registry.validate(method, "index")


def canonicalize_shape(shape: Any) -> tuple[int, ...] | None:
    """``None`` stays ``None``, an int ``k`` becomes ``(k,)``, entries must be integers."""
    if shape is None:
        return None
    if isinstance(shape, str) or (not isinstance(shape, Sequence) and np.ndim(shape) == 0):
        shape = (shape,)
    try:
        return tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(
            f"shape must be an int or a sequence of values of integer type, got {shape!r}"
        ) from None


def require_shape(shape: Any, name: str) -> tuple[int, ...]:
    """Like :func:`canonicalize_shape` but ``None`` is rejected (``choice``, ``rademacher``)."""
    if shape is None:
        raise TypeError(f"shape argument of {name} must be a tuple of integers, got None")
    return cast(tuple[int, ...], canonicalize_shape(shape))  # not None for a shape that is not None


def check_broadcast(name: str, shape: tuple[int, ...], param_shape: tuple[int, ...]) -> None:
    """``shape`` must broadcast with the parameter shape, and the result must be ``shape``."""
    try:
        result = tuple(np.broadcast_shapes(shape, tuple(param_shape)))
    except ValueError:
        result = None
    if result != tuple(shape):
        raise ValueError(
            f"{name} parameter shapes must be broadcast-compatible with shape argument, "
            "and the result of broadcasting the shapes must equal the shape argument, "
            f"but got result {result} for shape argument {tuple(shape)} "
            f"(parameter shape {tuple(param_shape)})."
        )


def finite_logits(logits: jax.Array, axis: int) -> jax.Array:
    """Make every distribution slice along ``axis`` finite before Gumbel noise is added.

    Infinities are replaced relative to the slice's finite range, so soft modes
    never meet an infinity. Per slice, with ``m`` / ``M`` the
    min / max of its finite entries (0 if none), $G = \\text{finfo.max}/4$ and
    ``gap(v) = min(max(|v|, min(1000, G)), G)``:

    * ``-inf`` → ``max(m − gap(m), finfo.min)`` (never drawn: Gumbel noise spans
      less than ~50, the gap is at least 1000);
    * ``+inf`` → ``min(M + gap(M), finfo.max)`` (always drawn, as in JAX);
    * NaN stays NaN (NaN in, NaN out; the hard draw then picks the NaN entry
      exactly like ``jnp.argmax`` in JAX's sampler);
    * finite logits are untouched, so the sum with the noise is bitwise JAX's.

    Ties at infinity (several ``+inf``, or a slice that is all ``-inf``) are
    broken uniformly by the noise; JAX picks the lowest such index.
    The replacement values carry no gradient.
    """
    finfo = jnp.finfo(logits.dtype)
    big = float(finfo.max) / 4
    min_gap = min(1000.0, big)
    finite = jnp.isfinite(logits)
    any_finite = jnp.any(finite, axis=axis, keepdims=True)
    lo = jnp.min(jnp.where(finite, logits, jnp.inf), axis=axis, keepdims=True)
    hi = jnp.max(jnp.where(finite, logits, -jnp.inf), axis=axis, keepdims=True)
    lo = jnp.where(any_finite, lo, 0)
    hi = jnp.where(any_finite, hi, 0)
    floor = jnp.maximum(lo - jnp.clip(jnp.abs(lo), min_gap, big), finfo.min)
    ceil = jnp.minimum(hi + jnp.clip(jnp.abs(hi), min_gap, big), finfo.max)
    fill = jax.lax.stop_gradient(jnp.where(logits > 0, ceil, floor))
    return jnp.where(finite | jnp.isnan(logits), logits, fill)


def log_weights(p: jax.Array) -> jax.Array:
    """``log(p)`` for unnormalised weights with a zero gradient where ``p <= 0``.

    ``p <= 0`` gives ``-inf`` (impossible outcome), NaN stays NaN. The inner
    ``where`` keeps ``log`` away from 0 so the gradient there is 0, not 0·∞.
    """
    return log_or_neg_inf(p)


def static_count(n: Any, name: str) -> int:
    """The number of trials of ``binomial``/``multinomial`` in the soft modes.

    Raises:
        NotImplementedError: ``n`` is not a scalar, or is traced.
        ValueError: ``n`` is negative or not integral.
    """
    if not isinstance(n, numbers.Real):
        if np.ndim(n) != 0:
            raise NotImplementedError(
                f"{name} soft modes support only scalar static counts, got n with shape "
                f"{np.shape(n)}; use mode='hard' for array-valued counts."
            )
        if is_tracer(n):
            raise NotImplementedError(
                f"{name} soft modes support only scalar static counts: a concrete count is "
                "required, got a traced value (pass n as a Python int or mark it static)."
            )
        n = np.asarray(n).item()
    if not (np.isfinite(n) and n >= 0 and float(n) == int(n)):
        raise ValueError(f"{name}: the count n must be a nonnegative integer, got {n!r}")
    return int(n)


def float_dtype(dtype: Any, p: Any, name: str) -> jnp.dtype:
    """Output dtype of binomial/multinomial: ``result_type(p, float)`` or a float ``dtype``."""
    if dtype is None:
        out = jnp.dtype(jnp.result_type(p, float))
    else:
        out = jax.dtypes.canonicalize_dtype(jnp.dtype(dtype))
    if not jnp.issubdtype(out, jnp.floating):
        raise ValueError(f"dtype argument to `{name}` must be a float dtype, got {out}")
    return out
