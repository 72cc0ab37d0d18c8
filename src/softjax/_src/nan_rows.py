r"""Rows with NaN entries, prepared so that a soft method run on the whole row
acts on its valid (non-NaN) entries alone: the plumbing of the NaN-aware
statistics (:mod:`softjax._src.nan_stats`, :mod:`softjax._src.nan_quantiles`).

Every row keeps its length ``n`` (shapes are static); with ``n_v`` valid
entries and ``m = n - n_v`` NaN entries:

* NaN entries are replaced by 0 in the raw row (``Working.x``) through a
  ``where``, so no NaN reaches any arithmetic and their gradient is exactly
  zero;
* the standardization statistics (mean, variance) are taken over the valid
  entries only (:func:`masked_standardize_and_squash`); a row without NaN
  gets today's statistics bit for bit (they are selected per row);
* in ``xhat`` (what the methods sort) each NaN entry becomes a *sentinel*,
  a constant without gradient placed beyond the valid entries by their range
  plus ``100 * softness``: below them (``max``, ``argmax``, quantiles) or,
  for the sorting network, above them. Squashed values lie in ``(0, 1)``, so
  the sentinels are ``-(1 + 100 s)`` and ``2 + 100 s``; unstandardized rows
  use ``min - (range + 100 s)`` or ``max + (range + 100 s)``, clamped to
  the dtype's finite range. A soft weight of a sentinel is then at most
  ``exp(-100)`` (exactly zero in the sparse modes);
* for the sorting network the row is first compacted (valid entries first,
  in their order; NaN entries last), so the sentinels sit where the network
  puts its own padding.

Order statistics are read at per-row positions: with sentinels below, the
``k``-th smallest valid entry is the ``(m + k)``-th smallest of the row.
Methods with more structure get their own treatment: ``ot`` sends the
sentinels to an anchor of their own (:mod:`softjax._src.nan_transport`),
``fast_soft_sort`` and ``smooth_sort`` get the anchors of ``n_v`` entries
(:mod:`softjax._src.nan_sorted`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, cast

import jax
import jax.numpy as jnp

from softjax._src import axiswise as aw
from softjax._src.kernels.logspace import log_or_neg_inf
from softjax._src.kernels.row_parallel import map_rows
from softjax._src.kernels.squash import (
    Squashed,
    carried_unit,
    power_of_two_scale,
    rescale,
    unsquash,
)
from softjax._src.methods import registry
from softjax._src.methods.declaration import MethodSpec
from softjax._src.validation import ensure_float, host_value

T = TypeVar("T")

# Distance of the sentinels from the valid entries, in units of the softness:
# exp(-100) is below float32's smallest normal number.
GAP = 100.0


@dataclasses.dataclass(frozen=True)
class NanRows:
    """Laid-out rows (working axis last) prepared for a method.

    Attributes:
        w: the prepared rows: ``x`` with NaN replaced by 0 (the raw row with
            sentinels for methods on raw values), ``xhat`` with sentinels.
        valid: ``~isnan`` of the rows, in the working order.
        count: valid entries per row, int32, shape ``batch``.
        order: the compacting permutation (valid entries first), or ``None``
            when the rows are in their input order.
    """

    w: aw.Working
    valid: jax.Array
    count: jax.Array
    order: jax.Array | None = None

    @property
    def missing(self) -> jax.Array:
        """NaN entries per row, int32, shape ``batch``."""
        return self.w.n - self.count

    def restore(self, p: jax.Array) -> jax.Array:
        """A SoftIndex (``batch + (n,)``) over the working order, in the input order."""
        if self.order is None:
            return p
        return jnp.take_along_axis(p, jnp.argsort(self.order, axis=-1), axis=-1)

    def empty_to_nan(self, value: jax.Array) -> jax.Array:
        """``value`` (shape ``batch``) with NaN for all-NaN rows (their finite value has no gradient)."""
        return jnp.where(self.count == 0, jnp.full((), jnp.nan, value.dtype), value)


def nan_per_row(
    x: Any,
    axis: Any,
    body: Callable[..., T],
    *,
    standardize: bool,
    method: MethodSpec,
    softness: Any,
    method_kwargs: dict[str, Any] | None = None,
    shared: tuple[jax.Array, ...] = (),
) -> tuple[T, aw.Working]:
    """:func:`~softjax._src.axiswise.per_row` for rows with NaN entries: ``body(NanRows, *shared)``.

    The sorting network gets compacted rows with sentinels above; every other
    method sentinels below, in the input order. ``method_kwargs`` as for
    :func:`~softjax._src.axiswise.per_row`.
    """
    laid = aw.layout(ensure_float(x), axis)
    softness = host_value(softness)
    network = method.name == "sorting_network"
    passed = aw.row_operands(softness, method_kwargs)

    @aw.half_in_float32
    def rows(xw: jax.Array, *operands: jax.Array) -> T:
        row_softness, row_kwargs, operands = aw.split_row_operands(softness, method_kwargs, operands)
        order = None
        if network:
            order = jnp.argsort(jnp.isnan(xw), axis=-1, stable=True)
            xw = jnp.take_along_axis(xw, order, axis=-1)
        prepared = _prepare(laid, xw, standardize, method, row_softness, above=network)
        return body(dataclasses.replace(prepared, order=order), *row_kwargs, *operands)

    return map_rows(rows, laid.x, *shared, *passed), laid


def _prepare(
    laid: aw.Working, xw: jax.Array, standardize: bool, method: MethodSpec, softness: Any, above: bool
) -> NanRows:
    valid = ~jnp.isnan(xw)
    count = jnp.sum(valid, axis=-1, dtype=jnp.int32)
    x = jnp.where(valid, xw, jnp.zeros((), xw.dtype))  # first where: nothing below sees a NaN
    w = dataclasses.replace(laid, x=x, xhat=x)
    if not registry.standardizes(method):  # smooth_sort: the raw row itself, sentinels included
        filled = jnp.where(valid, x, raw_sentinel(x, valid, softness, above))
        return NanRows(dataclasses.replace(w, x=filled, xhat=filled), valid, count)
    if standardize:
        sq = masked_standardize_and_squash(x, valid, count)

        def to_raw(y: jax.Array) -> jax.Array:
            return unsquash(y, sq.mean, sq.scale, sq.unit)

        w = dataclasses.replace(w, xhat=sq.values, unsquash=to_raw, unit=sq.unit)
        sentinel = squashed_sentinel(softness, x.dtype, above)
    else:
        w = aw.prepare_rows(w, False, method, softness)
        # ot transports to anchors in [0, 1]: its sentinels lie beyond those too.
        sentinel = raw_sentinel(w.xhat, valid, softness, above, with_unit=method.name == "ot")
    return NanRows(dataclasses.replace(w, xhat=jnp.where(valid, w.xhat, sentinel)), valid, count)


def _masked_statistics(y: jax.Array, r: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``squash._row_statistics`` over the entries in ``mask``: mean and ``sqrt(var + 1e-6 / r^2)``.

    The same operations with ``where=mask`` in both means: selects, which
    neither change a value nor add a term to a gradient where ``mask`` is
    all true.
    """
    mean_y = jnp.mean(y, axis=-1, keepdims=True, where=mask)
    var_y = jnp.mean((y - mean_y) ** 2, axis=-1, keepdims=True, where=mask)
    r_hi, r_lo = jnp.maximum(r, 1.0), jnp.minimum(r, 1.0)
    arg_hi = var_y + 1e-6 / (r_hi * r_hi)
    positive = arg_hi > 0
    scale_hi = jnp.where(positive, jnp.sqrt(jnp.where(positive, arg_hi, 1.0)), 1.0)
    return mean_y, jnp.where(r >= 1, scale_hi, jnp.sqrt(var_y * (r_lo * r_lo) + 1e-6) / r_lo)


