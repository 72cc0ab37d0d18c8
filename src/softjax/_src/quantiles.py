"""Soft quantiles: ``argquantile`` and ``quantile`` (the median and percentile
variants in :mod:`softjax._src.median_percentile` call these).

Deliberate deviation: a concrete ``q`` outside ``[0, 1]`` (or
``p`` outside ``[0, 100]``, or NaN) raises ``ValueError`` in every mode and
for every method, instead of clipping on some paths and returning NaN or a
wrong value on others. A traced ``q`` is clipped to ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softjax._src import axiswise as aw
from softjax._src.kernels.row_parallel import map_rows
from softjax._src.methods import registry
from softjax._src.types import Method, Mode, QuantileMethod, SoftIndex
from softjax._src.validation import concrete_or_none, validate_choice

QUANTILE_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")
_INTERPOLATING = ("linear", "midpoint")


def _check_q(q: Any, name: str, upper: float) -> jax.Array:
    """Validate ``q`` (or ``p``) and return it as a quantile in ``[0, 1]``."""
    q = jnp.asarray(q)
    if q.ndim > 1:
        raise ValueError(f"{name} must be scalar or 1-D, got {name} with shape {q.shape}")
    value = concrete_or_none(q)
    if value is not None and not np.all((value >= 0) & (value <= upper)):
        raise ValueError(f"{name} must be in [0, {upper:g}], got {name}={value}")
    q = q / upper if upper != 1 else q
    q = q if jnp.issubdtype(q.dtype, jnp.inexact) else q.astype(jnp.result_type(float))
    return jnp.clip(q, 0, 1)


def _order_statistic(q: jax.Array, n: int, quantile_method: str) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Order statistics ``(k, k_next)`` and weight ``a`` of ``jnp.quantile``'s ``method``."""
    h = q * (n - 1)
    lo, hi = jnp.floor(h), jnp.ceil(h)
    zero = jnp.zeros_like(h)
    if quantile_method == "linear":
        k, a = lo, h - lo
    elif quantile_method == "lower":
        k, a = lo, zero
    elif quantile_method == "higher":
        k, a = hi, zero
    elif quantile_method == "nearest":  # ties round down, like JAX (not NumPy)
        k, a = jnp.where(h - lo <= 0.5, lo, hi), zero
    else:  # midpoint
        k, a = lo, jnp.where(jnp.isclose(h, jnp.round(h)), 0.0, 0.5).astype(h.dtype)
    k = jnp.clip(k, 0, n - 1).astype(jnp.int32)
    return k, jnp.minimum(k + 1, n - 1), a


def _mix(row_k: jax.Array, row_next: jax.Array, a: jax.Array, interpolating: bool, log: bool) -> jax.Array:
    if not interpolating:
        return row_k
    if not log:
        return (1 - a) * row_k + a * row_next
    safe_a = jnp.where(a > 0, a, 1.0)
    mixed = jnp.logaddexp(jnp.log1p(-a) + row_k, jnp.log(safe_a) + row_next)
    return jnp.where(a > 0, mixed, row_k)


def _over_q(fn: Callable[[jax.Array], jax.Array], q: jax.Array) -> jax.Array:
    """Evaluate ``fn`` at a scalar ``q``, or stack over a 1-D ``q`` (leading axis)."""
    return fn(q) if q.ndim == 0 else jax.vmap(fn)(q)


def _rows_over_q(
    x: ArrayLike,
    axis: int | None,
    q: jax.Array,
    keepdims: bool,
    per_q: Callable[[aw.Working, dict[str, Any], jax.Array], jax.Array],
    **prepared: Any,
) -> jax.Array:
    """``per_q(w, method_kwargs, q_i)`` (shape ``batch + trailing``) for every level, row-parallel.

    The levels are stacked after the batch axes inside :func:`aw.per_row`
    (whose outputs lead with the batch axes) and moved to the front after.
    """

    def rows(w: aw.Working, kw: dict[str, Any], levels: jax.Array) -> jax.Array:
        if levels.ndim == 0:
            return per_q(w, kw, levels)
        return jnp.moveaxis(jax.vmap(lambda qs: per_q(w, kw, qs))(levels), 0, w.x.ndim - 1)

    out, w = aw.per_row(x, axis, rows, shared=(q,), **prepared)
    return _levels_first(w, out, q, keepdims)


def _levels_first(w: aw.Working, out: jax.Array, q: jax.Array, keepdims: bool) -> jax.Array:
    """``batch + q.shape + trailing`` -> ``q.shape`` + the reduced layout of JAX."""
    if q.ndim == 0:
        return w.reduced(out, keepdims)
    return jax.vmap(lambda v: w.reduced(v, keepdims))(jnp.moveaxis(out, w.x.ndim - 1, 0))


