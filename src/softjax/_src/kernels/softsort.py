"""SoftSort rows (Prillo & Eisenschlos 2020, "SoftSort").

The row for an anchor ``a`` (a hard order statistic of the input) is the
simplex projection of the negative distances ``-|a - x̂|``: mass concentrates
on the elements closest to the anchor.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from softjax._src.kernels.simplex import project_simplex


def softsort_rows(
    anchors: jax.Array, xhat: jax.Array, softness: jax.Array | float, mode: str, log: bool = False
) -> jax.Array:
    r"""Rows $\Pi_\Delta(-|a_r - \hat x| / s)$ for every anchor.

    Args:
        anchors: ``(..., k)`` anchor values.
        xhat: ``(..., n)`` (standardized) input row(s).
        softness: ``s > 0``.
        mode: simplex regulariser (``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``).
        log: return log-probabilities.

    Returns:
        ``(..., k, n)``; row ``r`` is a distribution over the ``n`` elements.
    """
    scores = -jnp.abs(anchors[..., :, None] - xhat[..., None, :])
    return project_simplex(scores / softness, mode, log=log)
