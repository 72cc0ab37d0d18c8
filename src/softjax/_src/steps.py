"""The two scalar relaxations every elementwise operator is built from.

* :func:`sigmoidal` — a soft Heaviside step ``S``;
* :func:`softrelu` — a soft ReLU ``R``, either the antiderivative of ``S``
  (``gated=False``) or ``x·S(x)`` (``gated=True``).

The piecewise modes are polynomials of ``u = (x / s) / 5`` on ``[-1, 1)``; the
factor 1/5 makes their transition band ``[-5s, 5s]`` comparable to the
logistic one. The order of floating-point operations is fixed so that
float64 results reproduce the tested reference values to the last bit.

The private p-norm modes use algebraically identical but numerically
safer forms of their direct closed formulas (agreeing to ~3e-15 in float64):
``P(u) - 1/2`` is computed as an odd function of ``u`` (exact symmetry, so soft
``abs`` stays ``>= 0``), and ``_c2_pnorm`` uses a branch-free Cardano root whose
float32 Hessians stay finite. NaN inputs propagate in every mode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src.types import SoftBool, StepMode
from softjax._src.validation import STEP_MODES, validate_softness

# Hermite smoothstep polynomials P(u) on [-1, 1], highest power first.
_STEP_COEFFS = {
    "c0": (0.5, 0.5),
    "c1": (-0.25, 0.0, 0.75, 0.5),
    "c2": (0.1875, 0.0, -0.625, 0.0, 0.9375, 0.5),
}
# Their antiderivatives G(u) normalised by G(-1) = 0, G(1) = 1.
_RELU_COEFFS = {
    "c0": (0.25, 0.5, 0.25),
    "c1": (-0.0625, 0.0, 0.375, 0.5, 0.1875),
    "c2": (0.03125, 0.0, -0.15625, 0.0, 0.46875, 0.5, 0.15625),
}


def _polyval(coeffs: tuple[float, ...], u: jax.Array) -> jax.Array:
    # Horner's rule unrolled (jnp.polyval's scan carry would be seeded
    # unsharded and fail to type-check on explicit-mesh inputs).
    acc = jnp.full_like(u, coeffs[0])
    for c in coeffs[1:]:
        acc = acc * u + jnp.asarray(c, u.dtype)
    return acc


def _pnorm_c1_step(u: jax.Array) -> jax.Array:
    # P solves sqrt(P) - sqrt(1 - P) = u (two-element p = 3/2 simplex projection):
    # P = (u + sqrt(2 - u^2))^2 / 4, expanded to 1/2 + u sqrt(2 - u^2) / 2 so that
    # P - 1/2 has exactly the sign of u (keeps soft abs >= 0, P(0) = 1/2 exactly).
    return jnp.clip(0.5 + 0.5 * (u * jnp.sqrt(2.0 - u * u)), 0.0, 1.0)


def _pnorm_c2_step(u: jax.Array) -> jax.Array:
    # P = b^3 where b^3 + (b - u)^3 = 1; with b = t + u/2 this is the depressed
    # cubic t^3 + A t + B = 0, A = 0.75 u^2, B = -0.5. Its single real root is
    # written in the cancellation-free Cardano form t = c - p/c with p = A/3,
    # c = cbrt(1/4 + sqrt(1/16 + p^3)) >= cbrt(1/2). This equals the
    # hyperbolic Cardano form (to ~3e-15 in float64) but has no branch at A = 0 and no
    # u^-3 intermediates, whose derivatives overflowed float32 Hessians.
    p = u * u / 4.0
    c = jnp.cbrt(0.25 + jnp.sqrt(0.0625 + p * p * p))
    t = c - p / c
    # P = (t + u/2)^3 = 1/2 + ((t + u/2)^3 - (t - u/2)^3) / 2 since P(u) + P(-u) = 1;
    # the odd part u (3t^2 + u^2/4) / 2 has exactly the sign of u.
    return jnp.clip(0.5 + 0.5 * (u * (3.0 * t * t + p)), 0.0, 1.0)


def _pnorm_c1_relu(u: jax.Array) -> jax.Array:
    w = 2.0 - u * u
    return u / 2.0 - w * jnp.sqrt(w) / 6.0 + 2.0 / 3.0


def _pnorm_c2_relu(u: jax.Array) -> jax.Array:
    g = _pnorm_c2_step(u)  # already clipped to [0, 1]
    # h(g) = (1-g)^{4/3} + g^{4/3} is exactly 1 at g in {0, 1}; there the power's
    # second derivative is infinite, so guard it (double where) to keep Hessians
    # finite. g' = 0 wherever g hits 0 or 1, so first derivatives are unchanged.
    inner = (g > 0) & (g < 1)
    g_safe = jnp.where(inner, g, 0.5)
    h = jnp.where(inner, (1.0 - g_safe) ** (4.0 / 3.0) + g_safe ** (4.0 / 3.0), 1.0)
    return 0.75 + u * g - 0.75 * h


# Beyond |x / s| = 1000 the logistic is exactly 0 or 1 (and softplus exactly
# x or 0) in every float dtype, since exp(-1000) underflows even in float64.
_LOGISTIC_SATURATION = 1000.0


def _scaled(x: jax.Array, softness: float | ArrayLike, limit: float) -> tuple[jax.Array, jax.Array]:
    """``z = x / s`` where ``|x / s| <= limit`` (0 elsewhere) and the mask of the rest.

    The division is repeated on the masked ``x`` (double where): where ``x / s``
    overflows, or where a saturated branch would be differentiated at a huge
    argument, the discarded branch would otherwise put ``0 * inf = NaN`` into
    the gradient (with respect to ``x`` and to ``softness``).
    """
    saturated = jnp.abs(x / softness) > limit  # NaN: False, so NaN propagates
    return jnp.where(saturated, 0.0, x) / softness, saturated


def _band(x: jax.Array, softness: float | ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Band coordinate ``u = (x / s) / 5`` on ``[-1, 1)`` (0 outside) and the masks below/above it.

    NaN is in neither mask, so it reaches the polynomial and propagates. The
    polynomials are only evaluated inside the band: ``u**5`` of a huge ``u``
    overflows, and its discarded derivative would turn into NaN.
    """
    u = x / softness / 5.0
    below, above = u < -1, u >= 1
    # The same u as the masks: recomputed from x, XLA's rewrites of the
    # divisions could put it a rounding outside [-1, 1). Its derivative
    # 1 / (5 s) is finite, so the discarded branch adds an exact 0.
    u_in = jnp.where(below | above, 0.0, u)
    return u_in, below, above


