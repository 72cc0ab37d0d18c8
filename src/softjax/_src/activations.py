r"""Soft versions of the piecewise-linear activations of ``jax.nn``.

``relu6``, ``hard_tanh``, ``hard_sigmoid`` and ``hard_silu`` are clippings
(times $x$ for ``hard_silu``); their soft versions use the soft
:func:`~softjax._src.elementwise.clip`, $a + R(x - a) - R(x - b)$ with $R$
the soft ReLU, so each kink becomes a soft ReLU's bend of width about $10s$
(``"c0"``/``"c1"``/``"c2"``: exactly the band $\pm 5s$ around the kink) and
the function is exact away from the kinks.
"""

from __future__ import annotations

import jax
from jax.typing import ArrayLike

from softjax._src.docstrings import documented_like
from softjax._src.elementwise import check_mode, clip
from softjax._src.types import ElementwiseMode
from softjax._src.validation import ensure_float

__all__ = ["hard_sigmoid", "hard_silu", "hard_tanh", "relu6"]


def relu6(x: ArrayLike, *, softness: float | ArrayLike = 0.1, mode: ElementwiseMode = "smooth") -> jax.Array:
    r"""Soft ``jax.nn.relu6``: $\min(\max(x, 0), 6)$ with both kinks softened.

    Soft: ``clip(x, 0, 6)``, i.e. $R(x) - R(x - 6)$ (written around the hard
    value, see :func:`clip`); monotone, within $[0, 6]$, and equal to the
    hard value outside the bands $\pm 5s$ around 0 and 6 in the piecewise
    modes. Smooth: $s\,\mathrm{softplus}(x/s) - s\,\mathrm{softplus}((x-6)/s)$.

    Args:
        x: input array.
        softness: $s > 0$ (scalar or array broadcastable against ``x``).
        mode: ``"hard"`` (``jax.nn.relu6``, whose result is float), or the
            soft ReLU's step ``"smooth"`` (logistic), ``"c0"``, ``"c1"``,
            ``"c2"`` (piecewise polynomial, band $\pm 5s$).

    Returns:
        Array of ``x``'s shape; float.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([-1.0, 0.0, 3.0, 6.0, 7.0])
        >>> sj.relu6(x, mode="hard")
        Array([0., 0., 3., 6., 6.], dtype=float32)
        >>> sj.relu6(x, mode="c1")
        Array([0.     , 0.09375, 3.     , 5.90625, 6.     ], dtype=float32)
    """
    check_mode(mode)
    if mode == "hard":
        return jax.nn.relu6(x)
    return clip(ensure_float(x), 0.0, 6.0, softness, mode)


@documented_like(relu6)
def hard_tanh(
    x: ArrayLike, *, softness: float | ArrayLike = 0.1, mode: ElementwiseMode = "smooth"
) -> jax.Array:
    r"""Soft ``jax.nn.hard_tanh``: $x$ clipped to $[-1, 1]$ with soft corners.

    Soft: ``clip(x, -1, 1)``, $-1 + R(x + 1) - R(x - 1)$; odd, monotone and
    within $[-1, 1]$.

    Args:
        x: input array. Hard mode keeps integer dtypes (as
            ``jax.nn.hard_tanh`` does).
        mode: ``"hard"`` (``jax.nn.hard_tanh``), or the soft ReLU's step
            ``"smooth"`` (logistic), ``"c0"``, ``"c1"``, ``"c2"`` (piecewise
            polynomial, band $\pm 5s$).

    Returns:
        Array of ``x``'s shape; float in soft modes.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([-2.0, -1.0, 0.5, 1.0])
        >>> sj.hard_tanh(x, mode="hard")
        Array([-1. , -1. ,  0.5,  1. ], dtype=float32)
        >>> sj.hard_tanh(x, mode="c1")
        Array([-1.     , -0.90625,  0.5    ,  0.90625], dtype=float32)
    """
    check_mode(mode)
    if mode == "hard":
        return jax.nn.hard_tanh(x)
    return clip(ensure_float(x), -1.0, 1.0, softness, mode)


@documented_like(relu6, "Returns")
def hard_sigmoid(
    x: ArrayLike, *, softness: float | ArrayLike = 0.1, mode: ElementwiseMode = "smooth"
) -> jax.Array:
    r"""Soft ``jax.nn.hard_sigmoid``: $\mathrm{relu6}(x + 3) / 6$ with soft corners.

    Soft: ``relu6(x + 3) / 6`` with the soft :func:`relu6`, i.e. the ramp from
    0 at $x = -3$ to 1 at $x = 3$ with both kinks replaced by soft ReLU bends
    (``softness`` in units of $x$); monotone and within $[0, 1]$.

    Args:
        mode: ``"hard"`` (``jax.nn.hard_sigmoid``), or the soft ReLU's step
            ``"smooth"`` (logistic), ``"c0"``, ``"c1"``, ``"c2"`` (piecewise
            polynomial, band $\pm 5s$).

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([-4.0, -3.0, 0.0, 3.0])
        >>> sj.hard_sigmoid(x, mode="hard")
        Array([0. , 0. , 0.5, 1. ], dtype=float32)
        >>> sj.hard_sigmoid(x, mode="c1")
        Array([0.      , 0.015625, 0.5     , 0.984375], dtype=float32)
    """
    check_mode(mode)
    if mode == "hard":
        return jax.nn.hard_sigmoid(x)
    return relu6(ensure_float(x) + 3.0, softness=softness, mode=mode) / 6.0


@documented_like(relu6, "Returns")
def hard_silu(
    x: ArrayLike, *, softness: float | ArrayLike = 0.1, mode: ElementwiseMode = "smooth"
) -> jax.Array:
    r"""Soft ``jax.nn.hard_silu`` (hard swish): $x \cdot \mathrm{hard\_sigmoid}(x)$.

    Soft: $x$ times the soft :func:`hard_sigmoid`, so the kinks at $\pm 3$
    are smoothed and the function is $0$ below $-3 - 5s$ and $x$ above
    $3 + 5s$ in the piecewise modes.

    Args:
        mode: ``"hard"`` (``jax.nn.hard_silu``), or the soft ReLU's step
            ``"smooth"`` (logistic), ``"c0"``, ``"c1"``, ``"c2"`` (piecewise
            polynomial, band $\pm 5s$).

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([-4.0, -3.0, 1.0, 3.0])
        >>> sj.hard_silu(x, mode="hard")
        Array([-0.       , -0.       ,  0.6666667,  3.       ], dtype=float32)
        >>> sj.hard_silu(x, mode="c1")
        Array([-0.       , -0.046875 ,  0.6666667,  2.953125 ], dtype=float32)
    """
    check_mode(mode)
    if mode == "hard":
        return jax.nn.hard_silu(x)
    x = ensure_float(x)
    return x * hard_sigmoid(x, softness=softness, mode=mode)
