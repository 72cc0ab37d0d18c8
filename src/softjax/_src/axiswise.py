"""Plumbing shared by the axis-wise operators.

Every public axis-wise operator follows the same steps: validate, handle
``"hard"`` with the ``jax.numpy`` twin, otherwise ``ensure_float``, flatten for
``axis=None``, standardize-and-squash, move the working axis last, call the
method, and put the result back into JAX's layout. This module holds those
steps; the operators themselves live in ``extrema``, ``sorting``,
``quantiles`` and ``topk``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from softjax._src.kernels.logspace import log_or_neg_inf
from softjax._src.kernels.row_parallel import map_rows
from softjax._src.kernels.squash import (
    carried_unit,
    power_of_two_scale,
    rescale,
    standardize_and_squash,
    unsquash,
)
from softjax._src.methods import registry
from softjax._src.methods.declaration import MethodSpec
from softjax._src.validation import (
    MODES,
    canonicalize_axis,
    concrete_or_none,
    ensure_float,
    host_value,
    is_tracer,
    validate_mode,
    validate_softness,
)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Working:
    """An input prepared for a method: working axis last.

    Attributes:
        x: raw values (float), shape ``batch + (n,)``.
        xhat: what the method sorts (squashed ``x`` or ``x`` itself).
        unsquash: maps squashed values back to raw space (identity if none).
        axis: canonical axis of the original array, or ``None`` (flattened).
        ndim: ``ndim`` of the original array.
        unit: the factor per row (shape ``batch + (1,)``; 1 except for rows
            beyond ``2**(maxexp / 2)``) by which the tangent of ``xhat``
            exceeds the true one (see
            :func:`~softjax._src.kernels.squash.carried_unit`); ``None`` when
            ``xhat`` is ``x``. Every output derived from ``xhat`` passes
            through :meth:`true_tangent` or :func:`contract` with this unit.
    """

    x: jax.Array
    xhat: jax.Array
    unsquash: Callable[[jax.Array], jax.Array]
    axis: int | None
    ndim: int
    unit: jax.Array | None = None

    @property
    def n(self) -> int:
        return self.x.shape[-1]

    def _unit_for(self, out: jax.Array) -> jax.Array:
        assert self.unit is not None
        return self.unit.reshape(self.unit.shape[:-1] + (1,) * (out.ndim - self.unit.ndim + 1))

    def true_tangent(self, out: jax.Array) -> jax.Array:
        """A method output computed from ``xhat`` (SoftIndex, log-SoftIndex, ranks) with its true tangent."""
        if self.unit is None:
            return out
        return rescale(out, jnp.ones((), out.dtype), 1.0 / self._unit_for(out))

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
            raise ValueError(f"softness must be a scalar for axis-wise operators, got shape {value.shape}")


def check_log_args(return_log_probs: bool, log_prob_eps: Any) -> None:
    """Validate ``return_log_probs`` / ``log_prob_eps``, done first in every mode."""
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


def hard_order(rows: jax.Array, descending: bool = False) -> jax.Array:
    """``jnp.argsort`` along the last axis, for the hard paths. An order has
    no derivative, and ``stop_gradient`` also keeps JAX's sort derivative
    (the data paired with an unsharded index) out of explicit-mesh programs."""
    return jnp.argsort(jax.lax.stop_gradient(rows), axis=-1, descending=descending)


def prepare(
    x: Any, axis: Any, standardize: bool, method: MethodSpec | None = None, softness: Any = None
) -> Working:
    """Common preparation: float input, working axis last, ``x̂`` (see :func:`prepare_rows`)."""
    return prepare_rows(layout(ensure_float(x), axis), standardize, method, softness)


def per_row(
    x: Any,
    axis: Any,
    body: Callable[..., T],
    *,
    standardize: bool = True,
    method: MethodSpec | None = None,
    softness: Any = None,
    method_kwargs: dict[str, Any] | None = None,
    shared: tuple[jax.Array, ...] = (),
) -> tuple[T, Working]:
    """``body(prepare(x, ...))``, run row-parallel on meshes with explicit axes.

    Returns ``body``'s result (every leaf of shape ``batch + trailing``, the
    working layout) and the laid-out input, whose :meth:`Working.along_axis`
    and :meth:`Working.reduced` put the result where JAX would. Rows sharded
    over ``Explicit`` mesh axes stay on their device (see
    :func:`~softjax._src.kernels.row_parallel.map_rows`); arrays ``body``
    needs besides the rows come in as ``shared`` and are passed after the
    prepared rows: ``body(w, *shared)``. With ``method_kwargs`` (from
    :func:`method_kwargs`) the body is called as ``body(w, method_kwargs,
    *shared)`` and must take the method's keyword arguments from there: a
    traced softness (one being learned) then enters the row computation as
    an operand, since ``shard_map`` cannot close over it.
    """
    laid = layout(ensure_float(x), axis)
    softness = host_value(softness)
    passed = row_operands(softness, method_kwargs)

    @half_in_float32
    def rows(xw: jax.Array, *operands: jax.Array) -> T:
        row_softness, row_kwargs, operands = split_row_operands(softness, method_kwargs, operands)
        w = prepare_rows(dataclasses.replace(laid, x=xw, xhat=xw), standardize, method, row_softness)
        return body(w, *row_kwargs, *operands)

    return map_rows(rows, laid.x, *shared, *passed), laid


def half_in_float32(rows: Callable[..., T]) -> Callable[..., T]:
    """``rows(xw, ...)`` on float32 rows where ``xw`` is half precision; float outputs cast back.

    The soft paths standardize, squash, project and sum. In bfloat16 (8
    significant bits) entries closer than about 0.4 % of the row's spread
    become ties: a soft ``max`` at softness 1e-6 of a row of mixed magnitudes
    read 3e-8 for a hard maximum of 1e-6. Outputs keep the input's dtype, as
    ``jnp``'s do.
    """

    def wrapped(xw: jax.Array, *operands: jax.Array) -> T:
        dtype = xw.dtype
        if not (jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32):
            return rows(xw, *operands)
        out = rows(xw.astype(jnp.float32), *operands)
        return jax.tree.map(lambda o: o.astype(dtype) if jnp.issubdtype(o.dtype, jnp.floating) else o, out)

    return wrapped


def row_operands(softness: Any, method_kwargs: dict[str, Any] | None) -> tuple[jax.Array, ...]:
    """The softness as a row operand where it is traced (see :func:`per_row`)."""
    return (softness,) if method_kwargs is not None and is_tracer(softness) else ()


def split_row_operands(
    softness: Any, method_kwargs: dict[str, Any] | None, operands: tuple[jax.Array, ...]
) -> tuple[Any, tuple[dict[str, Any], ...], tuple[jax.Array, ...]]:
    """Inside the row computation: the softness, the method's keyword arguments and the shared operands."""
    if method_kwargs is None:
        return softness, (), operands
    if is_tracer(softness):
        operands, softness = operands[:-1], operands[-1]
    return softness, (dict(method_kwargs, softness=softness),), operands


