"""Plumbing shared by the axis-wise operators (spec part 2 §8, §9.2).

Every public axis-wise operator follows the same steps: validate, handle
``"hard"`` with the ``jax.numpy`` twin, otherwise ``ensure_float``, flatten for
``axis=None``, standardize-and-squash, move the working axis last, call the
method, and put the result back into JAX's layout. This module holds those
steps; the operators themselves live in ``extrema``, ``sorting``,
``quantiles`` and ``topk``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from softjax._src.kernels.squash import standardize_and_squash, unsquash
from softjax._src.methods import registry
from softjax._src.validation import (
    MODES,
    canonicalize_axis,
    concrete_or_none,
    ensure_float,
    validate_mode,
    validate_softness,
)


@dataclasses.dataclass(frozen=True)
class Working:
    """An input prepared for a method: working axis last.

    Attributes:
        x: raw values (float), shape ``batch + (n,)``.
        xhat: what the method sorts (squashed ``x`` or ``x`` itself).
        unsquash: maps squashed values back to raw space (identity if none).
        axis: canonical axis of the original array, or ``None`` (flattened).
        ndim: ``ndim`` of the original array.
    """

    x: jax.Array
    xhat: jax.Array
    unsquash: Callable[[jax.Array], jax.Array]
    axis: int | None
    ndim: int

    @property
    def n(self) -> int:
        return self.x.shape[-1]

    def reduced(self, value: jax.Array, keepdims: bool) -> jax.Array:
        """Place a reduced result (shape ``batch + trailing``) where JAX would."""
        trailing = value.ndim - (self.x.ndim - 1)
        if not keepdims:
            return value
        if self.axis is None:
            return value.reshape((1,) * self.ndim + value.shape[value.ndim - trailing :])
        return jnp.expand_dims(value, self.axis)

    def along_axis(self, value: jax.Array, trailing: int = 0) -> jax.Array:
        """Move the working axis (followed by ``trailing`` axes) back to ``axis``."""
        if self.axis is None:
            return value
        return jnp.moveaxis(value, value.ndim - 1 - trailing, self.axis)


def check_mode_and_softness(mode: Any, softness: Any) -> None:
    validate_mode(mode, MODES)
    if mode != "hard":
        validate_softness(softness)
        value = concrete_or_none(softness)
        if value is not None and value.ndim != 0:
            raise ValueError(
                f"softness must be a scalar for axis-wise operators, got shape {value.shape}"
            )


def check_log_args(return_log_probs: bool, log_prob_eps: Any) -> None:
    """Validation of spec part 2 §8, done first in every mode."""
    if log_prob_eps is None:
        return
    if not return_log_probs:
        raise ValueError("log_prob_eps can only be set when return_log_probs=True")
    value = concrete_or_none(log_prob_eps)
    if value is None:
        return
    if value.ndim != 0:
        raise ValueError(f"log_prob_eps must be scalar, got shape {value.shape}")
    if not 0 < float(value) <= 1:
        raise ValueError(f"log_prob_eps must be in (0, 1], got {float(value)}")


def layout(x: jax.Array, axis: Any) -> Working:
    """Flatten for ``axis=None`` or move ``axis`` last; no dtype change, no squashing."""
    ndim = x.ndim
    if axis is None:
        x, canonical = jnp.ravel(x), None
    else:
        if ndim == 0:
            raise ValueError(f"axis {axis} is out of bounds for array of dimension 0")
        canonical = canonicalize_axis(axis, ndim)
        x = jnp.moveaxis(x, canonical, -1)
    if x.shape[-1] == 0:
        raise ValueError("axis-wise operators need a non-empty axis (got length 0)")
    return Working(x, x, lambda y: y, canonical, ndim)


def prepare(x: Any, axis: Any, standardize: bool, method: ModuleType | None = None) -> Working:
    """Steps 1–4 of spec part 2 §9.2: float input, working axis last, ``x̂``."""
    w = layout(ensure_float(x), axis)
    if not (standardize and (method is None or registry.standardizes(method))):
        return w
    squashed = standardize_and_squash(w.x)
    return dataclasses.replace(
        w, xhat=squashed.values, unsquash=lambda y: unsquash(y, squashed.mean, squashed.scale)
    )


def reduce_axis_length(x: Any, axis: Any) -> tuple[jax.Array, int]:
    """``(x, n)`` for hard paths: ``n = x.size`` for ``axis=None``."""
    x = jnp.asarray(x)
    if axis is None:
        return x, x.size
    if x.ndim == 0:
        raise ValueError(f"axis {axis} is out of bounds for array of dimension 0")
    return x, x.shape[canonicalize_axis(axis, x.ndim)]


def one_hot(indices: jax.Array, n: int, dtype: Any) -> jax.Array:
    return jax.nn.one_hot(indices, n, dtype=dtype, axis=-1)


def float_dtype(x: jax.Array) -> Any:
    return x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.result_type(float)


def _safe_log(p: jax.Array) -> jax.Array:
    positive = p > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, p, 1.0)), -jnp.inf)


def finish_probs(p: jax.Array, return_log_probs: bool, log_prob_eps: Any) -> jax.Array:
    """Probability-space result -> requested output (spec part 2 §8 step 3)."""
    if not return_log_probs:
        return p
    if log_prob_eps is not None:
        p = jnp.clip(p, log_prob_eps, 1.0)
        p = p / jnp.sum(p, axis=-1, keepdims=True)
    return _safe_log(p)


def index_output(
    compute: Callable[[bool], jax.Array], return_log_probs: bool, log_prob_eps: Any
) -> jax.Array:
    """Run ``compute(log)`` on the log path when possible (spec part 2 §8)."""
    if return_log_probs and log_prob_eps is None:
        return compute(True)
    return finish_probs(compute(False), return_log_probs, log_prob_eps)


def contract(weights: jax.Array, values: jax.Array, gated: bool) -> jax.Array:
    """``Σ_j P_j x_j`` over the last axis; ``P`` detached when not ``gated``."""
    if not gated:
        weights = jax.lax.stop_gradient(weights)
    return jnp.einsum("...kn,...n->...k", weights, values)


def method_kwargs(softness: Any, mode: str, ot_kwargs: dict | None) -> dict[str, Any]:
    if ot_kwargs is not None and not isinstance(ot_kwargs, dict):
        raise TypeError(f"ot_kwargs must be a dict or None, got {type(ot_kwargs).__name__}")
    return {"softness": softness, "mode": mode, "options": dict(ot_kwargs or {})}


def static_bool(name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a Python bool, got {value!r}")


def sorted_values(
    w: Working, module: ModuleType, method: str, kw: dict[str, Any], descending: bool, gated: bool
) -> jax.Array:
    """Soft-sorted values ``batch + (n,)`` by the method's ``sort``, or ``P x``."""
    sort_fn = getattr(module, "sort", None)
    if sort_fn is not None:
        return sort_fn(w.x, w.xhat, descending=descending, gated=gated, unsquash=w.unsquash, **kw)
    argsort_fn = registry.function(module, "argsort", method)
    return contract(argsort_fn(w.xhat, descending=descending, log=False, **kw), w.x, gated)
