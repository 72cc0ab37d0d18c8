"""``method="neuralsort"``: rows ``Π_Δ((c_r x̂ - A) / s)`` (Grover et al. 2019).

``A`` (the soft pairwise distance sums) is computed once per row: in
``O(n log n)`` from the sorted row in the piecewise modes (its softabs is
``|d|`` off a band), in ``O(N n)`` by Chebyshev interpolation in the smooth
mode from ``n = 1024`` where that is certified
(:mod:`softjax._src.kernels.smooth_abs_sum`), else in column chunks. ``sort``
and ``rank`` generate rows 128 at a time and contract them immediately, so
memory stays ``O(128 n)``; from ``n = 1024`` on, every mode computes each
row on a certified window of the sorted row instead (``sort`` with
``count=k`` serves ``top_k``'s values with those ``k`` rows only).

Deliberate deviation: ``rank`` reads ``Σ_j (j+1) P_ji / Σ_j P_ji``,
a weighted average of positions that always lies in ``[1, n]``; where an
element receives (numerically) no mass from any row (column sum ``<= 1e-10``,
common in sparse modes at large ``n``) the prior code returned 0, we return
the element's hard rank instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from softjax._src.kernels import neuralsort_window
from softjax._src.kernels.batch_predicate import all_rows
from softjax._src.kernels.chunking import map_chunks, rowwise, sum_chunks
from softjax._src.kernels.neuralsort import (
    BANDED_MODES,
    descending_coefficients,
    neuralsort_rows,
    pairwise_abs_sum,
    sorted_abs_sum_parts,
)
from softjax._src.kernels.smooth_abs_sum import smooth_abs_sum
from softjax._src.steps import sigmoidal

# From these lengths on the banded O(n log n) sum of A (piecewise modes) and
# the interpolated O(N n) one (smooth, N = 96 or 192 nodes) beat the
# pairwise O(n²) sum.
BANDED_MIN_N = 512
SMOOTH_INTERPOLATED_MIN_N = 1024


def _sorted_rows(xhat, pairwise_parts):
    """Each row in ascending order with its ``A``; ``pairwise_parts(v) -> (high, low, extra)``.

    Returns the :class:`~softjax._src.kernels.neuralsort_window.SortedRows`
    and the per-row ``extra`` output.
    """

    def one(row):
        order = jnp.argsort(jax.lax.stop_gradient(row), stable=True)
        v = row[order]
        high, low, extra = pairwise_parts(v)
        return neuralsort_window.SortedRows(order, v, high, low), extra

    return rowwise(one)(xhat)


def _banded(xhat, softness, mode) -> tuple[neuralsort_window.SortedRows, jax.Array]:
    """Each row in ascending order with its ``A`` (``O(n log n)``), and ``A``'s per-row base."""

    def parts(v):
        p = sorted_abs_sum_parts(v, softness, mode)
        return p.high, p.low, p.base

    return _sorted_rows(xhat, parts)


def _interpolated(xhat, softness) -> tuple[neuralsort_window.SortedRows, jax.Array]:
    """Smooth mode: each row in ascending order with its interpolated ``A``, and whether that is exact."""

    def parts(v):
        a, ok = smooth_abs_sum(v, softness)
        return a, jnp.zeros_like(a), ok

    return _sorted_rows(xhat, parts)


def _in_input_order(rows: neuralsort_window.SortedRows, base: jax.Array | None = None) -> jax.Array:
    def one(order, high, low, base):
        return jnp.zeros_like(high).at[order].set(base + (high + low))

    if base is None:
        base = jnp.zeros(rows.v.shape[:-1], rows.v.dtype)
    return rowwise(one)(rows.order, rows.a_high, rows.a_low, base)


def _dense_pairwise(xhat, softness, mode):
    def softabs(d):
        return d * (2 * sigmoidal(d, softness=softness, mode=mode) - 1)

    return rowwise(lambda row: pairwise_abs_sum(row, softabs))(xhat)


class _Prepared(NamedTuple):
    """What the value paths share: sorted rows for the windows (else ``None``) and ``A``."""

    rows: neuralsort_window.SortedRows | None
    rows_ok: jax.Array  # (batch...,) bool, where ``rows``' A is exact
    pairwise: Callable[[], jax.Array]  # A in the input order, for the dense rows


def _prepare(xhat, softness, mode) -> _Prepared:
    n = xhat.shape[-1]
    if mode in BANDED_MODES and n >= BANDED_MIN_N:
        rows, base = _banded(xhat, softness, mode)
        return _Prepared(rows, jnp.ones(xhat.shape[:-1], bool), lambda: _in_input_order(rows, base))
    if mode == "smooth" and n >= SMOOTH_INTERPOLATED_MIN_N:
        rows, ok = _interpolated(xhat, softness)
        return _Prepared(
            rows,
            ok,
            lambda: jax.lax.cond(
                all_rows(ok), lambda: _in_input_order(rows), lambda: _dense_pairwise(xhat, softness, mode)
            ),
        )
    return _Prepared(None, jnp.zeros(xhat.shape[:-1], bool), lambda: _dense_pairwise(xhat, softness, mode))


def _pairwise(xhat, softness, mode):
    return _prepare(xhat, softness, mode).pairwise()


def _coefficients(n, dtype, descending):
    coef = descending_coefficients(n, dtype)
    return coef if descending else -coef


def argmax(xhat, *, softness, mode, log, options):
    """The first row of the descending soft permutation (coefficient ``n - 1``), ``(..., n)``."""
    n = xhat.shape[-1]
    a = _pairwise(xhat, softness, mode)
    coef = jnp.asarray([n - 1], xhat.dtype)
    return neuralsort_rows(coef, xhat, a, softness, mode, log)[..., 0, :]