def prepare_rows(
    w: Working, standardize: bool, method: MethodSpec | None = None, softness: Any = None
) -> Working:
    """``x̂`` for laid-out rows: standardized and squashed, raw, or ``x`` itself.

    Raw (unstandardized) rows whose ``max |x| / softness`` passes
    ``2 / eps`` (``2**24`` in float32) are scaled by a power of two so that
    it does not: the methods form ``x / softness``, which overflows for rows
    near the dtype's maximum and, beyond ``1 / eps``, rounds by more than one
    unit, enough for ``exp`` of a rounding difference to overflow. The
    relaxation then treats differences below ``eps max |x|`` as ties, the
    dtype's own resolution at the row's scale. Methods whose relaxation is
    quadratic in ``x`` (``raw_power=2`` in their declaration: transport costs) bound
    ``max |x|**2 / softness`` by ``4 / eps`` instead. Other rows are untouched.
    """
    if method is not None and not registry.standardizes(method):
        return w
    if not standardize:
        power = 1 if method is None else registry.raw_power(method)
        return w if softness is None else _bounded_raw(w, softness, power)
    squashed = standardize_and_squash(w.x)

    def to_raw(y: jax.Array) -> jax.Array:
        return unsquash(y, squashed.mean, squashed.scale, squashed.unit)

    return dataclasses.replace(w, xhat=squashed.values, unsquash=to_raw, unit=squashed.unit)


