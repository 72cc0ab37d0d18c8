"""Distribution objectives of ``softjax.losses``: trimmed mean, quantile (pinball) loss, sorted MSE.

The conventions they share are stated in :mod:`softjax.losses`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softjax._src.loss_inputs import _check, _last, _pair
from softjax._src.sorting import sort
from softjax._src.steps import softrelu
from softjax._src.types import Method, Mode
from softjax._src.validation import (
    MODES,
    concrete_or_none,
    ensure_float,
    validate_mode,
    validate_softness,
)


def _check_trim(trim: Any) -> float:
    value = concrete_or_none(trim)
    if value is None:
        raise TypeError(f"trim must be a concrete (static) number, got the traced value {trim!r}")
    if value.ndim != 0 or not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
        raise TypeError(f"trim must be a scalar number, got {trim!r}")
    t = float(value)
    if not 0 <= t < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got trim={t}")
    return t


def trimmed_mean(
    x: ArrayLike,
    trim: float,
    *,
    axis: int = -1,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "fast_soft_sort",
) -> jax.Array:
    r"""Soft trimmed mean: the mean of the soft-sorted values without ``int(trim * n)`` at each end.

    $$\bar x_{\mathrm{trim}} = \frac{1}{n - 2g} \sum_{j=g}^{n-g-1} x_{(j)},
    \qquad g = \lfloor \mathrm{trim}\cdot n \rfloor,$$

    with $x_{(j)}$ the soft-sorted values (:func:`softjax.sort`, ascending,
    0-based). The cut $g$ is computed exactly as ``scipy.stats.trim_mean``
    does (``int(trim * n)`` in Python floats, no fractional weights), so
    ``mode="hard"`` equals ``scipy.stats.trim_mean(x, trim, axis)``; the soft
    modes put the same weights on the soft-sorted values. The hard trimmed
    mean is already continuous (piecewise linear) in ``x``: the soft sort
    spreads the gradient of the values near the cut over their neighbours.
    With the default ``method="fast_soft_sort"`` (O(n log n), exact) the
    sort stays hard until ``softness`` is of order 1 or more for moderate
    ``n`` (see :func:`softjax.sort`); ``"neuralsort"`` softens at smaller
    ``softness``.

    Args:
        x: input array, at least one axis.
        trim: the fraction cut at each end, a concrete number in ``[0, 0.5)``.
        axis: the axis to reduce (default ``-1``).
        softness: ``s > 0`` (scalar) of the soft sort (scale-free, the rows
            are standardized first); ``s -> 0`` recovers the hard sort.
        mode: ``"hard"`` (``jnp.sort``), ``"smooth"``, ``"c0"``, ``"c1"``,
            ``"c2"``.
        method: the soft-sort method (default ``"fast_soft_sort"``; any method
            of :func:`softjax.sort`).

    Returns:
        The trimmed mean: ``x``'s shape without ``axis``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([1.0, 2.0, 3.0, 4.0, 10.0])
        >>> sj.losses.trimmed_mean(x, 0.2, mode="hard")
        Array(3., dtype=float32)
        >>> sj.losses.trimmed_mean(x, 0.2, softness=1.0)
        Array(3.2927..., dtype=float32)
    """
    _check(mode, softness, method)
    t = _check_trim(trim)
    x = _last(ensure_float(x), axis, "x")
    n = x.shape[-1]
    g = int(t * n)
    xs = sort(x, axis=-1, softness=softness, mode=mode, method=method)
    return jnp.mean(xs[..., g : n - g], axis=-1)


# --- pinball -----------------------------------------------------------------------


def quantile_loss(
    pred: ArrayLike,
    target: ArrayLike,
    q: float | ArrayLike,
    *,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
) -> jax.Array:
    r"""Soft pinball (quantile) loss, elementwise.

    With the residual $u = \mathrm{target} - \mathrm{pred}$ the hard loss is
    $\max(q u, (q - 1) u)$, minimised in expectation by the $q$-quantile of
    the target. The soft loss is

    $$\ell_s(u) = q u + R(-u),$$

    $R$ the soft ReLU of ``mode`` (:func:`softjax.softrelu`, the
    antiderivative of the step; ``"smooth"``: $s\,\mathrm{softplus}(x/s)$).
    Since $R(x) - R(-x) = x$ this equals $(q - 1)u + R(u)$, and
    $\ell_s \ge \ell$ with equality outside the band $|u| < 5s$ in the
    piecewise modes. No sort is involved: only the kink at $u = 0$ is softened.

    Args:
        pred: predicted quantiles.
        target: observed values, broadcastable with ``pred``.
        q: quantile level(s) in ``[0, 1]``, broadcastable with ``pred``.
        softness: ``s > 0``, the width of the smoothed kink in the units of
            the residual (scalar or broadcastable); ``s -> 0`` recovers the
            pinball loss.
        mode: ``"hard"`` (exact pinball), ``"smooth"``, ``"c0"``, ``"c1"``,
            ``"c2"``.

    Returns:
        The elementwise loss, of the broadcast shape of ``pred``, ``target``
            and ``q`` (average it for the training loss).

    Examples:
        >>> import softjax as sj
        >>> pred = jnp.array([0.0, 0.0, 0.0])
        >>> target = jnp.array([-1.0, 0.0, 2.0])
        >>> sj.losses.quantile_loss(pred, target, 0.75, mode="hard")
        Array([0.25, 0.  , 1.5 ], dtype=float32)
        >>> sj.losses.quantile_loss(pred, target, 0.75, mode="c0")
        Array([0.25 , 0.125, 1.5  ], dtype=float32)
    """
    validate_mode(mode, MODES)
    if mode != "hard":
        validate_softness(softness)
    qv = concrete_or_none(q)
    if qv is not None:
        if qv.dtype == object or not np.issubdtype(qv.dtype, np.number):
            raise TypeError(f"q must be a number or array of numbers, got {q!r}")
        if not np.all((qv >= 0) & (qv <= 1)):
            raise ValueError(f"q must be in [0, 1], got q={qv}")
    pred, target = ensure_float(pred), ensure_float(target)
    dtype = jnp.result_type(pred, target)
    q = jnp.asarray(q, dtype)
    try:
        jnp.broadcast_shapes(pred.shape, target.shape, q.shape)
    except ValueError:
        raise ValueError(
            f"pred, target and q must have broadcastable shapes, got {pred.shape}, {target.shape}, {q.shape}"
        ) from None
    u = target.astype(dtype) - pred.astype(dtype)
    if mode == "hard":
        return jnp.maximum(q * u, (q - 1) * u)
    return q * u + softrelu(-u, softness, mode)


# --- sorted-values distance --------------------------------------------------------


def sort_mse(
    x: ArrayLike,
    y: ArrayLike,
    *,
    axis: int = -1,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "fast_soft_sort",
) -> jax.Array:
    r"""Mean squared difference of the soft-sorted ``x`` and the sorted ``y``: a soft squared 1-D $W_2$.

    $$\frac1n \sum_{j=1}^{n} \big(x_{(j)} - y_{(j)}\big)^2,$$

    with $x_{(j)}$ the soft-sorted ``x`` (:func:`softjax.sort`) and $y_{(j)}$
    the hard-sorted ``y``. In ``mode="hard"`` it is exactly the squared
    2-Wasserstein distance between the empirical distributions of the two rows
    (equal lengths, uniform weights). ``y`` is always sorted hard (the usual
    role of a fixed target sample); its gradient is that of the hard sort (a
    permutation), which is already exact for $W_2^2$. The hard $W_2^2$ is
    differentiable almost everywhere in ``x`` as well; the soft sort blends the
    order statistics of near-ties. With the default
    ``method="fast_soft_sort"`` (O(n log n), exact) the sort stays hard until
    ``softness`` is of order 1 or more for moderate ``n``.

    Args:
        x: samples, at least one axis.
        y: target samples, broadcastable with ``x`` and of the same length
            along ``axis``.
        axis: the sample axis (default ``-1``).
        softness: ``s > 0`` (scalar) of the soft sort of ``x`` (scale-free, the
            rows are standardized first); ``s -> 0`` recovers the hard sort.
        mode: ``"hard"`` (``jnp.sort``), ``"smooth"``, ``"c0"``, ``"c1"``,
            ``"c2"``.
        method: the soft-sort method (default ``"fast_soft_sort"``; any method
            of :func:`softjax.sort`).

    Returns:
        The broadcast shape of ``x`` and ``y`` without ``axis``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([3.0, 1.0, 2.0])
        >>> y = jnp.array([0.0, 2.0, 4.0])
        >>> sj.losses.sort_mse(x, y, mode="hard")
        Array(0.666666..., dtype=float32)
        >>> sj.losses.sort_mse(x, y, softness=3.0)
        Array(1.3727..., dtype=float32)
    """
    _check(mode, softness, method)
    xs, ys = _pair(x, y, axis, ("x", "y"))
    xs = sort(xs, axis=-1, softness=softness, mode=mode, method=method)
    ys = jnp.sort(ys, axis=-1)
    return jnp.mean((xs - ys) ** 2, axis=-1)


__all__ = ["quantile_loss", "sort_mse", "trimmed_mean"]
