r"""Soft comparison operators returning SoftBools.

All take ``(x, y, softness=0.1, mode="smooth", epsilon=1e-10)`` (``isclose``
has ``rtol``, ``atol`` *before* ``mode``). ``x`` is promoted with
``ensure_float`` (``y`` is not); ``x`` and ``y`` broadcast. ``"hard"`` casts
the ``jax.numpy`` comparison to ``x``'s float dtype and ignores ``softness``
and ``epsilon``. In soft modes $S$ is :func:`sigmoidal` and
$|v|_S = v\,(2S(v) - 1)$ the soft absolute value (same ``softness``/``mode``).

``epsilon`` breaks ties at ``x == y``: strict comparisons give slightly less
than 1/2 and non-strict ones slightly more, so that for ``softness -> 0`` they
tend to the hard results.

Deliberate deviation from prior implementations: ``equal``,
``not_equal`` and ``isclose`` are clipped to ``[0, 1]``; without the clip they
exceed 1 (or go below 0) at or near equality, up to 2 (-1) in the near-hard
limit. Values that were already inside ``[0, 1]`` are unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src.docstrings import documented_like
from softjax._src.elementwise import abs as soft_abs, check_broadcast, check_mode
from softjax._src.steps import sigmoidal
from softjax._src.types import ElementwiseMode, SoftBool
from softjax._src.validation import ensure_float


def _prepare(name: str, x: ArrayLike, y: ArrayLike, mode: str) -> tuple[jax.Array, jax.Array]:
    check_mode(mode)
    check_broadcast(name, x=x, y=y)
    return ensure_float(x), jnp.asarray(y)


def greater(
    x: ArrayLike,
    y: ArrayLike,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x > y$: hard ``jnp.greater``; soft $S(x - y - \varepsilon)$.

    Args:
        x: first operand (ints/bools are promoted to the default float).
        y: second operand, broadcastable with ``x``.
        softness: $s > 0$ (scalar or array broadcastable with ``x - y``).
        mode: ``"hard"``, ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.
        epsilon: tie-breaking shift $\varepsilon$ (soft modes only).

    Returns:
        SoftBool of the broadcast shape of ``x`` and ``y``.

    Raises:
        ValueError: unknown ``mode``, non-broadcastable shapes, or a
            non-positive concrete ``softness``.

    Examples:
        >>> import softjax as sj
        >>> sj.greater(jnp.array([0.0, 0.1, 1.0]), 0.0)
        Array([0.5      , 0.7310586, 0.9999546], dtype=float32)
    """
    x, y = _prepare("greater", x, y, mode)
    if mode == "hard":
        return jnp.greater(x, y).astype(x.dtype)
    return sigmoidal(x - y - epsilon, softness, mode)