def _hard_quantile(
    x: ArrayLike, q: jax.Array, axis: int | None, keepdims: bool, quantile_method: str
) -> jax.Array:
    """``jnp.quantile`` row by row (JAX's derivative of sort pairs the data
    with an unsharded index, which explicit-mesh types reject)."""
    w = aw.layout(jnp.asarray(x), axis)
    levels = q.astype(aw.float_dtype(w.x))

    def rows(r: jax.Array, levels: jax.Array) -> jax.Array:
        out = jnp.quantile(r, levels, axis=-1, method=quantile_method)
        return out if levels.ndim == 0 else jnp.moveaxis(out, 0, -1)

    return _levels_first(w, map_rows(rows, w.x, levels), q, keepdims)


def argquantile(
    x: ArrayLike,
    q: float | ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "neuralsort",
    quantile_method: QuantileMethod = "linear",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    return_log_probs: bool = False,
    log_prob_eps: float | ArrayLike | None = None,
) -> SoftIndex:
    r"""Soft index of the ``q``-quantile: a mixture of the rows of two order statistics.

    With $h = q(n-1)$ and ``(k, a)`` from ``quantile_method`` (``linear``:
    $k = \lfloor h \rfloor$, $a = h - k$; ``lower``/``higher``/``nearest``:
    one order statistic; ``midpoint``: $a = 1/2$ unless $h$ is integral), the
    result is $(1-a)\,P_k + a\,P_{k+1}$ where $P_k$ is the row of the k-th
    smallest element (0-based) of the chosen ``method``.

    Args:
        x: input array.
        q: quantile(s) in ``[0, 1]``, scalar or 1-D (a 1-D ``q`` prepends an axis).
        axis: axis to reduce; ``None`` works on the flattened array.
        keepdims: keep the reduced axis with length 1 (before the SoftIndex axis).
        softness: ``s > 0`` (scalar); ``s -> 0`` recovers the hard result.
        mode: ``"hard"`` (one-hot rows of the hard order statistics), or the
            simplex regulariser ``"smooth"`` (entropy), ``"c0"`` (L2, sparse),
            ``"c1"`` (p = 3/2), ``"c2"`` (p = 4/3).
        method: ``"neuralsort"`` (default), ``"softsort"``, ``"ot"``,
            ``"sorting_network"``.
        quantile_method: ``"linear"``, ``"lower"``, ``"higher"``,
            ``"nearest"``, ``"midpoint"`` (as ``jnp.quantile``).
        standardize: standardize-and-squash ``x`` along ``axis`` first, so
            ``softness`` is scale-free.
        ot_kwargs: solver options for ``method="ot"``.
        return_log_probs: return log-probabilities (exact ``log_softmax`` in
            smooth mode; ``-inf`` at exact zeros in sparse modes).
        log_prob_eps: if set, clip probabilities to ``[eps, 1]`` and
            renormalise before the log (bounded log-probabilities).

    Returns:
        SoftIndex of shape ``q.shape + reduced_shape + (n,)``, where
            ``reduced_shape`` is ``jnp.quantile(x, 0.5, axis, keepdims=keepdims).shape``.

    Examples:
        >>> import softjax as sj
        >>> sj.argquantile(jnp.array([0.2, 1.7, -0.5, 0.9]), 0.5, mode="hard")
        Array([0.5, 0. , 0. , 0.5], dtype=float32)
    """
    return _argquantile(
        x,
        _check_q(q, "q", 1.0),
        axis,
        keepdims,
        softness,
        mode,
        method,
        quantile_method,
        standardize,
        ot_kwargs,
        return_log_probs,
        log_prob_eps,
    )


def _argquantile(
    x: ArrayLike,
    q: jax.Array,
    axis: int | None,
    keepdims: bool,
    softness: float | ArrayLike,
    mode: Mode,
    method: Method,
    quantile_method: QuantileMethod,
    standardize: bool,
    ot_kwargs: dict[str, Any] | None,
    return_log_probs: bool,
    log_prob_eps: float | ArrayLike | None,
) -> jax.Array:
    aw.check_log_args(return_log_probs, log_prob_eps)
    aw.check_mode_and_softness(mode, softness)
    validate_choice("quantile_method", quantile_method, QUANTILE_METHODS)
    interpolating = quantile_method in _INTERPOLATING
    if mode == "hard":
        w = aw.layout(jnp.asarray(x), axis)  # no ensure_float, no standardization
        # Piecewise constant; row by row, gathered once if the axis is sharded.
        order = map_rows(aw.hard_order, w.x)
        dtype = aw.float_dtype(w.x)

        def hard(qs: jax.Array) -> jax.Array:
            k, k_next, a = _order_statistic(qs, w.n, quantile_method)
            row_k = aw.one_hot(jnp.take(order, k, axis=-1), w.n, dtype)
            row_next = aw.one_hot(jnp.take(order, k_next, axis=-1), w.n, dtype)
            p = _mix(row_k, row_next, a.astype(dtype), interpolating, log=False)
            return w.reduced(aw.finish_probs(p, return_log_probs, log_prob_eps), keepdims)

        return _over_q(hard, q)
    spec, module = registry.load(method, "index", mode)
    rows_fn = module.quantile_rows
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)

    def soft(w: aw.Working, kw: dict[str, Any], qs: jax.Array) -> jax.Array:
        k, k_next, a = _order_statistic(qs.astype(w.x.dtype), w.n, quantile_method)

        def compute(log: bool) -> jax.Array:
            row_k, row_next = rows_fn(w.xhat, k, k_next, log=log, interpolating=interpolating, **kw)
            return _mix(row_k, row_next, a, interpolating, log)

        return w.true_tangent(aw.index_output(compute, return_log_probs, log_prob_eps))

    return _rows_over_q(
        x, axis, q, keepdims, soft, standardize=standardize, method=spec, softness=softness, method_kwargs=kw
    )


