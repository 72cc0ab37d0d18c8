r"""``method="smooth_sort"``: the C∞ permutahedron relaxation (spec part 2 §5.6).

Works on the **raw** values (``STANDARDIZES = False``: the ``standardize``
flag is ignored, since logit-unsquashing would amplify constraint
violations) and supports only ``mode="smooth"``; the operators short-circuit
``mode="hard"`` before calling here. Everything is solved in the default float
(float64 under x64) and cast back.

* ``sort``: scores $\rho / s$, $\rho_j = j / \max(n-1, 1)$, against the smooth
  bounds of $x$ with temperature $\tau_b = \min(s, 1)$. Cost: O(n²) time for the
  bounds (elementary symmetric polynomials), O(n) memory forward and
  O(n√n) in reverse mode; in float32 with n ≥ 2048 a saddle-point expansion
  with exact end bands, O(n) (see :func:`~softjax._src.kernels.smooth_sort.esp_bounds`).
  The dual and the derivatives are O(n) per Newton step.
* ``rank``: scores $\mp x / s$ against the rank anchors $(j+1)/\max(n-1,1)$,
  whose bounds have a closed form, so ``rank`` is O(n log n) overall.

**Softness scales differ between ``sort`` and ``rank``** (pitfall 15): in
``sort`` the anchors are spaced $1/((n-1)s)$ and the softness also sets the
bound temperature $\tau_b = \min(s, 1)$ on the data's scale; in ``rank`` the data
are divided by $s$ against anchors spaced $1/(n-1)$. The same softness is
therefore much softer for ``rank`` at small ``n``.

**Range** (pitfall 13, documented rather than fixed): the smooth bounds
enlarge the permutahedron ($b_k \ge$ sum of the top $k$), so sorted values can
lie outside $[\min x, \max x]$ and ranks outside $[1, n]$, increasingly so for
large softness (e.g. softness 1 on 5 elements gives ranks in about
$[-2.1, 8.0]$). Clipping would destroy the C∞ property this method exists
for. The solve itself is converged to the dual gradient norm, so gradients
match finite differences (the inaccurate 50-step CG and loose L-BFGS of
prior implementations are gone).

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

import jax.numpy as jnp

from softjax._src.kernels.smooth_sort import (
    esp_bounds,
    esp_bounds_arithmetic,
    smooth_project,
    work_dtype,
)

STANDARDIZES = False


def _check_mode(mode: str) -> None:
    if mode != "smooth":
        raise ValueError(f"smooth_sort only supports mode='smooth', got mode='{mode}'")


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


def sort(x, xhat, *, softness, mode, descending, gated, unsquash, options):
    r"""Soft sort by the C∞ projection of the anchors $\rho/s$ onto the smooth permutahedron of $x$.

    ``xhat`` is the raw input here; ``gated``, ``unsquash`` and ``options``
    are unused. Output is in ascending order unless ``descending``.
    """
    del xhat, gated, unsquash, options
    _check_mode(mode)
    _warn_float32_precision(x, "sort")
    n = x.shape[-1]
    b, b_n = esp_bounds(x, _bound_temperature(softness))
    anchors = jnp.arange(n, dtype=b.dtype) / max(n - 1, 1)
    y = smooth_project(jnp.broadcast_to(anchors / softness, x.shape), b, b_n).astype(x.dtype)
    return y[..., ::-1] if descending else y


def rank(x, xhat, *, softness, mode, descending, options):
    r"""Soft ranks $(n-1)\,y$ with $y$ the C∞ projection of $\mp x/s$ onto the smooth rank permutahedron.

    Rank 1 is the largest element when ``descending``. Ranks may leave
    $[1, n]$ slightly (see the module docstring). ``options`` is unused.
    """
    del xhat, options
    _check_mode(mode)
    _warn_float32_precision(x, "rank")
    n = x.shape[-1]
    b, b_n = esp_bounds_arithmetic(n, _bound_temperature(softness), x.dtype)
    z = (-x if descending else x) / softness
    return (smooth_project(z, b, b_n) * max(n - 1, 1)).astype(x.dtype)


__all__ = ["STANDARDIZES", "rank", "sort"]
