r"""Soft ``floor_divide`` and ``mod`` / ``remainder``: the soft floor of $x / y$.

``floor_divide(x, y)`` is the staircase ``floor(x / y)`` and ``mod(x, y)`` is
$x - y\,\mathrm{floor\_divide}(x, y)$, a sawtooth with the sign of $y$. Both
are written around the hard quotient $k$ and the hard remainder $m$ (as soft
``floor`` is around the hard floor): with $f = m / y \in [0, 1]$, the
fractional part of $x / y$ for either sign of $y$, and $D(f)$ the soft
staircase correction of :mod:`softjax._src.rounding`,

$$\mathrm{floor\_divide}(x, y) = k + D(f), \qquad \mathrm{mod}(x, y) = m - y\,D(f).$$

Forming $f$ from the remainder keeps it exact where $x / y$ has no fractional
digits left, and no product of $y$ with a possibly huge quotient is formed,
so the soft remainder is finite wherever the hard one is. Both evaluate the
same $D(f)$, so ``floor_divide(x, y) * y + mod(x, y) == x`` up to rounding
in every mode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src.docstrings import documented_like
from softjax._src.elementwise import check_broadcast, check_mode
from softjax._src.kernels.squash import rescale
from softjax._src.rounding import _compute_dtype, _corrections, _window
from softjax._src.types import ElementwiseMode, StepMode
from softjax._src.validation import is_tracer, validate_positive_int, validate_softness

__all__ = ["floor_divide", "mod", "remainder"]


# --------------------------------------------------------------------------- kernel


def _float_pair(x: ArrayLike, y: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """``x`` and ``y`` broadcast, in their common float dtype (ints -> default float)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    dtype = jnp.result_type(x, y)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)
    xb, yb = jnp.broadcast_arrays(x.astype(dtype), y.astype(dtype))
    return xb, yb


def _power_of_two(y: jax.Array) -> jax.Array:
    """``2**floor(log2 |y|)`` elementwise (1 for 0 and non-finite ``y``), no gradient.

    The exponent stays two away from the dtype's extremes so that ``1 / unit``
    is a normal number too.
    """
    y = jax.lax.stop_gradient(y)
    usable = jnp.isfinite(y) & (y != 0)
    _, e = jnp.frexp(jnp.where(usable, y, 1.0))
    limit = -jnp.finfo(y.dtype).minexp - 2
    unit = jnp.ldexp(jnp.ones_like(y), jnp.clip(e - 1, -limit, limit))
    return jnp.where(usable, unit, 1.0)


def _remainder(x: jax.Array, y: jax.Array, k: jax.Array) -> jax.Array:
    """The hard remainder, with the derivative ``dx - k dy`` for the hard quotient ``k``.

    ``jnp.remainder``'s own derivative in ``y`` recomputes the quotient from
    the rounded ``x / y``; at (rounded) multiples ``x = n * y`` it is off by
    one for about a third of them, i.e. it belongs to the neighbouring branch
    of the sawtooth. ``k`` is clamped to the dtype's range (it overflows where
    ``x / y`` does), and infinite operands contribute no tangent, so the value
    stays exactly the hard remainder.
    """
    sg = jax.lax.stop_gradient
    big = jnp.finfo(x.dtype).max
    dx = jnp.where(jnp.isfinite(x), x - sg(x), 0.0)
    dy = jnp.where(jnp.isfinite(y), y - sg(y), 0.0)
    return sg(jnp.remainder(x, y)) + dx - jnp.clip(k, -big, big) * dy


