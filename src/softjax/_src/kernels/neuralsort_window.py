r"""NeuralSort's rows on windows of the sorted row.

Row ``c`` of NeuralSort is $\Pi_\Delta(z)$ with $z_j = (c\,\hat x_j - A_j)/s$
(:mod:`softjax._src.kernels.neuralsort`). In the sparse modes its support is
a short run of sorted positions around the row's peak (tens of positions at
n = 16384 and s = 0.1); in the smooth mode (softmax) its mass is, since $z$
is close to a concave parabola in the sorted position with curvature of
order $1 / (n s)$ per position squared, within $O(\sqrt{n s})$ positions of
the peak. So the row can be computed on a window of ``W`` sorted positions
instead of all ``n``:

* **Exactness.** The threshold $\theta_W$ of the projection restricted to the
  window solves the full equation $\sum_j (z_j - \theta)_+^\alpha = 1$ iff no
  position outside the window has $z_j > \theta_W$; the row is then the
  dense one (same support, same threshold, zeros elsewhere, derivatives
  included). This is certified per row with one bound per block of
  ``BLOCK`` sorted positions (:meth:`_SortedRow.block_bounds`), so a row
  costs $O(W \log W + n / \text{BLOCK})$. A smooth row is exact to the
  working precision when the same bounds show that the mass outside the
  window is below ``SMOOTH_TAIL · eps`` of the window's.
* **Where.** Across a block the score rises iff the block's secant slope
  $\Delta A / \Delta v$ is below ``c``: the peak is found by a binary search
  on the running maximum of those slopes, and the window is the run of ``W``
  positions, aligned to blocks, centred there.
* **Fallback.** The caller runs the dense rows when any row of the batch
  fails the certificate (one scalar ``lax.cond``), so results never depend on
  the window.

Memory is ``O(chunk · (W + n / BLOCK))`` per row chunk, no ``n x n`` array.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import jax
import jax.numpy as jnp

from softjax._src.kernels.batch_predicate import all_rows
from softjax._src.kernels.chunking import map_chunks, sum_chunks
from softjax._src.kernels.simplex import project_simplex, sparse_threshold

T = TypeVar("T")

BLOCK = 32
# Window widths tried in turn; a row needs its support plus a margin. At the
# default softness 0.1 on standardized rows the supports are at most 40 (c0)
# to 85 (c2) positions at n = 16384, so 128 certifies every row there at half
# the cost of 256; softness 1 needs up to ~200 positions (1024).
WIDTHS = (128, 256, 1024)
# Positions on each side of a window whose scores the certificate evaluates
# exactly; a block bound is loose where the block's slopes straddle the
# row's coefficient (near the peak). Float32, n = 16384, default softness:
# 2 blocks left a few c2 rows of a batch uncertified at width 128, 4 none.
MARGIN = 4 * BLOCK
# Below this many entries the dense rows cost about as much.
MIN_N = 1024
# Smooth rows have full support: a window drops the mass beyond it, allowed
# up to this fraction of eps (the rounding of the sum it is dropped from).
# Their mass spans O(sqrt(n s)) positions: the first width tried,
# 4.5 sqrt(n) + 48 (float32) or 5.5 sqrt(n) + 80 (float64) positions,
# certifies every row at the default softness on standardized rows
# (measured at n = 1024, 4096, 16384); then twice and four times that.
SMOOTH_TAIL = 1.0


def smooth_widths(n: int, dtype: jnp.dtype) -> tuple[int, ...]:
    """Window widths tried for ``mode="smooth"`` rows of length ``n``."""
    spread, extra = (5.5, 80) if jnp.finfo(dtype).bits >= 64 else (4.5, 48)
    first = -(-int(spread * math.sqrt(n) + extra) // BLOCK) * BLOCK
    return (first, 2 * first, 4 * first)


class SortedRows(NamedTuple):
    """Rows in ascending order of ``x̂`` with their ``A`` as a double word, each ``(b, n)``."""

    order: jax.Array  # int, the ascending order of x̂
    v: jax.Array  # x̂ in that order
    a_high: jax.Array  # A minus a per-row constant, as high + low
    a_low: jax.Array


class _SortedRow:
    """One row in ascending order of ``x̂``, edge-padded to a multiple of :data:`BLOCK`.

    ``A`` comes as a double word (``high + low``, from
    :func:`~softjax._src.kernels.neuralsort.sorted_abs_sum_parts`) and every
    score is taken relative to a reference position of the same row, so a
    score difference is rounded relative to itself, not to ``|c x̂| + |A|``.
    Per block it keeps what the certificate needs: the end points' ``v`` and
    ``A`` and the smallest and largest slope ``ΔA / Δv`` between neighbours.
    """

    def __init__(
        self, order: jax.Array, x: jax.Array | None, v: jax.Array, a_high: jax.Array, a_low: jax.Array
    ):
        n = v.shape[-1]
        pad = (-n) % BLOCK
        # Padding repeats the last entry (masked out of every window); as a
        # tie it changes no block's maximum.
        self.n = n
        self.order = order
        self.v, self.high, self.low = (jnp.pad(t, (0, pad), mode="edge") for t in (v, a_high, a_low))
        self.x = None if x is None else jnp.pad(x[order], (0, pad), mode="edge")
        v, high, low = (jax.lax.stop_gradient(t) for t in (self.v, self.high, self.low))
        dv = v[1:] - v[:-1]
        da = (high[1:] - high[:-1]) + (low[1:] - low[:-1])
        # Near-ties (gaps below 1/64 of the row's mean gap, ties included)
        # are kept apart: their slope da / dv is mostly the rounding of A
        # over a tiny gap (float32 rows squashed near 0 or 1 are full of
        # them) and would loosen a whole block's bound. Their rise is bounded
        # by |c| dv + |da| instead.
        regular = dv > (v[n - 1] - v[0]) / (64 * max(n - 1, 1))
        slope = da / jnp.where(regular, dv, 1.0)

        def per_block(t, fill):  # pairs inside each block (the last column crosses blocks)
            return jnp.concatenate([t, jnp.full((1,), fill, t.dtype)]).reshape(-1, BLOCK)[:, :-1]

        self.slope_min = jnp.min(per_block(jnp.where(regular, slope, jnp.inf), jnp.inf), 1)
        self.slope_max = jnp.max(per_block(jnp.where(regular, slope, -jnp.inf), -jnp.inf), 1)
        self.regular_span = jnp.sum(per_block(jnp.where(regular, dv, 0.0), 0.0), 1)
        self.tie_span = jnp.sum(per_block(jnp.where(regular, 0.0, dv), 0.0), 1)
        self.tie_rise = jnp.sum(per_block(jnp.where(regular, 0.0, jnp.abs(da)), 0.0), 1)
        self.first, self.last = (tuple(t.reshape(-1, BLOCK)[:, i] for t in (v, high, low)) for i in (0, -1))
        # Secant slopes across whole blocks: neighbours' slopes carry the
        # rounding of A over a gap of about 1 / n, too noisy to place the
        # peak; a block's secant is BLOCK times steadier.
        span = self.last[0] - self.first[0]
        rise = (self.last[1] - self.first[1]) + (self.last[2] - self.first[2])
        secant = rise / jnp.where(span > 0, span, 1.0)
        self.running_secant = jax.lax.cummax(jnp.where(span > 0, secant, -jnp.inf))

    def block_bounds(self, c: jax.Array, softness, ref: tuple[jax.Array, ...]) -> jax.Array:
        r"""An upper bound of ``z = (c (v - v_ref) - (A - A_ref)) / s`` over each block.

        With $m_-$, $m_+$ the smallest and largest slope between the block's
        regular neighbours, $A_j \ge A_{first} + m_-(v_j - v_{first})$ and
        $A_j \ge A_{last} - m_+(v_{last} - v_j)$ over the regular gaps, plus
        at most $|c|\,\delta v + |\delta A|$ for each near-tie gap; each gives
        a bound that is the score of an end point when every regular slope of
        the block lies on one side of ``c`` (any block away from the row's
        peak).
        """
        ties = jnp.abs(c) * self.tie_span + self.tie_rise
        rise = jnp.where(self.regular_span > 0, jnp.maximum(c - self.slope_min, 0) * self.regular_span, 0.0)
        fall = jnp.where(self.regular_span > 0, jnp.maximum(self.slope_max - c, 0) * self.regular_span, 0.0)
        from_first = _relative_score(c, self.first, ref) + rise + ties
        from_last = _relative_score(c, self.last, ref) + fall + ties
        return jnp.minimum(from_first, from_last) / softness


def _relative_score(c, point: tuple[jax.Array, ...], ref: tuple[jax.Array, ...]) -> jax.Array:
    """``c (v - v_ref) - (A - A_ref)`` for ``point``/``ref`` = ``(v, A high, A low)``."""
    return c * (point[0] - ref[0]) - ((point[1] - ref[1]) + (point[2] - ref[2]))


def _window_row(row: _SortedRow, c: jax.Array, softness, mode: str, width: int):
    """``(start, y, ok)``: row ``c`` on ``[start, start + width)`` and its certificate."""
    size = row.v.shape[-1]
    c_fixed = jax.lax.stop_gradient(c)
    # The score rises across a block iff its secant slope is below c.
    peak = jnp.searchsorted(row.running_secant, c_fixed, side="left") * BLOCK + BLOCK // 2
    start = jnp.clip((peak - width // 2) // BLOCK * BLOCK, 0, size - width)
    window = tuple(jax.lax.dynamic_slice(t, (start,), (width,)) for t in (row.v, row.high, row.low))
    ref = tuple(t[0] for t in window)
    z = jnp.where(start + jnp.arange(width) < row.n, _relative_score(c, window, ref) / softness, -jnp.inf)
    y = project_simplex(z, mode)
    # Certificate: the margin's scores exactly, the blocks beyond it by their bounds.
    fixed_ref = tuple(jax.lax.stop_gradient(t) for t in ref)
    margin = min(MARGIN, (size - width) // 2 // BLOCK * BLOCK)
    outer = jnp.clip(start - margin, 0, size - width - 2 * margin)
    around = tuple(
        jax.lax.dynamic_slice(jax.lax.stop_gradient(t), (outer,), (width + 2 * margin,))
        for t in (row.v, row.high, row.low)
    )
    position = outer + jnp.arange(width + 2 * margin)
    in_margin = ((position < start) | (position >= start + width)) & (position < row.n)
    exact = jnp.where(in_margin, _relative_score(c_fixed, around, fixed_ref) / softness, -jnp.inf)
    block = jnp.arange(row.first[0].shape[0]) * BLOCK
    beyond = (block < outer) | (block >= outer + width + 2 * margin)
    bound = jnp.where(beyond, row.block_bounds(c_fixed, softness, fixed_ref), -jnp.inf)
    if mode == "smooth":
        # The mass left out, at most (entries outside) x exp(largest bound),
        # against the window's: below SMOOTH_TAIL * eps the row is the dense
        # one to the working precision. (A maximum, not a sum of exponentials
        # over the blocks: it costs log(n) of slack but no exponential.)
        window_mass = jax.nn.logsumexp(jax.lax.stop_gradient(z))
        largest = jnp.maximum(jnp.max(exact), jnp.max(bound))
        left_out = largest + math.log(max(row.n - width, 1))
        ok = left_out - window_mass <= math.log(SMOOTH_TAIL * jnp.finfo(z.dtype).eps)
        return start, y, ok & jnp.isfinite(window_mass)
    theta = sparse_threshold(z, mode)[0]
    return start, y, (jnp.maximum(jnp.max(bound), jnp.max(exact)) <= theta) & jnp.isfinite(theta)


def sorted_values(
    x: jax.Array,
    rows: SortedRows,
    coefficients: jax.Array,
    softness,
    mode: str,
    width: int,
    gated: bool,
) -> tuple[jax.Array, jax.Array]:
    """NeuralSort's soft-sorted values ``P x`` on windows, and whether every row is exact.

    Args:
        x: ``(b, n)`` values read off, in the input order.
        rows: the relaxed inputs in ascending order and their ``A``
            (:class:`SortedRows`, each field ``(b, ...)``).
        coefficients: ``(n,)``, one per output position (``n + 1 - 2r``
            descending, its negative ascending).
        softness, mode: as for the dense rows (a sparse mode).
        width: the window width (a multiple of :data:`BLOCK`, at most ``n``).
        gated: let the gradient flow through the rows (else they are detached).

    Returns:
        ``(values (b, n), ok (b,))``; ``values`` equals the dense result where
        ``ok``.
    """

    def one_row(x_row, sorted_row):
        row = _SortedRow(sorted_row.order, x_row, sorted_row.v, sorted_row.a_high, sorted_row.a_low)

        def chunk(cs):
            def position(c):
                start, y, ok = _window_row(row, c, softness, mode, width)
                y = y if gated else jax.lax.stop_gradient(y)
                assert row.x is not None
                return y @ jax.lax.dynamic_slice(row.x, (start,), (width,)), ok

            return jax.vmap(position)(cs)

        values, ok = map_chunks(chunk, coefficients)
        return values, jnp.all(ok)

    return jax.vmap(one_row)(x, rows)


def rank_sums(
    rows: SortedRows,
    coefficients: jax.Array,
    softness,
    mode: str,
    width: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """NeuralSort's column sums ``Σ_r P_rj`` and ``Σ_r (r + 1) P_rj`` on windows.

    Args:
        rows: as for :func:`sorted_values`.
        coefficients: ``(n,)``, row ``r``'s coefficient at index ``r``.
        softness, mode, width: as for :func:`sorted_values`.

    Returns:
        ``(column sums (b, n), position-weighted sums (b, n), ok (b,))`` in
        the input order; equal to the dense sums where ``ok``. The windows of
        each chunk of rows are scattered into the sums as they are made, so
        memory stays ``O(chunk · W + n)`` per row.
    """
    n = rows.v.shape[-1]
    positions = jnp.arange(1, n + 1, dtype=rows.v.dtype)

    def one_row(sorted_row):
        row = _SortedRow(sorted_row.order, None, sorted_row.v, sorted_row.a_high, sorted_row.a_low)
        size = row.v.shape[-1]

        def chunk(rows, mask):
            cs, pos = rows
            start, y, ok = jax.vmap(lambda c: _window_row(row, c, softness, mode, width))(cs)
            y = y * mask[:, None]
            index = start[:, None] + jnp.arange(width)
            col = jnp.zeros((size,), y.dtype).at[index].add(y)
            weighted = jnp.zeros((size,), y.dtype).at[index].add(pos[:, None] * y)
            failed = jnp.sum(jnp.where(ok, 0.0, mask))[None].astype(y.dtype)
            return jnp.concatenate([col, weighted, failed])

        sums = sum_chunks(chunk, (coefficients, positions))
        inverse = jnp.argsort(row.order)
        return sums[:n][inverse], sums[size : size + n][inverse], sums[-1] == 0

    return jax.vmap(one_row)(rows)


def first_exact(
    n: int,
    attempt: Callable[[int], tuple[T, jax.Array]],
    dense: Callable[[], T],
    widths: tuple[int, ...] = WIDTHS,
) -> T:
    """``attempt(width)`` for the first of ``widths`` at which every row is exact, else ``dense()``.

    ``attempt(width)`` returns ``(result, ok)`` with ``ok`` one flag per row.
    Rows shorter than :data:`MIN_N` go straight to ``dense``. Each fallback
    is one scalar ``lax.cond`` over the whole batch, rows mapped by
    ``jax.vmap`` included (:func:`~softjax._src.kernels.batch_predicate.all_rows`).
    """
    if n < MIN_N:
        return dense()

    def go(widths: tuple[int, ...]) -> T:
        if not widths or widths[0] > n:
            return dense()
        result, ok = attempt(widths[0])
        return jax.lax.cond(all_rows(ok), lambda: result, lambda: go(widths[1:]))

    return go(widths)