def masked_standardize_and_squash(x: jax.Array, valid: jax.Array, count: jax.Array) -> Squashed:
    """:func:`~softjax._src.kernels.squash.standardize_and_squash` with statistics over the valid entries.

    ``x`` holds 0 at the invalid entries (their squashed values are
    meaningless and replaced by sentinels afterwards; an all-invalid row is
    standardized as the zeros it holds). The operations are those of
    ``standardize_and_squash`` with the means restricted to the valid
    entries, so a row without an invalid entry gets its values and
    gradients bit for bit.
    """
    mask = valid | (count == 0)[..., None]
    r = power_of_two_scale(x)  # the zeros at invalid entries never raise max |x|
    unit = carried_unit(x, r)
    mean_y, scale_y = _masked_statistics(x / r, r, mask)
    y = rescale(x, 1.0 / r, unit / r)
    mean_v, scale_v = _masked_statistics(y, r, mask)
    return Squashed(jax.nn.sigmoid((y - mean_v) / scale_v), mean_y * r, scale_y * r, unit)


def squashed_sentinel(softness: Any, dtype: Any, above: bool) -> jax.Array:
    """``-(1 + 100 s)`` or ``2 + 100 s``: beyond squashed values (in ``(0, 1)``) by ``1 + 100 s``."""
    work = jnp.promote_types(dtype, jnp.float32)
    s = jax.lax.stop_gradient(jnp.asarray(softness, work))
    edge = jnp.minimum(1 + GAP * s, float(jnp.finfo(dtype).max) / 4)
    return (1 + edge if above else -edge).astype(dtype)


