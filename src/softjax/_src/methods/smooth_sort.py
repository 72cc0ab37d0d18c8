r"""``method="smooth_sort"``: the C∞ permutahedron relaxation (extends Blondel et al. 2020).

Works on the **raw** values (declared ``standardizes=False``: the ``standardize``
flag is ignored, since logit-unsquashing would amplify constraint
violations) and supports only ``mode="smooth"`` (declared ``modes=("smooth",)``:
the operators reject other soft modes and short-circuit ``mode="hard"``
before calling here). Everything is solved in the default float
(float64 under x64; float32 for float32 and bfloat16 inputs otherwise) and
cast back.

* ``sort``: scores $\rho / s$, $\rho_j = j / \max(n-1, 1)$, against the smooth
  bounds of $x$ with temperature $\tau_b = \min(s, 1)$. Cost: O(n²) time for the
  bounds (elementary symmetric polynomials), O(n) memory forward and
  O(n√n) in reverse mode; in float32 with n ≥ 2048 a saddle-point expansion
  with exact end bands, O(n) (see :func:`~softjax._src.kernels.esp_bounds.esp_bounds`).
  The dual and the derivatives are O(n) per Newton step.
* ``rank``: scores $\mp x / s$ against the rank anchors $(j+1)/\max(n-1,1)$,
  whose bounds have a closed form, so ``rank`` is O(n log n) overall.

**Softness scales differ between ``sort`` and ``rank``**: in
``sort`` the anchors are spaced $1/((n-1)s)$ and the softness also sets the
bound temperature $\tau_b = \min(s, 1)$ on the data's scale; in ``rank`` the data
are divided by $s$ against anchors spaced $1/(n-1)$. The same softness is
therefore much softer for ``rank`` at small ``n``.

**Range** (documented rather than fixed): the smooth bounds
enlarge the permutahedron ($b_k \ge$ sum of the top $k$), so sorted values can
lie outside $[\min x, \max x]$ and ranks outside $[1, n]$, increasingly so for
large softness (e.g. softness 1 on 5 elements gives ranks in about
$[-2.1, 8.0]$). Clipping would destroy the C∞ property this method exists
for. The solve itself is converged to the dual gradient norm, so gradients
match finite differences (the inaccurate 50-step CG and loose L-BFGS of
prior implementations are gone).

**Offsets and magnitudes**: each row is solved in its own frame, centred and
in power-of-two units of its radius (see :func:`_row_frame`). Both are exact
(``sort(x + c) = sort(x) + c`` and ``rank(x + c) = rank(x)``; a change of
units is a tilt of the dual's scores), so outputs and derivatives are those
of the relaxation on the raw values, while every quantity of the solve stays
of order one: float32 and bfloat16 inputs give finite values and gradients
for any finite data (magnitudes ``1e-30`` to the largest float, offsets,
mixed scales, ties) and softness, and match float64 to rounding (float32
``sort(x + 1e4)`` used to move by up to 18, ranks of ``1e6 * normal`` spanned
``[-617, 407]``, and gradients were NaN at scale ``1e6``). Two properties of
the relaxation itself are worth knowing here. It is not scale-invariant (the
entropies have a fixed weight): on data far wider than ``(n - 1) s`` the
soft ``sort`` pulls the outputs towards the mean, and on well-separated data
the soft ranks tend to ``(n - 1)`` times the increments of the rank bounds
(``[-3.2, 37.2]`` for n = 33 at softness 0.1) rather than to ``1..n``.
Float32 resolves structure within a row only down to about ``eps * n *
radius``: in a row mixing values ``1e-3`` and ``1e6``, the soft interplay of
the small values (at the scale of ``tau_b``) is below that, so their
gradients agree with float64 only to a few percent (values to rounding).

**Float32 at large n**: the projection cannot resolve gaps between
neighbouring outputs below the rounding of the bounds ($\epsilon\, n\, |x|$):
float32 ``sort`` deviates from float64 by about ``1e-3`` at n = 2048, ``0.3``
at n = 4096 and whole units at n = 16384; float32 ``rank`` by about 2 rank
units at n = 1024 and 40 at n = 2048. Beyond ``FLOAT32_MAX_N`` (sort 2048,
rank 1024) a ``UserWarning`` says so at trace time. Use float64 for
``smooth_sort`` at that size (``fast_soft_sort`` has no such limit).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
from jax import lax

from softjax._src.kernels.esp_bounds import (
    esp_bounds,
    esp_bounds_arithmetic,
    work_dtype,
)
from softjax._src.kernels.smooth_sort import smooth_project


def _bound_temperature(softness):
    return jnp.minimum(softness, 1.0)


# Largest n at which the float32 solve is still within ~1e-3 (sort values) /
# ~2 rank units (rank) of float64 on standard-normal data, softness 0.1.
FLOAT32_MAX_N = {"sort": 2048, "rank": 1024}


def _warn_float32_precision(x, op: str) -> None:
    """Trace-time warning: beyond FLOAT32_MAX_N the float32 solve is not accurate."""
    n = x.shape[-1]
    if jnp.finfo(work_dtype(x)).bits <= 32 and n > FLOAT32_MAX_N[op]:
        warnings.warn(
            f"smooth_sort {op} in float32 with n = {n} > {FLOAT32_MAX_N[op]}: the dual solve "
            "cannot resolve gaps between neighbouring outputs below the rounding of the "
            "bounds, results may deviate from float64 by O(1); enable jax_enable_x64 "
            "(float64) or use method='fast_soft_sort'",
            UserWarning,
            stacklevel=4,
        )


def _min_temperature(dtype):
    """Smallest temperature, and inverse softness, in units of the row's scale.

    A temperature this small enters the bounds as at most ``tau log C(n, k)``,
    far below their rounding, and a score gain this large makes every gap of
    the scaled row (at least ``eps`` relative, except around zero) a hard one;
    clamping there only keeps ``x / tau`` and the scores finite.
    """
    return float(jnp.finfo(dtype).eps) ** 3


def _row_frame(x, floor):
    """Centre, power-of-two scale and its inverse for each row, ``(..., 1)``, all gradient-free.

    The outputs do not depend on the centre or the scale: the relaxation is
    exactly translation-equivariant and a change of units is exact (see
    :func:`~softjax._src.kernels.smooth_sort.scale_tilt`). So both are treated
    as constants (the true derivatives with respect to them are zero), and
    chosen for rounding only:

    * centre: the midrange when the row sits away from zero (an offset
      ``c + x`` with ``|c| >> spread``: subtracting it is exact and removes
      the offset from every sum of the solve), but 0 when the midrange is
      within twice the half range, so that values near zero in rows of mixed
      magnitudes keep their relative precision (a midrange of 1e5 would round
      the gaps between values of size 1e-3 to 1e-2 in float32);
    * scale ``a = 2^e`` with the row's radius around the centre (at least
      ``floor``) in ``[a, 2a)``, so ``(x - centre) / a`` lies in ``[-2, 2]``
      and scaling is exact. The exponent is kept within ``+-(max exponent -
      2)`` so that ``1 / a`` is a normal number (XLA on CPU flushes
      subnormals: ``x / 2^127`` was 0 in float32).
    """
    hi = jnp.max(x, -1, keepdims=True)
    lo = jnp.min(x, -1, keepdims=True)
    # A row with both signs is centred on 0 anyway; within one sign hi - lo
    # cannot overflow. (0.5 hi + 0.5 lo is no remedy: XLA refactors it into
    # 0.5 (hi + lo), which overflowed for rows near the largest float.)
    one_sign = (lo >= 0) | (hi <= 0)
    half = jnp.where(one_sign, 0.5 * (hi - lo), 0.0)
    mid = lo + half
    centre = jnp.where(one_sign & (jnp.abs(mid) > 2 * half), mid, 0.0)
    radius = jnp.maximum(hi - centre, centre - lo)
    _, e = jnp.frexp(jnp.maximum(radius, floor))
    limit = jnp.finfo(x.dtype).maxexp - 2
    e = jnp.clip(e - 1, -limit, limit)
    one = jnp.ones_like(hi)
    scale, inv_scale = jnp.ldexp(one, e), jnp.ldexp(one, -e)
    return tuple(lax.stop_gradient(v) for v in (centre, scale, inv_scale))


def _sort_in_units(xp, tau, gain, scale):
    """Soft sort of the row ``xp`` given in units of ``scale``, result in the same units.

    ``tau`` is the bound temperature in those units, ``gain`` the inverse
    softness (the anchors' factor).
    """
    n = xp.shape[-1]
    dt = xp.dtype
    b, b_n = esp_bounds(xp, jnp.maximum(tau, _min_temperature(dt)))
    anchors = jnp.arange(n, dtype=dt) / max(n - 1, 1)
    return smooth_project(
        jnp.broadcast_to(anchors, xp.shape), b, b_n, gain=gain, log_scale=jnp.log(scale[..., 0])
    )


@jax.custom_jvp
def _sort_framed(x, tau, gain, centre, scale, inv_scale):
    """``centre + scale * sort((x - centre) / scale)`` at temperature ``tau / scale``."""
    return centre + scale * _sort_in_units((x - centre) * inv_scale, tau * inv_scale, gain, scale)


@_sort_framed.defjvp
def _sort_framed_jvp(primals, tangents):
    # The frame is exact, so d sort / dx is the derivative in units: the factors
    # scale and 1 / scale cancel. Applied separately (the plain chain rule),
    # cotangents were multiplied by the scale before meeting 1 / scale: for rows
    # of magnitude 1e38 they overflowed in float32 (inf * 0 = NaN gradients).
    # So data and temperature tangents enter unscaled (both are on the data's
    # scale), and only the unitless gain's is scaled. centre and scale are
    # constants (their true derivative is zero).
    x, tau, gain, centre, scale, inv_scale = primals
    dx, dtau, dgain = tangents[:3]
    xp = (x - centre) * inv_scale
    taup = tau * inv_scale

    def in_units(xp, taup, gain):
        return _sort_in_units(xp, taup, gain, scale)

    y, dy = jax.jvp(
        in_units, (xp, taup, gain), (dx, jnp.broadcast_to(dtau, taup.shape), dgain * scale[..., 0])
    )
    return centre + scale * y, dy


def sort(x, xhat, *, softness, mode, descending, gated, unsquash, options):
    r"""Soft sort by the C∞ projection of the anchors $\rho/s$ onto the smooth permutahedron of $x$.

    ``xhat`` is the raw input here; ``mode`` is ``"smooth"``; ``gated``,
    ``unsquash`` and ``options`` are unused. Output is in ascending order
    unless ``descending``.

    Each row is solved in its own frame (see :func:`_row_frame`): centred on
    $m$ and in units $a$ of its radius (at least $\tau_b$), i.e. with bounds
    of $(x - m)/a$ at temperature $\tau_b/a$ and scores tilted by $\log a$,
    then mapped back ($m + a\,y'$). This is exact (the relaxation is
    translation-equivariant and the change of units is a tilt of the dual), and
    keeps every quantity of the float32 solve of order one, whatever the data's
    offset and magnitude.
    """
    del xhat, gated, unsquash, options, mode
    _warn_float32_precision(x, "sort")
    dt = work_dtype(x)
    xw = x.astype(dt)
    tiny = _min_temperature(dt)
    tau = jnp.asarray(_bound_temperature(softness), dt)
    centre, scale, inv_scale = _row_frame(xw, jnp.maximum(tau, jnp.finfo(dt).tiny))
    # one gain per row: its tangent is scaled by the row's units
    gain = jnp.broadcast_to(1.0 / jnp.maximum(jnp.asarray(softness, dt), tiny), scale.shape[:-1])
    y = _sort_framed(xw, tau, gain, centre, scale, inv_scale).astype(x.dtype)
    return y[..., ::-1] if descending else y


def rank(x, xhat, *, softness, mode, descending, options):
    r"""Soft ranks $(n-1)\,y$ with $y$ the C∞ projection of $\mp x/s$ onto the smooth rank permutahedron.

    Rank 1 is the largest element when ``descending``. Ranks may leave
    $[1, n]$ slightly (see the module docstring). ``mode`` is ``"smooth"``;
    ``options`` is unused.

    Ranks are invariant to a common shift of $x$ (the total $\sum y$ is fixed),
    so the scores are formed from the row in its frame (see :func:`_row_frame`),
    $(x - m)/a$ with the gain $a/s$ applied to their gaps (capped where it would
    overflow): the gaps keep their relative precision for any offset and
    magnitude.
    """
    del xhat, options, mode
    _warn_float32_precision(x, "rank")
    n = x.shape[-1]
    dt = work_dtype(x)
    xw = x.astype(dt)
    tiny = _min_temperature(dt)
    b, b_n = esp_bounds_arithmetic(n, _bound_temperature(softness), dt)
    centre, scale, inv_scale = _row_frame(xw, jnp.finfo(dt).tiny)
    z = (xw - centre) * inv_scale
    gain = scale[..., 0] / jnp.maximum(jnp.asarray(softness, dt), scale[..., 0] * tiny)
    return (smooth_project(-z if descending else z, b, b_n, gain=gain) * max(n - 1, 1)).astype(x.dtype)


__all__ = ["rank", "sort"]