@documented_like(greater, "Returns", "Raises")
def greater_equal(
    x: ArrayLike,
    y: ArrayLike,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x \ge y$: hard ``jnp.greater_equal``; soft $S(x - y + \varepsilon)$.

    Examples:
        >>> import softjax as sj
        >>> sj.greater_equal(jnp.array([0.0, 0.1, 1.0]), 0.0, mode="c0")
        Array([0.5, 0.6, 1. ], dtype=float32)
    """
    x, y = _prepare("greater_equal", x, y, mode)
    if mode == "hard":
        return jnp.greater_equal(x, y).astype(x.dtype)
    return sigmoidal(x - y + epsilon, softness, mode)


@documented_like(greater, "Returns", "Raises")
def less(
    x: ArrayLike,
    y: ArrayLike,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x < y$: hard ``jnp.less``; soft $1 - S(x - y + \varepsilon)$.

    Examples:
        >>> import softjax as sj
        >>> sj.less(jnp.array([0.0, 0.1, 1.0]), 0.0, mode="c0")
        Array([0.5       , 0.39999998, 0.        ], dtype=float32)
    """
    x, y = _prepare("less", x, y, mode)
    if mode == "hard":
        return jnp.less(x, y).astype(x.dtype)
    return 1 - sigmoidal(x - y + epsilon, softness, mode)


@documented_like(greater, "Returns", "Raises")
def less_equal(
    x: ArrayLike,
    y: ArrayLike,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x \le y$: hard ``jnp.less_equal``; soft $1 - S(x - y - \varepsilon)$.

    Examples:
        >>> import softjax as sj
        >>> sj.less_equal(jnp.array([0.0, 0.1, 1.0]), 0.0, mode="hard")
        Array([1., 0., 0.], dtype=float32)
    """
    x, y = _prepare("less_equal", x, y, mode)
    if mode == "hard":
        return jnp.less_equal(x, y).astype(x.dtype)
    return 1 - sigmoidal(x - y - epsilon, softness, mode)


@documented_like(greater, "Returns", "Raises")
def equal(
    x: ArrayLike,
    y: ArrayLike,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x = y$: hard ``jnp.equal``;
    soft $\mathrm{clip}(2(1 - S(D - \varepsilon)), 0, 1)$, $D = |x - y|_S$.

    At ``x == y`` the soft value is 1 (clipped), it decays to 0 as
    $|x - y|$ grows beyond a few ``softness``.

    Examples:
        >>> import softjax as sj
        >>> sj.equal(jnp.array([0.0, 0.1, 1.0]), 0.0)
        Array([1.0000000e+00, 7.7296734e-01, 9.0837479e-05], dtype=float32)
    """
    x, y = _prepare("equal", x, y, mode)
    if mode == "hard":
        return jnp.equal(x, y).astype(x.dtype)
    d = soft_abs(x - y, softness, mode)
    return jnp.clip(2 * (1 - sigmoidal(d - epsilon, softness, mode)), 0.0, 1.0)


@documented_like(greater, "Returns", "Raises")
def not_equal(
    x: ArrayLike,
    y: ArrayLike,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft $x \ne y$: hard ``jnp.not_equal``;
    soft $\mathrm{clip}(2S(D - \varepsilon) - 1, 0, 1)$, $D = |x - y|_S$.

    At ``x == y`` the soft value is 0 (clipped).

    Examples:
        >>> import softjax as sj
        >>> sj.not_equal(jnp.array([0.0, 0.1, 1.0]), 0.0)
        Array([0.        , 0.22703266, 0.99990916], dtype=float32)
    """
    x, y = _prepare("not_equal", x, y, mode)
    if mode == "hard":
        return jnp.not_equal(x, y).astype(x.dtype)
    d = soft_abs(x - y, softness, mode)
    return jnp.clip(2 * sigmoidal(d - epsilon, softness, mode) - 1, 0.0, 1.0)


@documented_like(greater, "Returns", "Raises")
def isclose(
    x: ArrayLike,
    y: ArrayLike,
    softness: float | ArrayLike = 0.1,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    mode: ElementwiseMode = "smooth",
    epsilon: float = 1e-10,
) -> SoftBool:
    r"""Soft ``jnp.isclose``: $|x - y| \le \mathrm{atol} + \mathrm{rtol}\,|y|$.

    Note the parameter order: ``rtol`` and ``atol`` come **before** ``mode``.

    * hard: ``jnp.isclose(x, y, atol=atol, rtol=rtol)`` cast to ``x``'s float dtype;
    * soft: $\mathrm{clip}(2(1 - S(D - T - \varepsilon)), 0, 1)$ with
      $D = |x - y|_S$ and tolerance $T = \mathrm{atol} + \mathrm{rtol}\,|y|_S$
      (asymmetric in ``x``, ``y`` like NumPy).

    The clip to ``[0, 1]`` is a deliberate fix: unclipped, the value
    exceeds 1 whenever $D < T$ (up to 2 in the near-hard limit). Inside the
    tolerance the result is therefore exactly 1 (with zero gradient).

    Args:
        y: reference operand, broadcastable with ``x``.
        softness: $s > 0$.
        rtol: relative tolerance.
        atol: absolute tolerance.

    Examples:
        >>> import softjax as sj
        >>> sj.isclose(jnp.array([1.0, 1.1, 2.0]), 1.0)
        Array([1.000000e+00, 7.730148e-01, 9.083748e-05], dtype=float32)
    """
    x, y = _prepare("isclose", x, y, mode)
    if mode == "hard":
        return jnp.isclose(x, y, atol=atol, rtol=rtol).astype(x.dtype)
    d = soft_abs(x - y, softness, mode)
    tol = atol + rtol * soft_abs(y, softness, mode)
    return jnp.clip(2 * (1 - sigmoidal(d - tol - epsilon, softness, mode)), 0.0, 1.0)