def _band_step(mode: str, u: jax.Array) -> jax.Array:
    if mode == "_c1_pnorm":
        return _pnorm_c1_step(u)
    if mode == "_c2_pnorm":
        return _pnorm_c2_step(u)
    return _polyval(_STEP_COEFFS[mode], u)


def _band_relu(mode: str, u: jax.Array) -> jax.Array:
    if mode == "_c1_pnorm":
        g = _pnorm_c1_relu(u)
    elif mode == "_c2_pnorm":
        g = _pnorm_c2_relu(u)
    else:
        g = _polyval(_RELU_COEFFS[mode], u)
    # G(-1) = 0 is reached through cancellation; rounding would otherwise
    # leave values of -1e-17 (float64) / -1e-8 (float32) near the band's
    # lower edge, where G and G' vanish anyway.
    return jnp.maximum(g, 0.0)


def sigmoidal(x: ArrayLike, softness: float | ArrayLike = 0.1, mode: StepMode = "smooth") -> SoftBool:
    r"""Soft Heaviside step: an S-shaped curve from 0 to 1 with value 1/2 at 0.

    Args:
        x: input array (any shape; integers are promoted by the division).
        softness: ``s > 0``, width of the transition; a scalar or an array
            broadcastable against ``x``. ``s -> 0`` recovers the hard step.
        mode: ``"smooth"`` (logistic), ``"c0"`` (linear ramp), ``"c1"`` (cubic
            smoothstep), ``"c2"`` (quintic smoothstep), or the private
            ``"_c1_pnorm"`` / ``"_c2_pnorm"`` (two-element p-norm simplex
            projections).

    Returns:
        SoftBool of ``x``'s shape.

    With $z = x/s$ and $u = z/5$:

    * smooth: $\sigma(z)$;
    * c0: $\tfrac12 + \tfrac u2$ (piecewise **linear**);
    * c1: $\tfrac12 + \tfrac34 u - \tfrac14 u^3$;
    * c2: $\tfrac12 + \tfrac{15}{16}u - \tfrac58 u^3 + \tfrac{3}{16}u^5$;

    the piecewise modes are 0 for $u < -1$ and 1 for $u \ge 1$.

    Raises:
        ValueError: ``"Invalid mode: ..."`` for an unknown mode (including
            ``"hard"``), or a non-positive / non-finite concrete ``softness``.

    Examples:
        >>> import softjax as sj
        >>> sj.sigmoidal(jnp.array([-1.0, 0.0, 0.05]), mode="c0")
        Array([0.  , 0.5 , 0.55], dtype=float32)
    """
    if mode not in STEP_MODES:
        raise ValueError(
            f"Invalid mode: {mode!r}. sigmoidal accepts mode in {', '.join(map(repr, STEP_MODES))}."
        )
    validate_softness(softness)
    x = jnp.asarray(x)
    if mode == "smooth":
        z, saturated = _scaled(x, softness, _LOGISTIC_SATURATION)
        return jnp.where(saturated, jnp.where(x > 0, 1.0, 0.0), jax.nn.sigmoid(z))
    u, below, above = _band(x, softness)
    p = _band_step(mode, u)
    # Rounding can leave P a few ulps outside [0, 1] next to the band's edges.
    p = jnp.where(p < 0, 0.0, jnp.where(p > 1, 1.0, p))
    return jnp.where(below, 0.0, jnp.where(above, 1.0, p))


