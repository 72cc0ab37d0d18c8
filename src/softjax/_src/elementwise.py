"""Soft elementwise operators.

Each operator takes ``(x, softness=0.1, mode="smooth", ...)``. ``mode="hard"``
is the exact ``jax.numpy`` operator and never looks at ``softness``; every other
mode is expressed through the soft step ``S = sigmoidal`` or the soft ReLU
``R = softrelu`` of :mod:`softjax._src.steps`, so all modes accepted there
(including the private ``"_c1_pnorm"`` / ``"_c2_pnorm"``) work here too.
"""

from __future__ import annotations

import builtins
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softjax._src.steps import sigmoidal, softrelu
from softjax._src.types import ElementwiseMode, SoftBool
from softjax._src.validation import (
    STEP_MODES,
    concrete_or_none,
    ensure_float,
    validate_mode,
    validate_positive_int,
    validate_softness,
)

# Modes accepted by elementwise and comparison operators: "hard" plus every
# mode of the step helpers (the p-norm ones are private but forwarded).
ELEMENTWISE_MODES: tuple[str, ...] = ("hard", *STEP_MODES)

# Upper bound for the automatic enlargement of soft round's window (P14b): the
# window costs O(x.size * radius) memory.
_MAX_AUTO_RADIUS = 1024


def check_mode(mode: object) -> str:
    """Validate ``mode`` for elementwise/comparison operators."""
    return validate_mode(mode, ELEMENTWISE_MODES)


def check_broadcast(fn: str, **operands: ArrayLike | None) -> tuple[int, ...]:
    """Broadcast shape of the named operands (``None`` entries are skipped).

    Raises:
        ValueError: naming the operands and their shapes when they do not
            broadcast together.
    """
    shapes = {k: np.shape(v) for k, v in operands.items() if v is not None}
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        keys = list(shapes)
        names = ", ".join(keys[:-1]) + " and " + keys[-1]
        desc = ", ".join(f"{k}.shape={s}" for k, s in shapes.items())
        raise ValueError(f"{fn}: {names} are not broadcast-compatible ({desc}).") from None


def heaviside(x: ArrayLike, softness: float | ArrayLike = 0.1, mode: ElementwiseMode = "smooth") -> SoftBool:
    r"""Soft Heaviside step.

    Args:
        x: input array (ints/bools are promoted to the default float).
        softness: $s > 0$ (scalar or array broadcastable against ``x``).
        mode: ``"hard"``, ``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``.

    Returns:
        SoftBool of ``x``'s shape and float dtype.

    * hard: ``jnp.heaviside(x, 0.5)`` ($0$ / $\tfrac12$ / $1$; NaN stays NaN);
    * soft: $S(x)$, e.g. smooth $\sigma(x/s)$, c0 the linear ramp
      $\tfrac12 + \tfrac{x}{10s}$ clipped to $[0, 1]$ (see :func:`sigmoidal`).

    Examples:
        >>> import softjax as sj
        >>> sj.heaviside(jnp.array([-1.0, 0.0, 0.1]))
        Array([4.5397872e-05, 5.0000000e-01, 7.3105860e-01], dtype=float32)
        >>> sj.heaviside(jnp.array([-1.0, 0.0, 0.1]), mode="hard")
        Array([0. , 0.5, 1. ], dtype=float32)
    """
    check_mode(mode)
    x = ensure_float(x)
    if mode == "hard":
        return jnp.heaviside(x, 0.5)
    return sigmoidal(x, softness, mode)


def sign(x: ArrayLike, softness: float | ArrayLike = 0.1, mode: ElementwiseMode = "smooth") -> jax.Array:
    r"""Soft sign function.

    Args:
        x: input array (ints/bools are promoted to the default float).
        softness: $s > 0$.
        mode: ``"hard"`` or a soft mode.

    Returns:
        Array of ``x``'s shape and float dtype, in $[-1, 1]$.

    * hard: ``jnp.sign(x)``;
    * soft: $2S(x) - 1$ (smooth: $\tanh(x / 2s)$).

    Examples:
        >>> import softjax as sj
        >>> sj.sign(jnp.array([-1.0, 0.0, 0.1]), mode="c1")
        Array([-1.   ,  0.   ,  0.296], dtype=float32)
    """
    check_mode(mode)
    x = ensure_float(x)
    if mode == "hard":
        return jnp.sign(x)
    return 2 * sigmoidal(x, softness, mode) - 1


