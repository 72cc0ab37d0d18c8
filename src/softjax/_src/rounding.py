r"""Soft ``floor``, ``ceil`` and ``trunc``: staircases of soft steps.

``floor`` and ``ceil`` rise by one at every integer, ``trunc`` at every integer
but 0. The soft versions replace every step by the soft step $S$ of
:func:`~softjax._src.steps.sigmoidal` (the construction of soft ``round``,
with the steps at the integers instead of the half-integers).

The staircase is written around the value the hard operator returns,
$c = \mathrm{sg}(\mathrm{hard}(x))$, with $f = x - c$:

$$\mathrm{soft}(x) = c + \sum_{q \text{ not passed}} S(f - q) - \sum_{q \text{ passed}} S(q - f),$$

a step at $q$ (relative to $c$) being *passed* when the hard value already
counts it. Every term is a small correction in $[0, 1]$ that decays away from
$x$, so no large number meets a soft step: at $|x|$ near the dtype's maximum
the result is $c$ plus a bounded correction and stays finite, values and
gradients. The sum runs over the $2r + 1$ steps $q = -r, \dots, r$; the steps
beyond them are added as the integral of the step,
$R(f - r - \tfrac12) - R(-r - \tfrac12 - f)$ with $R$ the soft ReLU (midpoint
rule): they vanish for the piecewise modes once the window covers their band,
and for a large softness they keep the staircase close to $x - \tfrac12$
instead of letting it collapse onto the hard value. The same correction
$D(f)$ gives soft ``floor_divide`` and ``mod`` (:mod:`softjax._src.division`).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from softjax._src.docstrings import documented_like
from softjax._src.elementwise import _MAX_AUTO_RADIUS, check_mode
from softjax._src.steps import sigmoidal, softrelu
from softjax._src.types import ElementwiseMode, StepMode
from softjax._src.validation import (
    concrete_or_none,
    ensure_float,
    validate_positive_int,
    validate_softness,
)

__all__ = ["ceil", "floor", "trunc"]


# --------------------------------------------------------------------------- kernel


def _window(radius: int, softness: float | ArrayLike, mode: str) -> int:
    """``radius``, enlarged for a concrete softness to cover the steps that matter.

    Those are the steps within ``5s + 1`` of ``x`` for the piecewise modes
    (beyond, their steps are exactly 0 or 1), and within ``36s + 1`` for the
    logistic, whose tails never vanish: beyond that distance the integral
    standing for the remaining steps is exact to about ``1e-17``. A traced
    softness cannot size an array; the window is capped at
    ``_MAX_AUTO_RADIUS`` since it costs ``O(x.size * radius)`` memory.
    """
    s = concrete_or_none(softness)
    if s is None or not s.size:
        return radius
    reach = 36.0 if mode == "smooth" else 5.0
    needed = math.ceil(reach * float(np.max(s)) + 1.0)
    return builtins.max(radius, builtins.min(needed, _MAX_AUTO_RADIUS))


def _compute_dtype(dtype: jnp.dtype) -> jnp.dtype:
    # Half precision cannot hold the step positions of a large window exactly
    # (bfloat16 integers stop at 256): compute in float32, cast back at the end.
    return jnp.promote_types(dtype, jnp.float32) if jnp.finfo(dtype).bits < 32 else dtype


def _corrections(
    f: jax.Array,
    softness: float | ArrayLike,
    mode: StepMode,
    radius: int,
    last_passed: int | jax.Array,
) -> jax.Array:
    r"""$D(f)$: the soft staircase at $c + f$ minus the hard value $c$.

    Steps sit at $q = -r, \dots, r$ (relative to $c$); those with
    $q \le$ ``last_passed`` (0 for floor, -1 for ceil) are counted in $c$, so
    their term is $S(f - q) - 1$ (that is $-S(q - f)$), the others' $S(f - q)$.
    The step is always evaluated at $f - q$, so that every term takes the same
    side of the piecewise modes' band edges (a derivative of 2 where two c0
    ramps meet, otherwise).
    """
    q = jnp.arange(-radius, radius + 1, dtype=f.dtype)
    passed = q <= jnp.expand_dims(jnp.asarray(last_passed), -1)
    s = softness if jnp.ndim(softness) == 0 else jnp.expand_dims(jnp.asarray(softness), -1)
    terms = sigmoidal(f[..., None] - q, s, mode) - passed.astype(f.dtype)
    edge = radius + 0.5
    tails = softrelu(f - edge, softness, mode) - softrelu(-edge - f, softness, mode)
    return jnp.sum(terms, axis=-1) + tails


def _staircase(
    x: ArrayLike,
    hard: Callable[[jax.Array], jax.Array],
    softness: float | ArrayLike,
    mode: StepMode,
    radius: int,
    last_passed: int | None,
) -> jax.Array:
    """Soft floor (``last_passed=0``), ceil (``-1``) or trunc (``None``) of ``x``."""
    validate_softness(softness)
    x = ensure_float(x)
    dtype = x.dtype
    x = x.astype(_compute_dtype(dtype))
    radius = _window(radius, softness, mode)
    keep = jnp.isfinite(x) | jnp.isnan(x)
    x_safe = jnp.where(keep, x, 0)  # an infinite c would give inf - inf
    c = jax.lax.stop_gradient(hard(x_safe))
    f = x_safe - c  # exact: x and its integer part share their leading bits
    if last_passed is not None:
        out = c + _corrections(f, softness, mode, radius, last_passed)
    else:
        # trunc: floor's steps for x >= 0 and ceil's for x < 0, without the
        # step at 0, whose term is S(x) - 1 (passed) or S(x) (not passed).
        nonneg = x_safe >= 0
        out = c + _corrections(f, softness, mode, radius, jnp.where(nonneg, 0, -1))
        out = out + (nonneg.astype(x.dtype) - sigmoidal(x_safe, softness, mode))
    return jnp.where(keep, out, x).astype(dtype)


# --------------------------------------------------------------------------- operators


def floor(
    x: ArrayLike,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    neighbor_radius: int = 5,
) -> jax.Array:
    r"""Soft ``jnp.floor``: a staircase of soft steps at the integers.

    With $c = \mathrm{sg}(\lfloor x \rfloor)$, $f = x - c \in [0, 1)$ and
    $S$ the mode's soft step,

    $$\mathrm{floor}(x) = c + \sum_{q=1}^{r} S(f - q) - \sum_{q=-r}^{0} S(q - f)
      + R(f - r - \tfrac12) - R(-r - \tfrac12 - f),$$

    i.e. $\sum_n S(x - n)$ over all integers $n$, taken relative to $c$; the
    last two terms ($R$ the soft ReLU) stand for the steps beyond the window
    of $2r + 1$ steps (exactly 0 in the piecewise modes once the window covers
    their band). Its derivative $\sum_n S'(x - n)$ is positive: the soft
    staircase is increasing.

    At an integer $n$ the soft value is the midpoint $n - \tfrac12$ of the
    jump, for every softness; for $s \to 0$ it tends to $\lfloor x \rfloor$
    everywhere else, and for $s \to \infty$ to $x - \tfrac12$. Like soft
    ``round``, ``mode="c0"`` is $x - \tfrac12$ whenever $10s$ is an integer
    (its linear ramps, $10s$ wide, tile exactly): c0 only rounds down for
    ``softness < 0.1``. Infinite inputs are returned unchanged; NaN
    propagates.

    Args:
        x: input array. Hard mode keeps integer dtypes (as ``jnp.floor`` does).
        softness: $s > 0$, width of each step (scalar or array broadcastable
            against ``x``).
        mode: ``"hard"`` (``jnp.floor``), ``"smooth"`` (logistic steps),
            ``"c0"``, ``"c1"``, ``"c2"`` (piecewise-polynomial steps with band
            $\pm 5s$).
        neighbor_radius: $r \ge 1$, number of steps summed on each side of
            $c$. A concrete softness enlarges it to $5s + 1$ (piecewise
            modes) or $36s + 1$ (smooth), at most 1024; with a traced
            softness above about 0.3 (smooth) or $(r - 1) / 5$ (piecewise),
            pass a larger value.

    Returns:
        Array of ``x``'s shape; in soft modes float (``x``'s float dtype,
            the default float for integers).

    Raises:
        ValueError: unknown ``mode``, ``neighbor_radius < 1`` or a
            non-positive concrete ``softness``.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([-0.5, 0.3, 1.0, 1.7])
        >>> sj.floor(x, mode="hard")
        Array([-1.,  0.,  1.,  1.], dtype=float32)
        >>> sj.floor(x, softness=0.05, mode="c1")
        Array([-1. ,  0. ,  0.5,  1. ], dtype=float32)
    """
    check_mode(mode)
    radius = validate_positive_int("neighbor_radius", neighbor_radius, minimum=1)
    if mode == "hard":
        return jnp.floor(jnp.asarray(x))
    return _staircase(x, jnp.floor, softness, mode, radius, last_passed=0)


@documented_like(floor, "Raises")
def ceil(
    x: ArrayLike,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    neighbor_radius: int = 5,
) -> jax.Array:
    r"""Soft ``jnp.ceil``: the staircase of soft :func:`floor`, plus one.

    Written around $c = \mathrm{sg}(\lceil x \rceil)$ with
    $f = x - c \in (-1, 0]$:

    $$\mathrm{ceil}(x) = c + \sum_{q=0}^{r} S(f - q) - \sum_{q=-r}^{-1} S(q - f)
      + R(f - r - \tfrac12) - R(-r - \tfrac12 - f),$$

    which equals ``floor(x) + 1`` and ``-floor(-x)``: the soft staircases
    have the same steps, only the hard value they are written around
    differs. At an integer $n$ the soft value is $n + \tfrac12$.

    Args:
        x: input array. Hard mode keeps integer dtypes (as ``jnp.ceil`` does).
        mode: ``"hard"`` (``jnp.ceil``), ``"smooth"`` (logistic steps),
            ``"c0"``, ``"c1"``, ``"c2"`` (piecewise-polynomial steps with band
            $\pm 5s$).

    Returns:
        Array of ``x``'s shape; float in soft modes.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([-0.5, 0.3, 1.0, 1.7])
        >>> sj.ceil(x, mode="hard")
        Array([-0.,  1.,  1.,  2.], dtype=float32)
        >>> sj.ceil(x, softness=0.05, mode="c2")
        Array([0. , 1. , 1.5, 2. ], dtype=float32)
    """
    check_mode(mode)
    radius = validate_positive_int("neighbor_radius", neighbor_radius, minimum=1)
    if mode == "hard":
        return jnp.ceil(jnp.asarray(x))
    return _staircase(x, jnp.ceil, softness, mode, radius, last_passed=-1)


@documented_like(floor, "Raises")
def trunc(
    x: ArrayLike,
    *,
    softness: float | ArrayLike = 0.1,
    mode: ElementwiseMode = "smooth",
    neighbor_radius: int = 5,
) -> jax.Array:
    r"""Soft ``jnp.trunc`` (rounding towards 0): soft steps at every integer but 0.

    $\mathrm{trunc}(x) = \lfloor x \rfloor + H(-x)$, so the soft version is
    the staircase of soft :func:`floor` without its step at 0,
    $\mathrm{floor}(x) + S(-x)$, written around
    $c = \mathrm{sg}(\mathrm{trunc}(x))$ (floor's form for $x \ge 0$, and
    ceil's, $\mathrm{ceil}(x) - S(x)$, for $x < 0$). It is odd, increasing,
    and close to 0 on $(-1, 1)$ away from $\pm 1$; at a nonzero integer $n$
    it is $n \mp \tfrac12$ (the midpoint of the jump towards 0).

    Args:
        x: input array. Hard mode keeps integer dtypes (as ``jnp.trunc`` does).
        mode: ``"hard"`` (``jnp.trunc``), ``"smooth"`` (logistic steps),
            ``"c0"``, ``"c1"``, ``"c2"`` (piecewise-polynomial steps with band
            $\pm 5s$).

    Returns:
        Array of ``x``'s shape; float in soft modes.

    Examples:
        >>> import softjax as sj
        >>> x = jnp.array([-1.7, -0.5, 0.5, 1.0])
        >>> sj.trunc(x, mode="hard")
        Array([-1., -0.,  0.,  1.], dtype=float32)
        >>> sj.trunc(x, softness=0.05, mode="c1")
        Array([-1. ,  0. ,  0. ,  0.5], dtype=float32)
    """
    check_mode(mode)
    radius = validate_positive_int("neighbor_radius", neighbor_radius, minimum=1)
    if mode == "hard":
        return jnp.trunc(jnp.asarray(x))
    return _staircase(x, jnp.trunc, softness, mode, radius, last_passed=None)
