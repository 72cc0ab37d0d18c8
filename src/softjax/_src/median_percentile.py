"""Soft medians and percentiles: :func:`~softjax._src.quantiles.argquantile`
and :func:`~softjax._src.quantiles.quantile` at ``q = 0.5`` (``"midpoint"``,
as ``jnp.median``) and at ``q = p / 100``.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.typing import ArrayLike

from softjax._src.docstrings import documented_like
from softjax._src.quantiles import _argquantile, _check_q, _quantile, argquantile, quantile
from softjax._src.types import Method, Mode, QuantileMethod, SoftIndex


@documented_like(argquantile)
def argmedian(
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "neuralsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    return_log_probs: bool = False,
    log_prob_eps: float | ArrayLike | None = None,
) -> SoftIndex:
    """Soft index of the median: :func:`argquantile` at ``q=0.5`` with ``"midpoint"``.

    Returns:
        SoftIndex of shape ``jnp.median(x, axis, keepdims=keepdims).shape + (n,)``.

    Examples:
        >>> import softjax as sj
        >>> sj.argmedian(jnp.array([0.2, 1.7, -0.5, 0.9]), mode="hard")
        Array([0.5, 0. , 0. , 0.5], dtype=float32)
    """
    return argquantile(
        x,
        0.5,
        axis,
        keepdims,
        softness,
        mode,
        method,
        "midpoint",
        standardize,
        ot_kwargs,
        return_log_probs,
        log_prob_eps,
    )


@documented_like(quantile)
def median(
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
    """Soft ``jnp.median``: :func:`quantile` at ``q=0.5`` with ``"midpoint"``.

    Returns:
        Array of shape ``jnp.median(x, axis, keepdims=keepdims).shape``.

    Examples:
        >>> import softjax as sj
        >>> sj.median(jnp.array([0.2, 1.7, -0.5, 0.9]), mode="hard")
        Array(0.55, dtype=float32)
    """
    return quantile(
        x, 0.5, axis, keepdims, softness, mode, method, "midpoint", standardize, ot_kwargs, gated_grad
    )


@documented_like(argquantile)
def argpercentile(
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
    return_log_probs: bool = False,
    log_prob_eps: float | ArrayLike | None = None,
) -> SoftIndex:
    """:func:`argquantile` at ``q = p / 100`` (``p`` in ``[0, 100]``).

    Args:
        p: percentile(s) in ``[0, 100]``, scalar or 1-D (a 1-D ``p`` prepends an
            axis).

    Returns:
        SoftIndex of shape ``p.shape + reduced_shape + (n,)``, where
            ``reduced_shape`` is ``jnp.percentile(x, 50, axis, keepdims=keepdims).shape``.

    Examples:
        >>> import softjax as sj
        >>> sj.argpercentile(jnp.array([0.2, 1.7, -0.5]), 100.0, mode="hard")
        Array([0., 1., 0.], dtype=float32)
    """
    return _argquantile(
        x,
        _check_q(p, "p", 100.0),
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


@documented_like(quantile)
def percentile(
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
    """:func:`quantile` at ``q = p / 100`` (``p`` in ``[0, 100]``).

    Args:
        p: percentile(s) in ``[0, 100]``, scalar or 1-D (a 1-D ``p`` prepends an
            axis).

    Returns:
        Array of shape ``jnp.percentile(x, p, axis, keepdims=keepdims).shape``.

    Examples:
        >>> import softjax as sj
        >>> sj.percentile(jnp.array([0.2, 1.7, -0.5]), 100.0, mode="hard")
        Array(1.7, dtype=float32)
    """
    return _quantile(
        x,
        _check_q(p, "p", 100.0),
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