def _soft_divmod(
    x: ArrayLike, y: ArrayLike, softness: float | ArrayLike, mode: StepMode, radius: int, quotient: bool
) -> jax.Array:
    r"""Soft ``floor_divide(x, y)`` (``quotient=True``) or ``mod(x, y)`` from the hard ones.

    With $k$ the hard quotient, $m$ the hard remainder and
    $f = m / y \in [0, 1]$ (the fractional part of $x / y$, for either sign
    of $y$), the soft quotient is $k + D(f)$ and the soft remainder
    $m - y\,D(f)$; both evaluate the same $D(f)$, bit for bit.

    The ratio is formed as $\hat m / \hat y$ with $\hat m = m / u$,
    $\hat y = y / u$ and $u$ the power of two at or below $|y|$ (exact): the
    derivative of a division by a tiny $y$ squares it (``y**-2`` overflows
    below ``1e-19`` in float32). For the remainder the tangents of
    $\hat m$, $\hat y$ and the softness are moreover carried in units of $u$
    (multiplied by $u$) until the result is scaled back by $u$: otherwise
    reverse mode forms $y\,D'(f)$ (which overflows for $|y|$ near the
    dtype's maximum and a small softness) before dividing it by $y$, although
    the derivatives of the remainder are of the order of
    $1 + |x / y|\,D'(f)$.
    """
    validate_softness(softness)
    x, y = _float_pair(x, y)
    dtype = x.dtype
    work = _compute_dtype(dtype)
    x, y = x.astype(work), y.astype(work)
    radius = _window(radius, softness, mode)
    k = jax.lax.stop_gradient(jnp.floor_divide(x, y))
    m = _remainder(x, y, k)
    unit = _power_of_two(y)
    inv = 1.0 / unit
    # The barrier keeps XLA from folding the two scalings into one factor
    # 1 / y when y is a constant: beyond 2**126 (float32) that reciprocal is
    # subnormal and flushed to zero, and f would come out 0.
    if quotient:
        m_hat, y_hat = jax.lax.optimization_barrier((m * inv, y * inv))
        d = _corrections(m_hat / y_hat, softness, mode, radius, 0)
        return (k + d).astype(dtype)
    one = jnp.ones((), work)
    m_hat, y_hat = jax.lax.optimization_barrier((rescale(m, inv, one), rescale(y, inv, one)))
    s = softness
    if is_tracer(softness):  # a concrete softness has no tangent to carry
        s = rescale(jnp.broadcast_to(jnp.asarray(softness, work), x.shape), one, unit)
    d = _corrections(m_hat / y_hat, s, mode, radius, 0)
    return rescale(m_hat - y_hat * d, unit, one).astype(dtype)


# --------------------------------------------------------------------------- operators


def floor_divide(
    x: ArrayLike,
    y: ArrayLike,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    neighbor_radius: int = 5,
) -> jax.Array:
    r"""Soft ``jnp.floor_divide``: the soft ``floor`` of $x / y$, as $k + D(m / y)$.

    $k$ is the hard quotient, $m$ the hard remainder and $D$ the correction
    of soft :func:`floor`, so the result is $\sum_n S(x / y - n)$ relative to
    $k$; soft :func:`mod` uses the same $D$. Where $x / y$ is an integer $n$
    the soft value is $n - \tfrac12$.

    Derivatives: $D'(f) / y$ with respect to $x$ and $-D'(f)\,x / y^2$ with
    respect to $y$. They grow like $1 / (s\,|y|)$ and $|x| / (s\,y^2)$ and
    exceed the dtype's range for divisors close to 0 (in float32 below
    about ``1e-33`` at ``softness=1e-6``).

    Args:
        x: dividend.
        y: divisor, broadcastable with ``x``, of either sign. Hard mode keeps
            integer dtypes (as ``jnp.floor_divide`` does).
        softness: $s > 0$, width of each step in units of the quotient
            $x / y$ (scalar or array broadcastable against the result).
        mode: ``"hard"`` (``jnp.floor_divide``), ``"smooth"`` (logistic steps), ``"c0"``,
            ``"c1"``, ``"c2"`` (piecewise-polynomial steps with band $\pm 5s$).
        neighbor_radius: $r \ge 1$, number of steps summed on each side of the
            hard quotient. A concrete softness enlarges it to $5s + 1$
            (piecewise modes) or $36s + 1$ (smooth), at most 1024; with a
            traced softness above about 0.3 (smooth) or $(r - 1) / 5$
            (piecewise), pass a larger value.

    Returns:
        Array of the broadcast shape of ``x`` and ``y``; float in soft modes.

    Raises:
        ValueError: unknown ``mode``, shapes that do not broadcast,
            ``neighbor_radius < 1`` or a non-positive concrete ``softness``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([7.0, -7.0, 7.0, 6.0])
        >>> y = jnp.array([2.0, 2.0, -2.0, 3.0])
        >>> sj.floor_divide(x, y, mode="hard")
        Array([ 3., -4., -4.,  2.], dtype=float32)
        >>> sj.floor_divide(x, y, mode="c1")
        Array([ 3. , -4. , -4. ,  1.5], dtype=float32)
    """
    check_mode(mode)
    radius = validate_positive_int("neighbor_radius", neighbor_radius, minimum=1)
    check_broadcast("floor_divide", x=x, y=y)
    if mode == "hard":
        return jnp.floor_divide(x, y)
    return _soft_divmod(x, y, softness, mode, radius, quotient=True)


