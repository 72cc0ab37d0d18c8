"""NeuralSort rows (Grover et al. 2019, "Stochastic Optimization of
Sorting Networks via Continuous Relaxations").

The row for the ``r``-th largest element is the simplex projection of
``(n + 1 - 2r) x̂ - A`` with ``A_j = Σ_i |x̂_i - x̂_j|``. Unlike the paper, the
absolute value is softened with the operator's own step (``softabs``), so the
rows are smooth in every mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from softjax._src.kernels import compensated, segment_tree
from softjax._src.kernels.chunking import map_chunks
from softjax._src.kernels.simplex import project_simplex

# In the piecewise modes softabs(d) = d (2 S(d / w) - 1) with the step S a
# polynomial on |d| < w = 5 s and 0/1 beyond, so softabs(d) - |d| is
# w q(|d| / w) on the band and exactly 0 off it; q(t) = sum_p coef_p t^p.
BAND_WIDTH = 5.0
_BAND_POLYNOMIALS = {
    "c0": {1: -1.0, 2: 1.0},
    "c1": {1: -1.0, 2: 1.5, 4: -0.5},
    "c2": {1: -1.0, 2: 15 / 8, 4: -5 / 4, 6: 3 / 8},
}
BANDED_MODES = tuple(_BAND_POLYNOMIALS)


def pairwise_abs_sum(xhat: jax.Array, softabs: Callable[[jax.Array], jax.Array]) -> jax.Array:
    r"""$A_j = \sum_i \operatorname{softabs}(\hat x_i - \hat x_j)$ for a 1-D row.

    Computed 128 columns at a time so memory stays ``O(128 n)`` (forward and
    backward) instead of ``O(n²)``.
    """
    return map_chunks(lambda cols: jnp.sum(softabs(xhat[None, :] - cols[:, None]), axis=1), xhat)


class SortedAbsSum(NamedTuple):
    r"""$A$ on an ascending row as ``base + (high + low)``.

    ``base`` (scalar) is $A_0$'s hard part; ``high + low`` is a double word
    (Dekker) holding $A_j - \text{base}$ to about $u^2 \sum |\text{steps}|$
    plus the band part's own rounding, so ``A_j - A_k`` of nearby ``j, k`` is
    accurate relative to itself instead of to $|A|$ (float32 at n = 16384:
    $|A| \sim 10^4$ rounds to about $10^{-3}$, which is 0.01 in the scores
    $z = (c\hat x - A)/s$ at s = 0.1).
    """

    base: jax.Array
    high: jax.Array
    low: jax.Array

    def total(self) -> jax.Array:
        return self.base + (self.high + self.low)


def _double_word_cumsum(t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Prefix sums of ``t`` as double words ``(high, low)`` (error about ``u² Σ|t|``)."""

    def combine(a, b):
        return compensated.add(a[0], a[1] + b[1], b[0])

    return jax.lax.associative_scan(combine, (t, jnp.zeros_like(t)))


def sorted_abs_sum_parts(v: jax.Array, softness: jax.Array | float, mode: str) -> SortedAbsSum:
    r"""$A_j = \sum_i \operatorname{softabs}(v_i - v_j)$ for ascending 1-D ``v``, ``O(n \log n)``.

    For a piecewise ``mode`` (one of :data:`BANDED_MODES`), whose softabs is
    ``|d|`` off a band ``|d| < w = 5 s``:

    * the hard part $\sum_i |v_i - v_j|$ has increments
      $(v_j - v_{j-1})(2j - n)$ (0-based ``j``): a cumulative sum (in double
      words), no pairwise difference;
    * the band part $w \sum_{|v_i - v_j| < w} q(|v_i - v_j| / w)$ is a
      polynomial in the distance, summed from the power sums of the
      neighbours on each side (:mod:`softjax._src.kernels.segment_tree`, in
      units of ``w``, capped at one band).

    Equal entries get bitwise equal parts (as the dense sum gives them equal
    ``A``), with their own derivatives.
    """
    coefficients = _BAND_POLYNOMIALS[mode]
    degree = max(coefficients)
    n = v.shape[-1]
    softness = jnp.asarray(softness, v.dtype)
    w = BAND_WIDTH * softness
    gaps = v[1:] - v[:-1]
    weights = (2 * jnp.arange(1, n) - n).astype(v.dtype)
    high, low = _double_word_cumsum(jnp.concatenate([jnp.zeros((1,), v.dtype), gaps * weights]))

    fixed = jax.lax.stop_gradient(v)
    s_fixed = jax.lax.stop_gradient(softness)
    positions = jnp.arange(n, dtype=jnp.int32)
    steps = n.bit_length() + 1

    def band_coordinate(i):  # as the step computes it, so the band's ends agree bitwise
        return (fixed[i] - fixed) / s_fixed / BAND_WIDTH

    # The band [lo, hi) around each j: -1 <= (v_i - v_j) / w < 1.
    lo = segment_tree.bisect(
        jnp.zeros_like(positions), positions, lambda i: band_coordinate(i) < -1, steps, fixed
    )
    hi = segment_tree.bisect(
        positions + 1, jnp.full_like(positions, n), lambda i: band_coordinate(i) < 1, steps, fixed
    )
    tree = segment_tree.build(v, None, degree, unit=w, cap=1.0)
    above = segment_tree.range_moments(
        tree, n, positions + 1, hi, lambda i: (tree["first"][i] - v) / w, True, degree
    )
    below = segment_tree.range_moments(
        tree, n, lo, positions, lambda i: (v - tree["last"][i]) / w, False, degree
    )
    band = sum(c * (above[f"e{p}"] + below[f"e{p}"]) for p, c in coefficients.items())
    low = low + w * band
    # A depends on the value only: ties take the first tied entry's parts.
    first_tied = jnp.searchsorted(fixed, fixed, side="left")

    def tie(t):
        return jax.lax.stop_gradient(t[first_tied]) + (t - jax.lax.stop_gradient(t))

    return SortedAbsSum(jnp.sum(v - v[0]), tie(high), tie(low))


def sorted_abs_sum(v: jax.Array, softness: jax.Array | float, mode: str) -> jax.Array:
    """:func:`sorted_abs_sum_parts` as one array ``(n,)``."""
    return sorted_abs_sum_parts(v, softness, mode).total()


def descending_coefficients(n: int, dtype: jnp.dtype) -> jax.Array:
    """``n + 1 - 2r`` for ``r = 1..n``: the coefficient of the r-th largest row."""
    return (n + 1 - 2 * jnp.arange(1, n + 1)).astype(dtype)


def neuralsort_rows(
    coefficients: jax.Array,
    xhat: jax.Array,
    pairwise: jax.Array,
    softness: jax.Array | float,
    mode: str,
    log: bool = False,
) -> jax.Array:
    r"""Rows $\Pi_\Delta\big((c_r \hat x - A) / s\big)$.

    Args:
        coefficients: ``(..., k)``; ``n + 1 - 2r`` selects the r-th largest
            element, ``2r - n - 1`` the r-th smallest.
        xhat: ``(..., n)``.
        pairwise: ``(..., n)``, the term ``A`` of :func:`pairwise_abs_sum`.
        softness, mode, log: as for :func:`project_simplex`.

    Returns:
        ``(..., k, n)``.
    """
    scores = coefficients[..., :, None] * xhat[..., None, :] - pairwise[..., None, :]
    return project_simplex(scores / softness, mode, log=log)