def abs(x: ArrayLike, softness: float | ArrayLike = 0.1, mode: ElementwiseMode = "smooth") -> jax.Array:  # noqa: A001
    r"""Soft absolute value.

    Args:
        x: input array. Hard mode keeps integer dtypes (as ``jnp.abs``).
        softness: $s > 0$.
        mode: ``"hard"`` or a soft mode.

    Returns:
        Array of ``x``'s shape; float in soft modes.

    * hard: ``jnp.abs(x)``;
    * soft: $x\,(2S(x) - 1)$, non-negative and exactly 0 at 0
      (smooth: $x \tanh(x / 2s)$).

    Examples:
        >>> import softjax as sj
        >>> sj.abs(jnp.array([-1.0, 0.0, 0.1]))
        Array([0.9999092 , 0.        , 0.04621172], dtype=float32)
    """
    check_mode(mode)
    x = jnp.asarray(x)
    if mode == "hard":
        return jnp.abs(x)
    return x * (2 * sigmoidal(x, softness, mode) - 1)


def relu(
    x: ArrayLike,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    gated: bool = False,
) -> jax.Array:
    r"""Soft rectified linear unit.

    Args:
        x: input array. Hard mode keeps integer dtypes (as ``jax.nn.relu``).
        softness: $s > 0$.
        mode: ``"hard"`` or a soft mode.
        gated: soft form, see :func:`softrelu`.

    Returns:
        Array of ``x``'s shape; float in soft modes.

    * hard: ``jax.nn.relu(x)``;
    * soft, ``gated=False``: $R(x) = \int_{-\infty}^x S$ (smooth: $s\,\mathrm{softplus}(x/s)$;
      piecewise modes equal $0$ below $-5s$ and $x$ above $5s$);
    * soft, ``gated=True``: $x\,S(x)$.

    Examples:
        >>> import softjax as sj
        >>> sj.relu(jnp.array([-1.0, 0.0, 1.0]), mode="c0")
        Array([0.   , 0.125, 1.   ], dtype=float32)
    """
    check_mode(mode)
    x = jnp.asarray(x)
    if mode == "hard":
        return jax.nn.relu(x)
    return softrelu(x, softness, mode, gated)


def clip(
    x: ArrayLike,
    a: ArrayLike | None,
    b: ArrayLike | None,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    gated: bool = False,
) -> jax.Array:
    r"""Soft clipping of ``x`` to ``[a, b]``.

    Args:
        x: input array. Hard mode keeps integer dtypes (as ``jnp.clip``).
        a: lower bound, broadcastable with ``x`` (``None``: no lower bound).
        b: upper bound, broadcastable with ``x`` (``None``: no upper bound).
            Where ``a > b`` the result is ``b``, as ``jnp.clip``'s.
        softness: $s > 0$.
        mode: ``"hard"`` or a soft mode.
        gated: soft ReLU form, see :func:`softrelu`.

    Returns:
        Array of the broadcast shape of ``x``, ``a``, ``b``; float in soft modes.

    * hard: ``jnp.clip(x, a, b)``;
    * soft: $a + R(x - a) - R(x - b)$ (without a bound its term is dropped:
      $x - R(x - b)$ or $a + R(x - a)$), evaluated in the equivalent forms
      $x + R(a - x) - R(x - b)$ inside $[a, b]$ and $b - R(b - x) + R(a - x)$
      above it, so that nothing overflows or cancels for inputs and bounds up
      to the dtype's maximum. With ``gated=False`` and $a \le b$ the
      result is monotone in ``x`` and stays within $[a, b]$ (up to rounding);
      the gated form overshoots slightly near the bounds.

    Examples:
        >>> import softjax as sj
        >>> sj.clip(jnp.array([-2.0, 0.0, 0.05, 2.0]), -1.0, 1.0, mode="c0")
        Array([-1.  ,  0.  ,  0.05,  1.  ], dtype=float32)
    """
    check_mode(mode)
    check_broadcast("clip", x=x, a=a, b=b)
    x = jnp.asarray(x)
    if mode == "hard":
        return jnp.clip(x, a, b)
    if a is None and b is None:
        return ensure_float(x)

    def r(d: ArrayLike) -> jax.Array:
        return softrelu(d, softness, mode, gated)

    # Below a, inside [a, b] and above b the sum is written around the value
    # the hard clip returns there (a, x, b), so that every R is evaluated at a
    # non-positive argument: nothing overflows (at x = 0.9 * finfo.max with
    # a = -x, x - a would) and no large terms cancel (with a = -3e38,
    # a + R(x - a) loses x = 1 entirely). The forms are equal because
    # R(d) - R(-d) = d, for the antiderivative and the gated form alike.
    if b is None:
        assert a is not None  # both bounds None returned above
        return jnp.where(x < a, a + r(x - a), x + r(a - x))
    if a is None:
        return jnp.where(x > b, b - r(b - x), x - r(x - b))
    # a > b: the interval [b, b], whose soft clip is b up to rounding
    # (jnp.clip's value there), instead of terms like x - b that overflow for a = -b.
    a = jnp.where(jnp.asarray(a) > b, b, a)
    inside = x + r(a - x) - r(x - b)
    return jnp.where(x < a, a + r(x - a) - r(x - b), jnp.where(x > b, b - r(b - x) + r(a - x), inside))