@documented_like(floor_divide, "Returns", "Raises")
def remainder(
    x: ArrayLike,
    y: ArrayLike,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    neighbor_radius: int = 5,
) -> jax.Array:
    r"""Soft ``jnp.remainder``: a soft sawtooth with the sign of ``y``, $m - y\,D(m / y)$.

    $x - y\,\mathrm{floor\_divide}(x, y)$ with the soft
    :func:`floor_divide`, evaluated around the hard remainder $m$. Each jump
    of the sawtooth (back to 0 as $x$ passes a multiple of $y$) becomes a
    soft step; in between the result follows $m$. For $s \to 0$ it tends to
    ``jnp.remainder`` away from the multiples of $y$, where it is the
    midpoint $y / 2$ of the jump. :func:`mod` is the same function.

    Derivatives: $1 - D'(f)$ with respect to $x$ (bounded), and
    $-\mathrm{floor\_divide}(x, y) + (x / y)\,D'(f)$ with respect to $y$,
    of the order of the quotient, like that of the hard remainder.

    Args:
        y: divisor, broadcastable with ``x``, of either sign. Hard mode keeps
            integer dtypes (as ``jnp.remainder`` does).
        mode: ``"hard"`` (``jnp.remainder``), ``"smooth"`` (logistic steps), ``"c0"``,
            ``"c1"``, ``"c2"`` (piecewise-polynomial steps with band $\pm 5s$).

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([7.0, -7.0, 7.0, 6.0])
        >>> y = jnp.array([2.0, 2.0, -2.0, 3.0])
        >>> sj.remainder(x, y, mode="hard")
        Array([ 1.,  1., -1.,  0.], dtype=float32)
        >>> sj.remainder(x, y, mode="c1")
        Array([ 1. ,  1. , -1. ,  1.5], dtype=float32)
    """
    check_mode(mode)
    radius = validate_positive_int("neighbor_radius", neighbor_radius, minimum=1)
    check_broadcast("remainder", x=x, y=y)
    if mode == "hard":
        return jnp.remainder(x, y)
    return _soft_divmod(x, y, softness, mode, radius, quotient=False)


@documented_like(floor_divide, "Returns", "Raises")
def mod(
    x: ArrayLike,
    y: ArrayLike,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    neighbor_radius: int = 5,
) -> jax.Array:
    r"""Soft ``jnp.mod``: the same function as soft :func:`remainder`.

    The result has the sign of the divisor (NumPy's convention), and
    ``floor_divide(x, y) * y + mod(x, y) == x`` up to rounding in every mode.

    Args:
        y: divisor, broadcastable with ``x``, of either sign. Hard mode keeps
            integer dtypes (as ``jnp.mod`` does).
        mode: ``"hard"`` (``jnp.mod``), ``"smooth"`` (logistic steps), ``"c0"``,
            ``"c1"``, ``"c2"`` (piecewise-polynomial steps with band $\pm 5s$).

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([0.5, 2.9, 3.5, -0.5])
        >>> sj.mod(x, 3.0, mode="hard")
        Array([0.5, 2.9, 0.5, 2.5], dtype=float32)
        >>> sj.mod(x, 3.0, softness=0.02, mode="c2")  # 2.9 is near the jump at 3
        Array([0.5      , 2.2703698, 0.5      , 2.5      ], dtype=float32)
    """
    check_mode(mode)
    radius = validate_positive_int("neighbor_radius", neighbor_radius, minimum=1)
    check_broadcast("mod", x=x, y=y)
    if mode == "hard":
        return jnp.mod(x, y)
    return _soft_divmod(x, y, softness, mode, radius, quotient=False)