def argsort(xhat, *, softness, mode, descending, log, options):
    """The soft permutation matrix, ``(..., n, n)``; row ``r`` = sorted position ``r``."""
    a = _pairwise(xhat, softness, mode)
    coef = _coefficients(xhat.shape[-1], xhat.dtype, descending)
    return neuralsort_rows(coef, xhat, a, softness, mode, log)


def top_k(xhat, k, *, softness, mode, log, options):
    """The first ``k`` rows of the descending soft permutation, ``(..., k, n)``."""
    a = _pairwise(xhat, softness, mode)
    coef = descending_coefficients(xhat.shape[-1], xhat.dtype)[:k]
    return neuralsort_rows(coef, xhat, a, softness, mode, log)


def top_k_mask(xhat, k: int, *, softness, mode, options):
    """The sum of the top ``k`` rows of the soft permutation, ``(..., n)``."""
    return jnp.sum(top_k(xhat, k, softness=softness, mode=mode, log=False, options=options), axis=-2)


def quantile_rows(xhat, k, k_next, *, softness, mode, log, interpolating, options):
    """Rows for the ascending order statistics ``k`` and ``k_next``, each ``(..., n)``.

    ``k`` and ``k_next`` are int32, possibly traced.
    """
    n = xhat.shape[-1]
    a = _pairwise(xhat, softness, mode)
    # Ascending order statistic i (0-based) has coefficient 2(i + 1) - n - 1.
    coef = (2 * (jnp.stack([k, k_next]) + 1) - n - 1).astype(xhat.dtype)
    rows = neuralsort_rows(coef, xhat, a, softness, mode, log)
    return rows[..., 0, :], rows[..., 1, :]


def sort(x, xhat, *, softness, mode, descending, gated, unsquash, options, count=None):
    """Soft-sorted values ``P x``, ``(..., n)``, or its first ``count`` positions ``(..., count)``.

    The rows are detached unless ``gated``; fused over chunks of 128 rows.
    Only the ``count`` rows asked for are computed (``top_k``'s values).
    """
    prepared = _prepare(xhat, softness, mode)
    n = xhat.shape[-1]
    coef = _coefficients(n, xhat.dtype, descending)[:count]

    def one_row(x_row, xhat_row, a_row):
        def chunk_values(c):
            p = neuralsort_rows(c, xhat_row, a_row, softness, mode)
            return (p if gated else jax.lax.stop_gradient(p)) @ x_row

        return map_chunks(chunk_values, coef)

    def dense():
        return rowwise(one_row)(x, xhat, prepared.pairwise())

    if prepared.rows is None:
        return dense()
    # On windows of the sorted row where that is exact.
    flat_x, flat_rows = x.reshape(-1, n), jax.tree.map(lambda t: t.reshape(-1, n), prepared.rows)
    rows_ok = prepared.rows_ok.reshape(-1)

    def attempt(width):
        values, ok = neuralsort_window.sorted_values(flat_x, flat_rows, coef, softness, mode, width, gated)
        return values.reshape(xhat.shape[:-1] + coef.shape), ok & rows_ok

    return neuralsort_window.first_exact(n, attempt, dense, _widths(mode, xhat))


def rank(x, xhat, *, softness, mode, descending, options):
    """Soft ranks ``Σ_j (j+1) P_ji / Σ_j P_ji`` in ``[1, n]``, ``(..., n)``.

    Rank 1 is the largest when ``descending``.
    """
    n = xhat.shape[-1]
    prepared = _prepare(xhat, softness, mode)
    coef = _coefficients(n, xhat.dtype, descending)
    positions = jnp.arange(1, n + 1, dtype=xhat.dtype)

    def dense_sums(xhat_row, a_row):
        def chunk_sums(rows, mask):
            c, pos = rows
            p = neuralsort_rows(c, xhat_row, a_row, softness, mode) * mask[:, None]
            return jnp.stack([jnp.sum(p, axis=0), pos @ p])

        return tuple(sum_chunks(chunk_sums, (coef, positions)))

    def finish(xhat_row, col_sum, weighted):
        order = jnp.argsort(xhat_row, descending=descending, stable=True)
        hard = jnp.zeros_like(xhat_row).at[order].set(positions)
        ok = (col_sum > 1e-10) | jnp.isnan(col_sum)  # NaN in, NaN out
        soft = weighted / jnp.where(ok, col_sum, 1.0)
        return jnp.where(ok, jnp.clip(soft, 1.0, n), hard)

    def dense():
        col_sum, weighted = rowwise(dense_sums)(xhat, prepared.pairwise())
        return rowwise(finish)(xhat, col_sum, weighted)

    if prepared.rows is None:
        return dense()
    flat_xhat = xhat.reshape(-1, n)
    flat_rows = jax.tree.map(lambda t: t.reshape(-1, n), prepared.rows)
    rows_ok = prepared.rows_ok.reshape(-1)

    def attempt(width):
        col_sum, weighted, ok = neuralsort_window.rank_sums(flat_rows, coef, softness, mode, width)
        return jax.vmap(finish)(flat_xhat, col_sum, weighted).reshape(xhat.shape), ok & rows_ok

    return neuralsort_window.first_exact(n, attempt, dense, _widths(mode, xhat))


def _widths(mode, xhat):
    if mode == "smooth":
        return neuralsort_window.smooth_widths(xhat.shape[-1], xhat.dtype)
    return neuralsort_window.WIDTHS


__all__ = ["argmax", "argsort", "quantile_rows", "rank", "sort", "top_k", "top_k_mask"]
