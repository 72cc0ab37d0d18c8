"""``method="softsort"``: rows ``Π_Δ(-|anchor - x̂| / s)`` (Prillo & Eisenschlos 2020).

Anchors are hard order statistics of ``x̂`` (gradients flow through them as
through ``jnp.sort``). Value outputs (``sort``, ``rank``) never materialise
the ``n x n`` matrix: in smooth mode, in sorted order, they are two-sided
exponentially decaying sums (:mod:`~softjax._src.kernels.exp_decay_scan`),
O(n) time and memory after one sort (:func:`sort_scan`, :func:`rank_scan`);
in the sparse modes each row's support is a window of sorted positions
around its anchor, found by binary search and summed on a segment tree
(:mod:`~softjax._src.kernels.sparse_window`), O(n log² n) time and O(n)
memory (:func:`sort_window`, :func:`rank_window`). The reference
:func:`sort_dense`, :func:`rank_dense` generate rows 128 at a time and
contract them immediately, O(n²) time.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from softjax._src.kernels import row_top_k, sparse_window
from softjax._src.kernels.batch_predicate import any_rows
from softjax._src.kernels.chunking import map_chunks, rowwise
from softjax._src.kernels.exp_decay_scan import exp_decay_sums
from softjax._src.kernels.simplex import project_simplex
from softjax._src.kernels.softsort import softsort_rows

# Smooth-mode sort/rank take the scan from this length on: n = 1, as both take ~20-100 µs up to n = 64
# (value+grad, batch 8, CPU) and the scan wins beyond (n = 256: 3.5x); tests raise it to force dense.
# The sparse modes' window path uses the same threshold.
SCAN_MIN_N = 1


def argmax(xhat, *, softness, mode, log, options):
    """``Π_Δ(x̂ / s)``: SoftSort's first row up to a constant shift, ``(..., n)``."""
    return project_simplex(xhat / softness, mode, log=log)


def argsort(xhat, *, softness, mode, descending, log, options):
    """The soft permutation matrix around the hard sorted anchors, ``(..., n, n)``.

    Row ``r`` is sorted position ``r``.
    """
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
    """Rows for the ascending order statistics ``k`` and ``k_next``, each ``(..., n)``.

    ``k`` and ``k_next`` are int32, possibly traced.
    """
    ordered = jnp.sort(xhat, axis=-1)
    anchors = jnp.stack([jnp.take(ordered, k, axis=-1), jnp.take(ordered, k_next, axis=-1)], -1)
    rows = softsort_rows(anchors, xhat, softness, mode, log)
    return rows[..., 0, :], rows[..., 1, :]


def sort_dense(x, xhat, *, softness, mode, descending, gated):
    """Soft-sorted values ``P x``, ``(..., n)``, every mode: O(n²) time, O(128 n) memory.

    The rows are detached unless ``gated``; fused over chunks of 128 rows.
    """

    def one_row(x_row, xhat_row):
        def chunk_values(anchors):
            p = softsort_rows(anchors, xhat_row, softness, mode)
            return (p if gated else jax.lax.stop_gradient(p)) @ x_row

        return map_chunks(chunk_values, jnp.sort(xhat_row, descending=descending))

    return rowwise(one_row)(x, xhat)


def rank_dense(xhat, *, softness, mode, descending):
    """Soft ranks in ``[1, n]``, every mode: one projection per element over the anchors, O(n²)."""

    def one_row(xhat_row):
        n = xhat_row.shape[-1]
        anchors = jnp.sort(xhat_row, descending=descending)
        positions = jnp.arange(1, n + 1, dtype=xhat_row.dtype)

        def chunk_ranks(elements):
            # One projection per element over the anchors (column-wise view).
            return softsort_rows(elements, anchors, softness, mode) @ positions

        return map_chunks(chunk_ranks, xhat_row)

    return rowwise(one_row)(xhat)


def _working_dtype(dtype):
    # Half-precision rows are summed in float32 (a long prefix of ones stalls at 256 in bfloat16).
    return jnp.float32 if jnp.dtype(dtype).itemsize < 4 else dtype


def _ascending(xhat_row):
    """``(order, x̂[order])``: the stable ascending order (detached) and the sorted anchors.

    The gather carries gradients to ``x̂`` exactly as ``jnp.sort`` does (same
    stable permutation).
    """
    order = jnp.argsort(jax.lax.stop_gradient(xhat_row))
    return order, xhat_row[order]


