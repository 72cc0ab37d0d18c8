"""NeuralSort rows (Grover et al. 2019, "Stochastic Optimization of
Sorting Networks via Continuous Relaxations").

The row for the ``r``-th largest element is the simplex projection of
``(n + 1 - 2r) x̂ - A`` with ``A_j = Σ_i |x̂_i - x̂_j|``. Unlike the paper, the
absolute value is softened with the operator's own step (``softabs``), so the
rows are smooth in every mode.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from softjax._src.kernels.chunking import map_chunks
from softjax._src.kernels.simplex import project_simplex


def pairwise_abs_sum(xhat: jax.Array, softabs: Callable[[jax.Array], jax.Array]) -> jax.Array:
    r"""$A_j = \sum_i \operatorname{softabs}(\hat x_i - \hat x_j)$ for a 1-D row.

    Computed 128 columns at a time so memory stays ``O(128 n)`` (forward and
    backward) instead of ``O(n²)``.
    """
    return map_chunks(lambda cols: jnp.sum(softabs(xhat[None, :] - cols[:, None]), axis=1), xhat)


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
