r"""NaN-aware soft ``nanquantile``, ``nanmedian``, ``nanpercentile``.

``mode="hard"`` is ``jnp.nanquantile`` (``jnp.nanmedian``,
``jnp.nanpercentile``) bit for bit. The soft modes apply
:func:`softjax.quantile` to each row's valid (non-NaN) entries: the
``quantile_method`` interpolation is computed on the valid count ``n_v``
($h = q (n_v - 1)$), the order statistics are read at per-row positions of
the full row (see :mod:`softjax._src.nan_rows`), NaN entries get zero weight
and zero gradient, a row without NaN gets :func:`softjax.quantile`'s result
(the same computation: equal up to how XLA fuses each program), and an
all-NaN row gives NaN with zero gradients.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src import axiswise as aw, nan_rows as nr, quantiles
from softjax._src.docstrings import documented_like
from softjax._src.kernels.neuralsort import neuralsort_rows
from softjax._src.methods import registry
from softjax._src.nan_sorted import sorted_valid
from softjax._src.nan_transport import transport_rows
from softjax._src.quantiles import _INTERPOLATING, QUANTILE_METHODS, _check_q, _levels_first, _mix
from softjax._src.types import Method, Mode, QuantileMethod
from softjax._src.validation import validate_choice


@documented_like(quantiles.quantile)
def nanquantile(
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
    r"""Soft ``jnp.nanquantile``: :func:`softjax.quantile` over the non-NaN entries.

    For a row with valid entries $V$ ($n_v = |V|$), $h = q(n_v - 1)$ and
    ``(k, a)`` from ``quantile_method`` as in :func:`softjax.quantile`, the
    result is $(1-a)\,y_k + a\,y_{k+1}$ with $y$ the soft order statistics of
    $x_V$ alone (``softsort``/``neuralsort``/``ot``: $\sum_{j\in V} P_j x_j$
    with the rows $P$ of those order statistics). NaN entries get zero weight
    and zero gradient; an all-NaN row gives NaN.

    Args:
        mode: ``"hard"`` (``jnp.nanquantile``), or ``"smooth"``, ``"c0"``,
            ``"c1"``, ``"c2"`` (the relaxation of the chosen ``method``).
        quantile_method: ``"linear"``, ``"lower"``, ``"higher"``,
            ``"nearest"``, ``"midpoint"`` (as ``jnp.nanquantile``).
        standardize: standardize-and-squash the valid entries along ``axis``
            first (statistics over the valid entries), so ``softness`` is
            scale-free.

    Returns:
        Array of shape ``jnp.nanquantile(x, q, axis, keepdims=keepdims).shape``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([0.2, jnp.nan, 1.7, -0.5, 0.9])
        >>> sj.nanquantile(x, 0.5, mode="hard")
        Array(0.55, dtype=float32)
        >>> print(f"{sj.nanquantile(x, 0.5):.5f}")  # the soft quantile of the 4 numbers
        0.54369
        >>> valid_only = sj.quantile(jnp.array([0.2, 1.7, -0.5, 0.9]), 0.5)
        >>> bool(jnp.isclose(sj.nanquantile(x, 0.5), valid_only))  # up to float32 rounding
        True
    """
    return _nanquantile(
        x,
        q,
        1.0,
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


def _nanquantile(
    x: ArrayLike,
    q: Any,
    upper: float,
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
    """``q`` is a quantile (``upper = 1``) or a percentile (``upper = 100``)."""
    levels = _check_q(q, "p" if upper == 100 else "q", upper)
    aw.check_mode_and_softness(mode, softness)
    validate_choice("quantile_method", quantile_method, QUANTILE_METHODS)
    if mode == "hard":
        hard = jnp.nanpercentile if upper == 100 else jnp.nanquantile
        return hard(jnp.asarray(x), jnp.asarray(q), axis=axis, method=quantile_method, keepdims=keepdims)
    gated = aw.static_bool("gated_grad", gated_grad)
    interpolating = quantile_method in _INTERPOLATING
    spec, module = registry.load(method, "values", mode)
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)

    def rows(r: nr.NanRows, kw: dict[str, Any], qs: jax.Array) -> jax.Array:
        per_level = _sorted_levels(r, spec, module, kw, gated) if spec.sorted_values else None

        def at(level: jax.Array) -> jax.Array:
            k, k_next, a = nr.order_statistics(level.astype(r.w.x.dtype), r.count, quantile_method)
            if per_level is not None:
                value = _mix(per_level(k), per_level(k_next), a, interpolating, log=False)
            else:
                value = _contracted(r, spec, module, kw, mode, k, k_next, a, interpolating, gated)
            return r.empty_to_nan(value)

        if qs.ndim == 0:
            return at(qs)
        return jnp.moveaxis(jax.vmap(at)(qs), 0, r.w.x.ndim - 1)

    out, w = nr.nan_per_row(
        x,
        axis,
        rows,
        standardize=standardize,
        method=spec,
        softness=softness,
        method_kwargs=kw,
        shared=(levels,),
    )
    return _levels_first(w, out, levels, keepdims)


def _sorted_levels(r: nr.NanRows, spec: Any, module: Any, kw: dict[str, Any], gated: bool) -> Any:
    """The ``k``-th smallest valid value per row (``k`` of shape ``batch``), from one soft sort."""
    values, index = sorted_valid(r, spec, module, kw, gated)

    def pick(k: jax.Array) -> jax.Array:
        position = jnp.clip(index(k), 0, r.w.n - 1)
        return jnp.take_along_axis(values, position[..., None], axis=-1)[..., 0]

    return pick


def _contracted(
    r: nr.NanRows,
    spec: Any,
    module: Any,
    kw: dict[str, Any],
    mode: str,
    k: jax.Array,
    k_next: jax.Array,
    a: jax.Array,
    interpolating: bool,
    gated: bool,
) -> jax.Array:
    """``sum_j P_j x_j`` with the rows of the valid order statistics ``k``, ``k_next`` (per row)."""
    row_kw = nr.method_kwargs(kw, spec, mode, r)
    if spec.name == "ot":
        row_k, row_next = transport_rows(module, r, kw, row_kw, False, k, k_next, interpolating)
    elif spec.name == "neuralsort":
        # Sentinels below: the k-th smallest valid entry is the (m + k)-th of the row.
        row_k, row_next = _neuralsort_rows(
            module, r.w.xhat, r.missing + k, r.missing + k_next, kw["softness"], mode
        )
    else:

        def one(xhat: jax.Array, k: jax.Array, k_next: jax.Array) -> Any:
            return module.quantile_rows(xhat, k, k_next, log=False, interpolating=interpolating, **row_kw)

        batch = r.count.shape
        row_k, row_next = nr.per_row_call(one, r.w.xhat, r.missing + k, r.missing + k_next, batch=batch)
    p = nr.mask_index(_mix(row_k, row_next, a[..., None], interpolating, log=False), r.valid, False)
    return aw.contract(p[..., None, :], r.w.x, gated, r.w.unit)[..., 0]


def _neuralsort_rows(
    module: Any, xhat: jax.Array, k: jax.Array, k_next: jax.Array, softness: Any, mode: str
) -> tuple[jax.Array, jax.Array]:
    """``neuralsort.quantile_rows`` with per-row ``k``, ``k_next`` (shape ``batch``), without ``vmap``.

    The coefficients become one pair per row and broadcast against the rows
    exactly as the shared pair does, so a row without NaN gets the same
    operations (and gradients) as in :func:`softjax.quantile`.
    """
    n = xhat.shape[-1]
    pairwise = module._pairwise(xhat, softness, mode)
    # Ascending order statistic i (0-based) has coefficient 2(i + 1) - n - 1.
    coef = (2 * (jnp.stack([k, k_next], axis=-1) + 1) - n - 1).astype(xhat.dtype)
    rows = neuralsort_rows(coef, xhat, pairwise, softness, mode, False)
    return rows[..., 0, :], rows[..., 1, :]


@documented_like(nanquantile)
def nanmedian(
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "neuralsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    gated_grad: bool = True,
) -> jax.Array:
    """Soft ``jnp.nanmedian``: :func:`nanquantile` at ``q=0.5``, ``"midpoint"`` (as :func:`softjax.median`).

    Args:
        mode: ``"hard"`` (``jnp.nanmedian``), or ``"smooth"``, ``"c0"``,
            ``"c1"``, ``"c2"`` (the relaxation of the chosen ``method``).

    Returns:
        Array of shape ``jnp.nanmedian(x, axis, keepdims=keepdims).shape``;
            NaN for an all-NaN row.

    Examples:
        >>> import softjax as sj
        >>> sj.nanmedian(jnp.array([0.2, jnp.nan, 1.7, -0.5, 0.9]), mode="hard")
        Array(0.55, dtype=float32)
    """
    if mode == "hard":
        aw.check_mode_and_softness(mode, softness)
        return jnp.nanmedian(jnp.asarray(x), axis=axis, keepdims=keepdims)
    return _nanquantile(
        x, 0.5, 1.0, axis, keepdims, softness, mode, method, "midpoint", standardize, ot_kwargs, gated_grad
    )


@documented_like(nanquantile)
def nanpercentile(
    x: ArrayLike,
    p: float | ArrayLike,
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
    """:func:`nanquantile` at ``q = p / 100`` (``p`` in ``[0, 100]``), as :func:`softjax.percentile`.

    Args:
        p: percentile(s) in ``[0, 100]``, scalar or 1-D (a 1-D ``p`` prepends an
            axis).
        mode: ``"hard"`` (``jnp.nanpercentile``), or ``"smooth"``, ``"c0"``,
            ``"c1"``, ``"c2"`` (the relaxation of the chosen ``method``).
        quantile_method: ``"linear"``, ``"lower"``, ``"higher"``,
            ``"nearest"``, ``"midpoint"`` (as ``jnp.nanpercentile``).

    Returns:
        Array of shape ``jnp.nanpercentile(x, p, axis, keepdims=keepdims).shape``;
            NaN for an all-NaN row.

    Examples:
        >>> import softjax as sj
        >>> sj.nanpercentile(jnp.array([0.2, jnp.nan, 1.7, -0.5]), 100.0, mode="hard")
        Array(1.7, dtype=float32)
    """
    return _nanquantile(
        x,
        p,
        100.0,
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
