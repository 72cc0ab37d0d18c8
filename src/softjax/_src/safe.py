"""Autograd-safe versions of functions with singular points.

Every function uses the *double-where* pattern: an inner ``where`` replaces
inputs outside the domain by a harmless constant before the primitive is
called (so neither the value nor the derivative of the discarded branch is
ever inf/NaN), and an outer ``where`` selects the boundary value. The
derivative there is 0, the derivative of the constant branch.

Deliberate deviation from prior implementations: NaN inputs
propagate (``sqrt(nan)``, ``log(nan)``, ``arccos(nan)`` are NaN) instead of
being silently mapped to the boundary value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def sqrt(x: ArrayLike) -> jax.Array:
    r"""Square root that is 0, with zero gradient, for ``x <= 0``.

    $\operatorname{sqrt}(x) = \sqrt{x}$ for $x > 0$, else $0$. NaN stays NaN.
    Unlike ``jnp.sqrt`` the derivative at 0 is 0 (not inf) and negative
    inputs give 0 (not NaN), also in second derivatives.

    Args:
        x: input array.

    Returns:
        Array of ``x``'s shape and dtype.

    Examples:
        >>> import softjax as sj
        >>> sj.sqrt(jnp.array([4.0, 0.0, -1.0]))
        Array([2., 0., 0.], dtype=float32)
    """
    x = jnp.asarray(x)
    ok = (x > 0) | jnp.isnan(x)
    return jnp.where(ok, jnp.sqrt(jnp.where(ok, x, 1)), 0)


def log(x: ArrayLike) -> jax.Array:
    r"""Natural logarithm that is 0, with zero gradient, for ``x <= 0``.

    $\operatorname{log}(x) = \ln x$ for $x > 0$, else $0$ (``jnp.log`` gives
    ``-inf``/NaN there). NaN stays NaN.

    Args:
        x: input array.

    Returns:
        Array of ``x``'s shape and dtype.

    Examples:
        >>> import softjax as sj
        >>> sj.log(jnp.array([1.0, 0.0]))
        Array([0., 0.], dtype=float32)
    """
    x = jnp.asarray(x)
    ok = (x > 0) | jnp.isnan(x)
    return jnp.where(ok, jnp.log(jnp.where(ok, x, 1)), 0)


def arcsin(x: ArrayLike) -> jax.Array:
    r"""``arcsin`` clamped to $\pm\pi/2$ (zero gradient) for $|x| \ge 1$.

    $\arcsin x$ for $|x| < 1$, $\operatorname{sign}(x)\,\pi/2$ otherwise (so the
    infinite derivative at $\pm 1$ becomes 0). NaN stays NaN.

    Args:
        x: input array.

    Returns:
        Array of ``x``'s shape (float).

    Examples:
        >>> import softjax as sj
        >>> sj.arcsin(jnp.array([0.0, 2.0]))
        Array([0.       , 1.5707964], dtype=float32)
    """
    x = jnp.asarray(x)
    ok = (jnp.abs(x) < 1) | jnp.isnan(x)
    return jnp.where(ok, jnp.arcsin(jnp.where(ok, x, 0)), jnp.sign(x) * (jnp.pi / 2))


def arccos(x: ArrayLike) -> jax.Array:
    r"""``arccos`` clamped to $0$ for $x \ge 1$ and $\pi$ for $x \le -1$ (zero gradient).

    $\arccos x$ for $|x| < 1$; the infinite derivative at $\pm 1$ becomes 0.
    NaN stays NaN.

    Args:
        x: input array.

    Returns:
        Array of ``x``'s shape (float).

    Examples:
        >>> import softjax as sj
        >>> sj.arccos(jnp.array([1.5, -1.5]))
        Array([0.       , 3.1415927], dtype=float32)
    """
    x = jnp.asarray(x)
    ok = (jnp.abs(x) < 1) | jnp.isnan(x)
    boundary = jnp.where(x >= 1, 0.0, jnp.pi).astype(jnp.result_type(x, float))
    return jnp.where(ok, jnp.arccos(jnp.where(ok, x, 0)), boundary)


def div(x: ArrayLike, y: ArrayLike) -> jax.Array:
    r"""``x / y`` that is 0, with zero gradient w.r.t. both operands, where ``y == 0``.

    Args:
        x: numerator.
        y: denominator, broadcastable with ``x``.

    Returns:
        Array of the broadcast shape: $x / y$ where $y \ne 0$, else $0$.

    Examples:
        >>> import softjax as sj
        >>> sj.div(jnp.array([1.0, 1.0]), jnp.array([2.0, 0.0]))
        Array([0.5, 0. ], dtype=float32)
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    ok = y != 0
    return jnp.where(ok, x / jnp.where(ok, y, 1), 0)


def norm(x: ArrayLike, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> jax.Array:
    r"""Euclidean norm $\sqrt{\sum x^2}$ over ``axis`` with a zero gradient at the zero vector.

    Only the 2-norm is provided (no ``ord``). The value equals
    ``jnp.linalg.norm``; the derivative at the zero vector is 0 instead of NaN.

    Args:
        x: input array.
        axis: an int, a tuple of ints, or ``None`` (all axes).
        keepdims: keep the reduced axes with length 1, as in ``jnp.sum``.

    Returns:
        Array of ``x``'s shape with ``axis`` reduced.

    Examples:
        >>> import softjax as sj
        >>> sj.norm(jnp.array([3.0, 4.0]))
        Array(5., dtype=float32)
    """
    x = jnp.asarray(x)
    return sqrt(jnp.sum(x * x, axis=axis, keepdims=keepdims))
