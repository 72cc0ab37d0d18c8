"""``method="softsort"``: rows ``Π_Δ(-|anchor - x̂| / s)`` (Prillo & Eisenschlos 2020).

Anchors are hard order statistics of ``x̂`` (gradients flow through them as
through ``jnp.sort``). Value outputs (``sort``, ``rank``) are fused: rows are
generated 128 at a time and contracted immediately, never materialising the
``n x n`` matrix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from softjax._src.kernels import row_top_k
from softjax._src.kernels.chunking import map_chunks, rowwise
from softjax._src.kernels.simplex import project_simplex
from softjax._src.kernels.softsort import softsort_rows


def argmax(xhat, *, softness, mode, log, options):
    """``Π_Δ(x̂ / s)``: SoftSort's first row up to a constant shift, ``(..., n)``."""
    return project_simplex(xhat / softness, mode, log=log)


def argsort(xhat, *, softness, mode, descending, log, options):
    """The soft permutation matrix around the hard sorted anchors, ``(..., n, n)``; row ``r`` = sorted position ``r``."""
    anchors = jnp.sort(xhat, axis=-1, descending=descending)
    return softsort_rows(anchors, xhat, softness, mode, log)


def top_k(xhat, k, *, softness, mode, log, options):
    """Rows for the ``k`` largest anchors, largest first, ``(..., k, n)``: O(kn)."""
    anchors = row_top_k.top_k(xhat, k)[0]
    return softsort_rows(anchors, xhat, softness, mode, log)


def top_k_mask(xhat, k: int, *, softness, mode, options):
    """The sum of the top ``k`` rows of the soft permutation, ``(..., n)``."""
    return jnp.sum(top_k(xhat, k, softness=softness, mode=mode, log=False, options=options), axis=-2)


def quantile_rows(xhat, k, k_next, *, softness, mode, log, interpolating, options):
    """Rows for the ascending order statistics ``k`` and ``k_next`` (int32, possibly traced), each ``(..., n)``."""
    ordered = jnp.sort(xhat, axis=-1)
    anchors = jnp.stack([jnp.take(ordered, k, axis=-1), jnp.take(ordered, k_next, axis=-1)], -1)
    rows = softsort_rows(anchors, xhat, softness, mode, log)
    return rows[..., 0, :], rows[..., 1, :]


def sort(x, xhat, *, softness, mode, descending, gated, unsquash, options):
    """Soft-sorted values ``P x`` (rows detached unless ``gated``), fused over chunks of 128 rows, ``(..., n)``."""
    def one_row(x_row, xhat_row):
        def chunk_values(anchors):
            p = softsort_rows(anchors, xhat_row, softness, mode)
            return (p if gated else jax.lax.stop_gradient(p)) @ x_row

        return map_chunks(chunk_values, jnp.sort(xhat_row, descending=descending))

    return rowwise(one_row)(x, xhat)


def rank(x, xhat, *, softness, mode, descending, options):
    """Soft ranks in ``[1, n]`` (rank 1 = largest when ``descending``): one projection per element over the anchors."""
    def one_row(xhat_row):
        n = xhat_row.shape[-1]
        anchors = jnp.sort(xhat_row, descending=descending)
        positions = jnp.arange(1, n + 1, dtype=xhat_row.dtype)

        def chunk_ranks(elements):
            # One projection per element over the anchors (column-wise view).
            return softsort_rows(elements, anchors, softness, mode) @ positions

        return map_chunks(chunk_ranks, xhat_row)

    return rowwise(one_row)(xhat)


__all__ = ["argmax", "argsort", "quantile_rows", "rank", "sort", "top_k", "top_k_mask"]