def _bounded_raw(w: Working, softness: Any, power: int) -> Working:
    """``xhat = x / unit``, ``unit >= 1`` a power of two per row bounding ``|xhat|**power / softness``."""
    x = w.x
    info = jnp.finfo(x.dtype)
    work = jnp.float32 if x.dtype.itemsize < 4 else x.dtype
    m = jax.lax.stop_gradient(jnp.max(jnp.abs(x), axis=-1, keepdims=True))
    usable = jnp.isfinite(m) & (m > 0)
    s = jax.lax.stop_gradient(jnp.asarray(softness, work))
    _, e_x = jnp.frexp(jnp.where(usable, m, 1.0))
    _, e_s = jnp.frexp(jnp.where(s > 0, s, 1.0))
    # One rounding step of x / s (or of a transport cost over s) must stay
    # below a few units: XLA may recompute x / s inside a fused softmax with
    # a different rounding than the max it subtracts, and exp of a stray
    # difference of many units overflows (NaN in jit, not in eager).
    bound = jnp.finfo(work).nmant + power
    # |xhat| < 2**(e_x - shift) and softness >= 2**(e_s - 1), so
    # |xhat|**power / softness < 2**bound; 2**shift is kept a normal number.
    shift = jnp.clip(e_x - (bound + e_s - 1) // power, 0, info.maxexp - 2)
    scale = jnp.where(usable, jnp.ldexp(jnp.ones_like(m), shift.astype(jnp.int32)), 1.0)
    # Tangents are carried in units of the row's power of two only where
    # |x| / softness could overflow in reverse mode (see squash.carried_unit).
    unit = carried_unit(x, power_of_two_scale(x))

    def to_raw(y: jax.Array) -> jax.Array:
        return rescale(y, scale, scale / unit)

    return dataclasses.replace(w, xhat=rescale(x, 1.0 / scale, unit / scale), unsquash=to_raw, unit=unit)


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


def finish_probs(p: jax.Array, return_log_probs: bool, log_prob_eps: Any) -> jax.Array:
    """Probability-space result -> requested output (probabilities or clipped logs)."""
    if not return_log_probs:
        return p
    if log_prob_eps is not None:
        p = jnp.clip(p, log_prob_eps, 1.0)
        p = p / jnp.sum(p, axis=-1, keepdims=True)
    return log_or_neg_inf(p)


def index_output(
    compute: Callable[[bool], jax.Array], return_log_probs: bool, log_prob_eps: Any
) -> jax.Array:
    """Run ``compute(log)`` on the log path when possible (no ``log_prob_eps`` clip)."""
    if return_log_probs and log_prob_eps is None:
        return compute(True)
    return finish_probs(compute(False), return_log_probs, log_prob_eps)


def contract(weights: jax.Array, values: jax.Array, gated: bool, unit: jax.Array | None) -> jax.Array:
    """``Σ_j P_j x_j`` over the last axis; ``P`` detached when not ``gated``.

    ``unit`` is :attr:`Working.unit`: the weights, derived from ``xhat``,
    carry ``unit`` times their true tangent, so they are contracted with
    ``x / unit`` and the result scaled back by ``unit`` in value only. The
    cotangent reaching the weights is then ``ct * x / unit``, of order one,
    instead of ``ct * x``, which the softness and the scale of the row would
    blow up past the dtype's maximum on the way back to ``x``.
    """
    if not gated:
        weights = jax.lax.stop_gradient(weights)
    if unit is None:
        return jnp.einsum("...kn,...n->...k", weights, values)
    one = jnp.ones((), values.dtype)
    scaled = jnp.einsum("...kn,...n->...k", weights, rescale(values, 1.0 / unit, one))
    return rescale(scaled, unit, one)


def method_kwargs(
    softness: Any, mode: str, ot_kwargs: dict[str, Any] | None, method: MethodSpec | None = None
) -> dict[str, Any]:
    """The keyword arguments every method function takes.

    ``ot_kwargs`` is checked against ``method``'s options.
    """
    if ot_kwargs is not None and not isinstance(ot_kwargs, dict):
        raise TypeError(f"ot_kwargs must be a dict or None, got {type(ot_kwargs).__name__}")
    options = dict(ot_kwargs or {})
    if method is not None:
        method.check_options(options)
    return {"softness": host_value(softness), "mode": mode, "options": options}


def static_bool(name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a Python bool, got {value!r}")


def sorted_values(
    w: Working,
    module: ModuleType,
    kw: dict[str, Any],
    descending: bool,
    gated: bool,
    count: int | None = None,
) -> jax.Array:
    """Soft-sorted values ``batch + (n,)`` by the method module's ``sort``.

    ``count``: only the first ``count`` positions, ``batch + (count,)`` (the
    module's ``sort`` takes ``count=`` in its near-linear modes).
    """
    sort_fn = module.sort if count is None else functools.partial(module.sort, count=count)
    if w.unit is None:
        return sort_fn(w.x, w.xhat, descending=descending, gated=gated, unsquash=w.unsquash, **kw)
    # As in contract: a method that contracts its weights with x gets x / unit,
    # one that maps sorted xhat back through unsquash gets that result / unit,
    # and the output is scaled back by unit in value only.
    one = jnp.ones((), w.x.dtype)
    inv = 1.0 / w.unit

    def unsquash_scaled(y: jax.Array) -> jax.Array:
        return rescale(w.unsquash(y), inv, one)

    out = sort_fn(
        rescale(w.x, inv, one), w.xhat, descending=descending, gated=gated, unsquash=unsquash_scaled, **kw
    )
    return rescale(out, w.unit, one)