def raw_sentinel(
    v: jax.Array, valid: jax.Array, softness: Any, above: bool, with_unit: bool = False
) -> jax.Array:
    """``max + (range + 100 s)`` or ``min - (range + 100 s)`` over the valid ``v``, finite, no gradient.

    Formed in quarters so that no intermediate overflows, then clamped to the
    dtype's finite range (shape ``batch + (1,)``; ``+-100 s`` for an all-NaN
    row). ``with_unit``: the range also covers ``[0, 1]``.
    """
    info = jnp.finfo(v.dtype)
    big = jnp.asarray(info.max, v.dtype)
    v = jax.lax.stop_gradient(v)
    present = jnp.any(valid, axis=-1, keepdims=True)
    lo = jnp.where(present, jnp.min(jnp.where(valid, v, big), axis=-1, keepdims=True), 0)
    hi = jnp.where(present, jnp.max(jnp.where(valid, v, -big), axis=-1, keepdims=True), 0)
    if with_unit:
        lo, hi = jnp.minimum(lo, 0), jnp.maximum(hi, 1)
    quarter = hi / 4 - lo / 4  # a quarter of the range
    pad = jax.lax.stop_gradient(jnp.asarray(softness, v.dtype)) * (GAP / 4)
    edge = hi / 4 + quarter + pad if above else lo / 4 - quarter - pad
    return 4 * jnp.clip(edge, -big / 4, big / 4)


def order_statistics(
    q: jax.Array, count: jax.Array, quantile_method: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``quantiles._order_statistic`` on ``count`` entries per row (at least one): ``(k, k_next, a)``."""
    from softjax._src.quantiles import _order_statistic

    # Its body uses n only in array arithmetic, where a per-row count broadcasts.
    return _order_statistic(q, cast(Any, jnp.maximum(count, 1)), quantile_method)


def per_row_call(fn: Callable[..., Any], *arrays: Any, batch: tuple[int, ...]) -> Any:
    """``fn`` on single rows, ``vmap``-ed over the flattened ``batch`` axes leading every array."""
    flat = [jnp.reshape(a, (-1, *jnp.shape(a)[len(batch) :])) for a in arrays]
    out = jax.vmap(fn)(*flat)
    return jax.tree.map(lambda o: o.reshape(batch + o.shape[1:]), out)


def mask_index(p: jax.Array, valid: jax.Array, log: bool) -> jax.Array:
    """Exactly zero weight (``-inf`` log-weight) at the invalid entries."""
    return jnp.where(valid, p, jnp.full((), -jnp.inf if log else 0, p.dtype))


def finish_index(p: jax.Array, valid: jax.Array, return_log_probs: bool, log_prob_eps: Any) -> jax.Array:
    """``axiswise.finish_probs`` keeping invalid entries at zero (``-inf``): eps clips valid ones only."""
    p = mask_index(p, valid, False)
    if not return_log_probs:
        return p
    if log_prob_eps is not None:
        p = jnp.where(valid, jnp.clip(p, log_prob_eps, 1.0), 0)
        total = jnp.sum(p, axis=-1, keepdims=True)
        p = p / jnp.where(total > 0, total, 1)
    return log_or_neg_inf(p)


def index_output(
    compute: Callable[[bool], jax.Array], valid: jax.Array, return_log_probs: bool, log_prob_eps: Any
) -> jax.Array:
    """``axiswise.index_output`` for masked rows (``compute`` masks its own output)."""
    if return_log_probs and log_prob_eps is None:
        return compute(True)
    return finish_index(compute(False), valid, return_log_probs, log_prob_eps)


def method_kwargs(kw: dict[str, Any], method: MethodSpec, mode: str, rows: NanRows) -> dict[str, Any]:
    """``kw`` with the softness a method needs on rows with sentinels.

    Transport (``ot``) in the sparse modes: the valid entries carry mass
    ``1/n`` instead of ``1/n_v``, which scales the p-norm regulariser of
    their sub-plan by ``(n_v/n)^(p-1)``; the softness is scaled back per row
    so that the valid entries see the problem on their own. Entropy (smooth)
    is invariant, and so is every other method.
    """
    if method.name != "ot" or mode == "smooth":
        return kw
    n = rows.w.n
    dtype = jnp.promote_types(rows.w.xhat.dtype, jnp.float32)
    ratio = n / jnp.maximum(rows.count, 1).astype(dtype)
    factor = {"c0": ratio, "c1": jnp.sqrt(ratio), "c2": jnp.cbrt(ratio)}[mode]
    factor = jnp.where(rows.count == n, jnp.ones((), dtype), factor)
    softness = jax.lax.stop_gradient(factor)[..., None] * jnp.asarray(kw["softness"], dtype)
    return {**kw, "softness": softness}
