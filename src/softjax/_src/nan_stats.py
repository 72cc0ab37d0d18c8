r"""NaN-aware soft ``nanargmax``, ``nanmax``, ``nanargmin``, ``nanmin``.

``mode="hard"`` is ``jnp.nanmax`` (and friends) bit for bit. The soft modes
apply the soft operator to the valid (non-NaN) entries of each row: NaN
entries get exactly zero weight and zero gradient, a row without NaN gets
the result of :func:`softjax.max` (:func:`softjax.argmax`, ...; the same
computation: equal up to how XLA fuses each program), and
an all-NaN row gives NaN (an all-zero SoftIndex row for the ``arg``
operators, the one-hot of ``jnp.nanargmax``'s ``-1``) with zero gradients.
See :mod:`softjax._src.nan_rows` for how rows are prepared, and the
"NaN-aware statistics" page of the documentation for how exactly each
method reproduces the valid-subset result.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src import axiswise as aw, extrema, nan_rows as nr
from softjax._src.docstrings import documented_like
from softjax._src.methods import registry
from softjax._src.nan_sorted import sorted_valid
from softjax._src.nan_transport import transport_rows
from softjax._src.types import Method, Mode, SoftIndex
from softjax._src.validation import ensure_float


def _index_mask(x: jax.Array, axis: int | None, keepdims: bool) -> jax.Array:
    """``~isnan(x)`` laid out like the SoftIndex of a reduction over ``axis``."""
    laid = aw.layout(~jnp.isnan(x), axis)
    return laid.reduced(laid.x, keepdims)


@documented_like(extrema.argmax)
def nanargmax(
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "softsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    return_log_probs: bool = False,
    log_prob_eps: float | ArrayLike | None = None,
) -> SoftIndex:
    r"""Soft ``jnp.nanargmax``: :func:`softjax.argmax` over the non-NaN entries.

    Each row's valid entries $V$ (not NaN) get the distribution that
    :func:`softjax.argmax` gives the row $x_V$ alone; NaN entries get weight
    exactly 0 (log-weight $-\infty$) and no gradient. With
    ``log_prob_eps`` only valid entries are clipped to ``eps``. An all-NaN
    row gives an all-zero row in every mode: the one-hot of
    ``jnp.nanargmax``'s ``-1``.

    Args:
        mode: ``"hard"`` (one-hot of ``jnp.nanargmax``), or the simplex
            regulariser ``"smooth"`` (entropy), ``"c0"`` (L2, sparse),
            ``"c1"`` (p = 3/2), ``"c2"`` (p = 4/3).
        method: ``"softsort"`` (default), ``"neuralsort"``, ``"ot"`` or
            ``"sorting_network"``, as in :func:`softjax.argmax`.
        standardize: standardize-and-squash the valid entries along ``axis``
            first (statistics over the valid entries), so ``softness`` is
            scale-free.
        return_log_probs: return log-probabilities.
        log_prob_eps: if set, clip the valid entries' probabilities to
            ``[eps, 1]`` and renormalise before the log.

    Returns:
        SoftIndex of shape ``jnp.nanargmax(x, axis, keepdims).shape + (n,)``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([0.0, jnp.nan, 1.0, 3.0])
        >>> sj.nanargmax(x, mode="hard")
        Array([0., 0., 0., 1.], dtype=float32)
        >>> sj.nanargmax(x, softness=0.5)
        Array([0.18689688, 0.        , 0.26681256, 0.5462905 ], dtype=float32)
        >>> sj.argmax(jnp.array([0.0, 1.0, 3.0]), softness=0.5)  # the valid entries alone
        Array([0.18689688, 0.26681256, 0.5462905 ], dtype=float32)
        >>> sj.nanargmax(jnp.array([jnp.nan, jnp.nan]), mode="hard")  # all NaN
        Array([0., 0.], dtype=float32)
    """
    aw.check_log_args(return_log_probs, log_prob_eps)
    aw.check_mode_and_softness(mode, softness)
    if mode == "hard":
        x, n = aw.reduce_axis_length(x, axis)
        p = aw.one_hot(jnp.nanargmax(x, axis=axis, keepdims=keepdims), n, aw.float_dtype(x))
        return nr.finish_index(p, _index_mask(x, axis, keepdims), return_log_probs, log_prob_eps)
    spec, module = registry.load(method, "index", mode)
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)
    network = spec.name == "sorting_network"

    def rows(r: nr.NanRows, kw: dict[str, Any]) -> jax.Array:
        xhat = r.w.xhat

        def compute(log: bool) -> jax.Array:
            if network:  # sentinels above: the largest valid entry is ascending row n_v - 1
                coeffs = jax.nn.one_hot(r.count - 1, r.w.n, dtype=xhat.dtype)[..., None, :]
                p = module._maybe_log(module._combine(xhat, kw["softness"], coeffs, mode)[..., 0, :], log)
            elif spec.name == "ot":
                p = transport_rows(module, r, kw, nr.method_kwargs(kw, spec, mode, r), log)[0]
            else:
                p = module.argmax(xhat, log=log, **kw)
            return r.restore(nr.mask_index(p, r.valid, log))

        p = nr.index_output(compute, r.restore(r.valid), return_log_probs, log_prob_eps)
        return r.w.true_tangent(p)

    p, w = nr.nan_per_row(
        x, axis, rows, standardize=standardize, method=spec, softness=softness, method_kwargs=kw
    )
    return w.reduced(p, keepdims)


@documented_like(extrema.max)
def nanmax(
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "softsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    gated_grad: bool = True,
) -> jax.Array:
    r"""Soft ``jnp.nanmax``: :func:`softjax.max` over the non-NaN entries.

    Each row's value is that of :func:`softjax.max` on its valid entries
    $x_V$ alone: $\sum_{j \in V} P_j x_j$ with $P$ from :func:`nanargmax`
    (``softsort``, ``neuralsort``, ``ot``), or the largest entry of the soft
    sort of $x_V$ (``sorting_network``, ``fast_soft_sort``, ``smooth_sort``).
    NaN entries get zero gradient; an all-NaN row gives NaN (zero gradient).

    Args:
        mode: ``"hard"`` (``jnp.nanmax``), or the regulariser ``"smooth"``
            (entropy), ``"c0"`` (L2, sparse), ``"c1"`` (p = 3/2), ``"c2"``
            (p = 4/3).
        standardize: standardize-and-squash the valid entries along ``axis``
            before computing the weights (statistics over the valid entries).

    Returns:
        Array of shape ``jnp.nanmax(x, axis, keepdims).shape``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([[0.0, jnp.nan, 1.0, 3.0], [jnp.nan] * 4])
        >>> sj.nanmax(x, axis=1, mode="hard")
        Array([ 3., nan], dtype=float32)
        >>> sj.nanmax(x, axis=1, softness=0.5)
        Array([1.9056841,       nan], dtype=float32)
        >>> sj.max(jnp.array([0.0, 1.0, 3.0]), softness=0.5)  # the valid entries alone
        Array(1.9056841, dtype=float32)
    """
    aw.check_mode_and_softness(mode, softness)
    if mode == "hard":
        return jnp.nanmax(jnp.asarray(x), axis=axis, keepdims=keepdims)
    spec, module = registry.load(method, "values", mode)
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)
    gated = aw.static_bool("gated_grad", gated_grad)

    def rows(r: nr.NanRows, kw: dict[str, Any]) -> jax.Array:
        if spec.sorted_values:
            values, index = sorted_valid(r, spec, module, kw, gated)
            top = jnp.clip(index(r.count - 1), 0, r.w.n - 1)
            value = jnp.take_along_axis(values, top[..., None], axis=-1)[..., 0]
        else:
            if spec.name == "ot":
                p = transport_rows(module, r, kw, nr.method_kwargs(kw, spec, mode, r), False)[0]
            else:
                p = module.argmax(r.w.xhat, log=False, **kw)
            p = nr.mask_index(p, r.valid, False)
            value = aw.contract(p[..., None, :], r.w.x, gated, r.w.unit)[..., 0]
        return r.empty_to_nan(value)

    value, w = nr.nan_per_row(
        x, axis, rows, standardize=standardize, method=spec, softness=softness, method_kwargs=kw
    )
    return w.reduced(value, keepdims)


@documented_like(nanargmax)
def nanargmin(
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "softsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    return_log_probs: bool = False,
    log_prob_eps: float | ArrayLike | None = None,
) -> SoftIndex:
    """Soft ``jnp.nanargmin``: :func:`nanargmax` of ``-x`` (as :func:`softjax.argmin`).

    Args:
        x: input array.
        axis: axis to reduce; ``None`` works on the flattened array.
        keepdims: keep the reduced axis with length 1 (before the SoftIndex axis).
        softness: ``s > 0`` (scalar); ``s -> 0`` recovers the hard result.
        mode: ``"hard"`` (one-hot of ``jnp.nanargmin``), or the simplex
            regulariser ``"smooth"`` (entropy), ``"c0"`` (L2, sparse),
            ``"c1"`` (p = 3/2), ``"c2"`` (p = 4/3).
        method: ``"softsort"`` (default), ``"neuralsort"``, ``"ot"`` or
            ``"sorting_network"``.
        standardize: standardize-and-squash the valid entries along ``axis``
            first, so ``softness`` is scale-free.
        ot_kwargs: solver options for ``method="ot"``.

    Returns:
        SoftIndex of shape ``jnp.nanargmin(x, axis, keepdims).shape + (n,)``;
            all zeros for an all-NaN row.

    Examples:
        >>> import softjax as sj
        >>> sj.nanargmin(jnp.array([0.0, jnp.nan, 1.0, 3.0]), mode="hard")
        Array([1., 0., 0., 0.], dtype=float32)
    """
    if mode == "hard":
        aw.check_log_args(return_log_probs, log_prob_eps)
        x, n = aw.reduce_axis_length(x, axis)
        p = aw.one_hot(jnp.nanargmin(x, axis=axis, keepdims=keepdims), n, aw.float_dtype(x))
        return nr.finish_index(p, _index_mask(x, axis, keepdims), return_log_probs, log_prob_eps)
    return nanargmax(
        -ensure_float(x),
        axis,
        keepdims,
        softness,
        mode,
        method,
        standardize,
        ot_kwargs,
        return_log_probs,
        log_prob_eps,
    )


@documented_like(nanmax)
def nanmin(
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "softsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    gated_grad: bool = True,
) -> jax.Array:
    """Soft ``jnp.nanmin``: ``-nanmax(-x)`` (as :func:`softjax.min`).

    Args:
        mode: ``"hard"`` (``jnp.nanmin``), or the regulariser ``"smooth"``
            (entropy), ``"c0"`` (L2, sparse), ``"c1"`` (p = 3/2), ``"c2"``
            (p = 4/3).

    Returns:
        Array of shape ``jnp.nanmin(x, axis, keepdims).shape``; NaN for an
            all-NaN row.

    Examples:
        >>> import softjax as sj
        >>> sj.nanmin(jnp.array([0.0, jnp.nan, 1.0, 3.0]), mode="hard")
        Array(0., dtype=float32)
    """
    if mode == "hard":
        aw.check_mode_and_softness(mode, softness)
        return jnp.nanmin(jnp.asarray(x), axis=axis, keepdims=keepdims)
    return -nanmax(
        -ensure_float(x), axis, keepdims, softness, mode, method, standardize, ot_kwargs, gated_grad
    )