def round(  # noqa: A001
    x: ArrayLike,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    neighbor_radius: int = 5,
) -> jax.Array:
    r"""Soft rounding to the nearest integer.

    Soft modes sum candidate integers weighted by soft indicators of their
    cells ("Smooth Approximations of the Rounding Function"): with
    $c = \mathrm{sg}(\lfloor x \rfloor)$ and $n_j = c + j$, $j = -r, \dots, r$,

    $$\mathrm{round}(x) = \sum_j n_j\,[S(x - (n_j - \tfrac12)) - S(x - (n_j + \tfrac12))].$$

    Args:
        x: input array. Hard mode keeps integer dtypes (as ``jnp.round``).
        softness: $s > 0$ (scalar or array broadcastable against ``x``).
        mode: ``"hard"`` (``jnp.round``, half to even), ``"smooth"``
            (logistic cell indicators), ``"c0"`` / ``"c1"`` / ``"c2"``
            (piecewise-polynomial indicators with band $\pm 5s$ per cell edge).
        neighbor_radius: $r \ge 1$, number of neighbouring integers on each
            side included in the sum.

    Returns:
        Array of ``x``'s shape; float in soft modes. Soft round maps
            half-integers to themselves (0.5 -> 0.5) and is the identity for
            $s \to \infty$ (given a large enough window).

    Notes:
        * (P14a) With ``mode="c0"`` at the default ``softness=0.1`` (and
          whenever ``10 * softness`` is an integer) the linear ramps of width
          $10s$ tile exactly and the result is the identity ``x``; for other
          ``softness >= 0.1`` it is a small ripple around ``x``. c0 only
          rounds for ``softness < 0.1``.
        * (P14b) The sum is truncated to $2r + 1$ integers. For the piecewise
          modes the window is enlarged automatically to cover
          $\pm(5s + 1)$ when ``softness`` is concrete (not a tracer), capped
          at radius 1024; for ``"smooth"`` (whose tails never vanish) and for
          traced softness the window is exactly ``neighbor_radius``, so for
          large softness pass a larger ``neighbor_radius`` or the result
          collapses towards 0.
        * Infinite inputs are returned unchanged; NaN propagates.

    Raises:
        ValueError: ``neighbor_radius < 1`` (P14c), unknown ``mode``, or a
            non-positive concrete ``softness``.

    Examples:
        >>> import softjax as sj
        >>> sj.round(jnp.array([0.3, 0.5, 1.2]), mode="c1")
        Array([0.21600002, 0.5       , 1.1040001 ], dtype=float32)
        >>> sj.round(jnp.array([0.3, 0.5, 1.2]), mode="hard")
        Array([0., 0., 1.], dtype=float32)
    """
    check_mode(mode)
    radius = validate_positive_int("neighbor_radius", neighbor_radius, minimum=1)
    if mode == "hard":
        return jnp.round(jnp.asarray(x))
    validate_softness(softness)
    x = ensure_float(x)
    if mode != "smooth":
        concrete = concrete_or_none(softness)
        if concrete is not None and concrete.size:
            needed = math.ceil(5.0 * float(np.max(concrete)) + 1.0)
            radius = builtins.max(radius, builtins.min(needed, _MAX_AUTO_RADIUS))
    finite = jnp.isfinite(x)
    x_safe = jnp.where(finite | jnp.isnan(x), x, 0)  # keeps inf out of n_j (inf - inf)
    # The window is centred at c = floor(x), so the sum is taken over offsets
    # j with n_j = c + j:  sum_j n_j cell_j = c * sum_j cell_j + sum_j j cell_j,
    # where the cells telescope to S(f + r + 1/2) - S(f - r - 1/2) for f = x - c.
    # Only the two outermost steps meet the large c: at |x| near the dtype's
    # maximum, c * cell'_j summed over all j would overflow and cancel (NaN).
    c = jax.lax.stop_gradient(jnp.floor(x_safe))
    f = (x_safe - c)[..., None]
    j = jnp.arange(-radius, radius + 1, dtype=x.dtype)
    s = softness if jnp.ndim(softness) == 0 else jnp.expand_dims(jnp.asarray(softness), -1)
    cell = sigmoidal(f - (j - 0.5), s, mode) - sigmoidal(f - (j + 0.5), s, mode)
    mass = sigmoidal(f + (radius + 0.5), s, mode) - sigmoidal(f - (radius + 0.5), s, mode)
    out = c * mass[..., 0] + jnp.sum(j * cell, axis=-1)
    return jnp.where(finite | jnp.isnan(x), out, x)