def quantile(
    x: ArrayLike,
    q: float | ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "neuralsort",
    quantile_method: QuantileMethod = "linear",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    gated_grad: bool = True,
) -> jax.Array:
    r"""Soft ``jnp.quantile``.

    ``softsort``/``neuralsort``/``ot``: $\sum_j P_j x_j$ with ``P`` from
    :func:`argquantile` on the raw ``x``. ``sorting_network``,
    ``fast_soft_sort``, ``smooth_sort``: $(1-a)\,y_k + a\,y_{k+1}$ from the
    ascending soft :func:`sort` ``y``.

    Args:
        x: input array.
        q: quantile(s) in ``[0, 1]``, scalar or 1-D (a 1-D ``q`` prepends an axis).
        axis: axis to reduce; ``None`` works on the flattened array.
        keepdims: keep the reduced axis with length 1.
        softness: ``s > 0`` (scalar); ``s -> 0`` recovers the hard result.
        mode: ``"hard"`` (the exact JAX result), or ``"smooth"``, ``"c0"``,
            ``"c1"``, ``"c2"`` (the relaxation of the chosen ``method``).
        method: any of the six methods (default ``"neuralsort"``): ``"neuralsort"``,
            ``"softsort"``, ``"ot"``, ``"sorting_network"``, ``"fast_soft_sort"``,
            ``"smooth_sort"``.
        quantile_method: ``"linear"``, ``"lower"``, ``"higher"``,
            ``"nearest"``, ``"midpoint"`` (as ``jnp.quantile``).
        standardize: standardize-and-squash ``x`` along ``axis`` first, so
            ``softness`` is scale-free.
        ot_kwargs: solver options for ``method="ot"``.
        gated_grad: for ``softsort``/``neuralsort``/``ot``, let gradients flow
            through the soft weights as well as through ``x``.

    Returns:
        Array of shape ``jnp.quantile(x, q, axis, keepdims).shape``.

    Examples:
        >>> import softjax as sj
        >>> sj.quantile(jnp.array([0.2, 1.7, -0.5, 0.9]), 0.5, mode="hard")
        Array(0.55, dtype=float32)
    """
    return _quantile(
        x,
        _check_q(q, "q", 1.0),
        axis,
        keepdims,
        softness,
        mode,
        method,
        quantile_method,
        standardize,
        ot_kwargs,
        gated_grad,
    )


def _quantile(
    x: ArrayLike,
    q: jax.Array,
    axis: int | None,
    keepdims: bool,
    softness: float | ArrayLike,
    mode: Mode,
    method: Method,
    quantile_method: QuantileMethod,
    standardize: bool,
    ot_kwargs: dict[str, Any] | None,
    gated_grad: bool,
) -> jax.Array:
    aw.check_mode_and_softness(mode, softness)
    validate_choice("quantile_method", quantile_method, QUANTILE_METHODS)
    if mode == "hard":
        return _hard_quantile(x, q, axis, keepdims, quantile_method)
    gated = aw.static_bool("gated_grad", gated_grad)
    interpolating = quantile_method in _INTERPOLATING
    spec, module = registry.load(method, "values", mode)
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)
    prepared: dict[str, Any] = dict(standardize=standardize, method=spec, softness=softness, method_kwargs=kw)
    if spec.sorted_values:
        ascending, w = aw.per_row(
            x,
            axis,
            lambda w, kw: aw.sorted_values(w, module, kw, descending=False, gated=gated),
            **prepared,
        )

        def from_sorted(qs: jax.Array) -> jax.Array:
            k, k_next, a = _order_statistic(qs.astype(w.x.dtype), w.n, quantile_method)
            value = _mix(
                jnp.take(ascending, k, axis=-1),
                jnp.take(ascending, k_next, axis=-1),
                a,
                interpolating,
                log=False,
            )
            return w.reduced(value, keepdims)

        return _over_q(from_sorted, q)
    rows_fn = module.quantile_rows

    def from_rows(w: aw.Working, kw: dict[str, Any], qs: jax.Array) -> jax.Array:
        k, k_next, a = _order_statistic(qs.astype(w.x.dtype), w.n, quantile_method)
        row_k, row_next = rows_fn(w.xhat, k, k_next, log=False, interpolating=interpolating, **kw)
        p = _mix(row_k, row_next, a, interpolating, log=False)
        return aw.contract(p[..., None, :], w.x, gated, w.unit)[..., 0]

    return _rows_over_q(x, axis, q, keepdims, from_rows, **prepared)
