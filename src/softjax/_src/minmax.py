r"""Soft ``maximum`` / ``minimum`` (pairwise) and ``ptp`` (range along an axis).

``maximum`` and ``minimum`` are the soft ReLU $R$ of
:func:`~softjax._src.steps.softrelu` applied to the difference,
$\max(x, y) = y + \mathrm{relu}(x - y)$; ``ptp`` is the soft :func:`max`
minus the soft :func:`min` of :mod:`softjax._src.extrema`, with that family's
methods.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src import axiswise as aw, extrema
from softjax._src.division import _float_pair
from softjax._src.docstrings import documented_like
from softjax._src.elementwise import check_broadcast, check_mode
from softjax._src.steps import softrelu
from softjax._src.types import ElementwiseMode, Method, Mode
from softjax._src.validation import validate_softness

__all__ = ["maximum", "minimum", "ptp"]


def maximum(
    x: ArrayLike,
    y: ArrayLike,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
) -> jax.Array:
    r"""Soft ``jnp.maximum``: $y + R(x - y)$, with $R$ the soft ReLU.

    The form is symmetric, $y + R(x - y) = x + R(y - x)$ (since
    $R(d) - R(-d) = d$), and is evaluated around the value the hard maximum
    returns ($x + R(y - x)$ where $x \ge y$), so that $R$ only sees
    non-positive differences: nothing overflows or cancels for operands up
    to the dtype's maximum. The derivatives are $S(x - y)$ and
    $S(y - x) = 1 - S(x - y)$ ($S$ the soft step): a soft selection of the
    larger operand. Smooth: $y + s\,\mathrm{softplus}((x - y)/s)$, which is
    $s$ times the log-sum-exp of $x / s$ and $y / s$; the piecewise modes
    equal the hard maximum once $|x - y| \ge 5s$.

    Args:
        x: first operand.
        y: second operand, broadcastable with ``x``. Hard mode keeps integer
            dtypes (as ``jnp.maximum``).
        softness: $s > 0$ (scalar or array broadcastable against the result).
        mode: ``"hard"`` (``jnp.maximum``), or the soft ReLU's step
            ``"smooth"`` (logistic), ``"c0"``, ``"c1"``, ``"c2"`` (piecewise
            polynomial, band $\pm 5s$).

    Returns:
        Array of the broadcast shape of ``x`` and ``y``; float in soft modes,
            never below the hard maximum (the soft ReLU is non-negative).

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([-1.0, 0.0, 0.2, 2.0])
        >>> sj.maximum(x, 0.0, mode="hard")
        Array([0. , 0. , 0.2, 2. ], dtype=float32)
        >>> sj.maximum(x, 0.0, mode="c1")
        Array([0.        , 0.09375   , 0.22295001, 2.        ], dtype=float32)
    """
    check_mode(mode)
    check_broadcast("maximum", x=x, y=y)
    if mode == "hard":
        return jnp.maximum(x, y)
    validate_softness(softness)
    x, y = _float_pair(x, y)

    def r(d: jax.Array) -> jax.Array:
        return softrelu(d, softness, mode)

    return jnp.where(x >= y, x + r(y - x), y + r(x - y))


@documented_like(maximum)
def minimum(
    x: ArrayLike,
    y: ArrayLike,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
) -> jax.Array:
    r"""Soft ``jnp.minimum``: $y - R(y - x) = -\mathrm{maximum}(-x, -y)$.

    Evaluated around the hard minimum like :func:`maximum`; never above it.
    The derivatives are $S(y - x)$ and $S(x - y)$.

    Args:
        y: second operand, broadcastable with ``x``. Hard mode keeps integer
            dtypes (as ``jnp.minimum``).
        mode: ``"hard"`` (``jnp.minimum``), or the soft ReLU's step
            ``"smooth"`` (logistic), ``"c0"``, ``"c1"``, ``"c2"`` (piecewise
            polynomial, band $\pm 5s$).

    Returns:
        Array of the broadcast shape of ``x`` and ``y``; float in soft modes.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([-1.0, 0.0, 0.2, 2.0])
        >>> sj.minimum(x, 0.0, mode="hard")
        Array([-1.,  0.,  0.,  0.], dtype=float32)
        >>> sj.minimum(x, 0.0, mode="c1")
        Array([-1.     , -0.09375, -0.02295,  0.     ], dtype=float32)
    """
    check_mode(mode)
    check_broadcast("minimum", x=x, y=y)
    if mode == "hard":
        return jnp.minimum(x, y)
    validate_softness(softness)
    x, y = _float_pair(x, y)

    def r(d: jax.Array) -> jax.Array:
        return softrelu(d, softness, mode)

    return jnp.where(x <= y, x - r(x - y), y - r(y - x))


def ptp(
    x: ArrayLike,
    axis: int | None = None,
    keepdims: bool = False,
    *,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "softsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    gated_grad: bool = True,
) -> jax.Array:
    r"""Soft ``jnp.ptp`` (peak to peak): soft ``max`` minus soft ``min`` along ``axis``.

    Both reductions are :func:`softjax.max` and :func:`softjax.min` called
    with the same arguments. For the weighting methods (``softsort``,
    ``neuralsort``, ``ot``) each soft extreme is a convex combination of the
    entries, so the result is 0 for a constant row, invariant under shifting
    ``x``, and at most the hard range; as ``softness -> 0`` it tends to the
    hard range.

    Args:
        x: input array.
        axis: axis to reduce; ``None`` works on the flattened array.
        keepdims: keep the reduced axis with length 1.
        softness: ``s > 0`` (scalar); ``s -> 0`` recovers the hard result.
        mode: ``"hard"`` (``jnp.ptp``), or the regulariser ``"smooth"``
            (entropy), ``"c0"`` (L2, sparse), ``"c1"`` (p = 3/2), ``"c2"``
            (p = 4/3).
        method: any of ``"softsort"`` (default), ``"neuralsort"``, ``"ot"``,
            ``"sorting_network"``, ``"fast_soft_sort"``, ``"smooth_sort"``.
        standardize: standardize-and-squash ``x`` along ``axis`` before
            computing the weights, so ``softness`` is scale-free (the values
            are still read off the raw ``x``).
        ot_kwargs: solver options for ``method="ot"``.
        gated_grad: let gradients flow through the weights as well as ``x``.

    Returns:
        Array of shape ``jnp.ptp(x, axis, keepdims=keepdims).shape``; hard
            mode keeps integer dtypes (as ``jnp.ptp`` does).

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]])
        >>> sj.ptp(x, axis=1, mode="hard")
        Array([3., 0.], dtype=float32)
        >>> sj.ptp(x, axis=1)
        Array([2.77683, 0.     ], dtype=float32)
    """
    if mode == "hard":
        aw.check_mode_and_softness(mode, softness)
        return jnp.ptp(jnp.asarray(x), axis=axis, keepdims=keepdims)
    kw: dict[str, Any] = {
        "softness": softness,
        "mode": mode,
        "method": method,
        "standardize": standardize,
        "ot_kwargs": ot_kwargs,
        "gated_grad": gated_grad,
    }
    return extrema.max(x, axis, keepdims, **kw) - extrema.min(x, axis, keepdims, **kw)