def softrelu(
    x: ArrayLike,
    softness: float | ArrayLike = 0.1,
    mode: StepMode = "smooth",
    gated: bool = False,
) -> jax.Array:
    r"""Soft ReLU.

    Args:
        x: input array.
        softness: ``s > 0`` (scalar or broadcastable array).
        mode: the step $S$ that :func:`sigmoidal` uses: ``"smooth"``
            (logistic), ``"c0"`` (linear ramp), ``"c1"`` (cubic smoothstep),
            ``"c2"`` (quintic smoothstep), or the private ``"_c1_pnorm"`` /
            ``"_c2_pnorm"`` (two-element p-norm simplex projections).
        gated: if ``False`` (default), $R$ is the antiderivative of the step
            $S$ with $R(-\infty) = 0$, so $R'(x) = S(x)$ exactly
            (smooth: $s\,\mathrm{softplus}(x/s)$). If ``True``,
            $R(x) = x\,S(x)$ (SiLU-like).

    Returns:
        Array of ``x``'s shape. For non-gated piecewise modes $R(x) = 0$ for
            $x < -5s$ and $R(x) = x$ for $x \ge 5s$; e.g. c0 gives
            $(x + 5s)^2 / (20 s)$ inside the band.

    Raises:
        ValueError: ``"Unknown mode '...' for softrelu."`` or a bad softness.

    Examples:
        >>> import softjax as sj
        >>> sj.softrelu(jnp.array([-1.0, 0.0, 1.0]), mode="c0")
        Array([0.   , 0.125, 1.   ], dtype=float32)
    """
    if mode not in STEP_MODES:
        raise ValueError(
            f"Unknown mode {mode!r} for softrelu. Expected one of {', '.join(map(repr, STEP_MODES))}."
        )
    validate_softness(softness)
    x = jnp.asarray(x)
    if gated:
        return x * sigmoidal(x, softness, mode)
    if mode == "smooth":
        z, saturated = _scaled(x, softness, _LOGISTIC_SATURATION)
        return jnp.where(saturated, jnp.where(x > 0, x, 0.0), jax.nn.softplus(z) * softness)
    u, below, above = _band(x, softness)
    return jnp.where(below, 0.0, jnp.where(above, x, 5.0 * _band_relu(mode, u) * softness))