def sort_scan(x, xhat, *, softness, descending, gated):
    """``sort_dense`` for ``mode="smooth"``: one sort, then O(n) time and memory.

    Row ``r`` of ``P`` is ``exp(-|a_r - a_j| / s) / Z_r`` in sorted order, so
    ``P x`` and ``Z`` are two-sided decaying sums (:func:`exp_decay_sums`).
    Not ``gated``: the factors and ``Z`` come from detached anchors and
    softness, so gradients reach ``x`` only through the (linear) sums.
    Descending rows are the ascending ones reversed (the same anchors).
    """

    def one_row(x_row, xhat_row):
        work = _working_dtype(x_row.dtype)
        order, anchors = _ascending(xhat_row.astype(work))
        s = softness if gated else jax.lax.stop_gradient(softness)
        if not gated:
            anchors = jax.lax.stop_gradient(anchors)
        values = x_row.astype(work)[order]
        # Rows sum to 1, so P x = c + P (x - c) exactly; centring at the middle value keeps the
        # gated derivative sum_j dP_rj x_j free of the cancellation of a large common offset.
        c = jax.lax.stop_gradient(values[values.shape[-1] // 2])
        c = jnp.where(jnp.isfinite(c), c, 0.0)
        z, total = exp_decay_sums(anchors, jnp.stack([jnp.ones_like(values), values - c]), s)
        out = (c + total / z).astype(x_row.dtype)  # z >= 1: the anchor's own term
        return out[::-1] if descending else out

    return rowwise(one_row)(x, xhat)


def rank_scan(xhat, *, softness, descending):
    """``rank_dense`` for ``mode="smooth"``: one sort, then O(n) time and memory.

    Element ``j`` sits at its own anchor position in sorted order, so its
    rank is the decaying sum of the anchor positions over ``Z``.
    """

    def one_row(xhat_row):
        n = xhat_row.shape[-1]
        work = _working_dtype(xhat_row.dtype)
        order, anchors = _ascending(xhat_row.astype(work))
        # Position of ascending anchor m: m + 1, or n - m among descending anchors.
        positions = jnp.arange(n, 0, -1, dtype=work) if descending else jnp.arange(1, n + 1, dtype=work)
        z, total = exp_decay_sums(anchors, jnp.stack([jnp.ones_like(positions), positions]), softness)
        ranks = (total / z).astype(xhat_row.dtype)
        return jnp.zeros_like(ranks).at[order].set(ranks, unique_indices=True)

    return rowwise(one_row)(xhat)


# Exponent alpha of the sparse rows y = t^alpha (as in the simplex kernel).
_ALPHA = {"c0": 1, "c1": 2, "c2": 3}


def _windows(anchors, softness, mode):
    """Support windows of the sparse rows, from detached anchors (integers: no gradient)."""
    detached = jax.lax.stop_gradient((anchors, softness))
    return sparse_window.windows(*detached, _ALPHA[mode])


# Jitted so that eager (op-by-op) calls reuse the compiled window search
# instead of re-tracing its loops' fresh step functions on every call.
@functools.partial(jax.jit, static_argnames=("mode", "descending", "gated"))
def sort_window(x, xhat, *, softness, mode, descending, gated):
    """``sort_dense`` for the sparse modes: one sort, then O(n log² n) time and O(n) memory.

    The support of row ``r`` is a window of sorted positions around ``r``
    (:mod:`~softjax._src.kernels.sparse_window`). Descending rows are the
    ascending ones reversed (the same anchors).
    """

    def one_row(x_row, xhat_row):
        work = _working_dtype(x_row.dtype)
        order, anchors = _ascending(xhat_row.astype(work))
        s = jnp.asarray(softness, work)
        left, right = _windows(anchors, s, mode)
        if not gated:
            anchors, s = jax.lax.stop_gradient(anchors), jax.lax.stop_gradient(s)
        values = x_row.astype(work)[order]
        # Rows sum to 1: centre the values (as sort_scan does) so the derivatives of a
        # large common offset cancel exactly.
        c = jax.lax.stop_gradient(values[values.shape[-1] // 2])
        c = jnp.where(jnp.isfinite(c), c, 0.0)
        out = c + sparse_window.contract(anchors, s, values - c, left, right, _ALPHA[mode])
        out = out.astype(x_row.dtype)
        return out[::-1] if descending else out

    return rowwise(one_row)(x, xhat)


@functools.partial(jax.jit, static_argnames=("mode", "descending"))
def rank_window(xhat, *, softness, mode, descending):
    """``rank_dense`` for the sparse modes, O(n log² n).

    Element ``j``'s row over the anchors is row ``j`` of the matrix in sorted
    order (its value is its own anchor), so ranks are rows contracted with
    the anchor positions.
    """

    def one_row(xhat_row):
        n = xhat_row.shape[-1]
        work = _working_dtype(xhat_row.dtype)
        order, anchors = _ascending(xhat_row.astype(work))
        s = jnp.asarray(softness, work)
        left, right = _windows(anchors, s, mode)
        positions = jnp.arange(n, 0, -1, dtype=work) if descending else jnp.arange(1, n + 1, dtype=work)
        # Centred at the middle position, as values in sort_window.
        c = jnp.asarray((n + 1) / 2, work)
        ranks = c + sparse_window.contract(anchors, s, positions - c, left, right, _ALPHA[mode])
        ranks = ranks.astype(xhat_row.dtype)
        return jnp.zeros_like(ranks).at[order].set(ranks, unique_indices=True)

    return rowwise(one_row)(xhat)


# Modes whose sort/rank take the window path (smooth takes the scan).
WINDOW_MODES = ("c0", "c1", "c2")


def _use_scan(mode, n):
    return mode == "smooth" and n >= SCAN_MIN_N


def _use_window(mode, xhat):
    return mode in WINDOW_MODES and xhat.shape[-1] >= SCAN_MIN_N


# Rows from this length on read their first `count` descending values off a top
# slice (`_sort_top_window`). Each slice size is one more window sort to compile
# (about 10 s each), worth it where the whole sort costs more than that to run.
TOP_SLICE_MIN_N = 4096


def _top_slices(n: int, count: int) -> tuple[int, ...]:
    """Sub-row lengths tried for the first ``count`` descending rows (each below ``n``)."""
    if n < TOP_SLICE_MIN_N:
        return ()
    first = max(2 * count, count + 64)
    return tuple(m for m in (first, 2 * first, 4 * first) if m < n)


def _sort_top_window(x, xhat, *, softness, mode, gated, count):
    """The first ``count`` descending rows of ``sort_window``, from the ``m`` largest entries.

    Row ``r`` is zero wherever ``|a_r - x̂_j| >= s`` (its scores are ``<= -1``
    while its threshold is ``>= -1``: the anchor's own score is 0). So when
    the ``count``-th largest anchor exceeds every entry left out by at least
    ``s``, the rows over the ``m`` largest entries are the full rows, values
    and derivatives (the entries left out get zero weight either way). The
    smallest certified ``m`` of :func:`_top_slices` is taken for the whole
    batch (one ``lax.switch``), else the whole sort runs.
    """
    n = xhat.shape[-1]
    sizes = _top_slices(n, count)
    top, index = row_top_k.top_k(xhat, sizes[-1] + 1)
    # A relative margin: the window search rounds its own scores.
    bound = jax.lax.stop_gradient(softness) * (1 + 64 * jnp.finfo(xhat.dtype).eps)
    anchor = jax.lax.stop_gradient(top[..., count - 1])
    failed = [any_rows(anchor - jax.lax.stop_gradient(top[..., m]) < bound) for m in sizes]
    choice = sum(f.astype(jnp.int32) for f in failed)  # certified from size index `choice` on

    def on(m):
        def branch():
            x_m = jnp.take_along_axis(x, index[..., :m], axis=-1)
            out = sort_window(x_m, top[..., :m], softness=softness, mode=mode, descending=True, gated=gated)
            return out[..., :count]

        return branch

    def whole():
        out = sort_window(x, xhat, softness=softness, mode=mode, descending=True, gated=gated)
        return out[..., :count]

    return jax.lax.switch(choice, [on(m) for m in sizes] + [whole])


def sort(x, xhat, *, softness, mode, descending, gated, unsquash, options, count=None):
    """Soft-sorted values ``P x``, ``(..., n)``: scan (smooth) or windows (sparse), else dense.

    ``count``: the first ``count`` positions only. Descending in the sparse
    modes, from the largest few entries where that is exact
    (:func:`_sort_top_window`), else read off the whole sort.
    """
    n = xhat.shape[-1]
    if count is not None and descending and _use_window(mode, xhat) and _top_slices(n, count):
        return _sort_top_window(x, xhat, softness=softness, mode=mode, gated=gated, count=count)
    if _use_scan(mode, xhat.shape[-1]):
        out = sort_scan(x, xhat, softness=softness, descending=descending, gated=gated)
    elif _use_window(mode, xhat):
        out = sort_window(x, xhat, softness=softness, mode=mode, descending=descending, gated=gated)
    else:
        out = sort_dense(x, xhat, softness=softness, mode=mode, descending=descending, gated=gated)
    return out if count is None else out[..., :count]


def rank(x, xhat, *, softness, mode, descending, options):
    """Soft ranks in ``[1, n]`` (rank 1 = largest when ``descending``); scan / windows, else dense."""
    if _use_scan(mode, xhat.shape[-1]):
        return rank_scan(xhat, softness=softness, descending=descending)
    if _use_window(mode, xhat):
        return rank_window(xhat, softness=softness, mode=mode, descending=descending)
    return rank_dense(xhat, softness=softness, mode=mode, descending=descending)


# The method interface; sort_dense / rank_dense (the O(n^2) reference),
# sort_scan / rank_scan (the O(n) smooth path) and sort_window / rank_window
# (the O(n log^2 n) sparse path) are the paths behind it.
__all__ = [
    "argmax",
    "argsort",
    "quantile_rows",
    "rank",
    "sort",
    "top_k",
    "top_k_mask",
]
