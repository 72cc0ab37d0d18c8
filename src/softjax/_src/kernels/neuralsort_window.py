r"""NeuralSort's sparse rows (``c0``, ``c1``, ``c2``) on windows of the sorted row.

Row ``c`` of NeuralSort is $\Pi_\Delta(z)$ with $z_j = (c\,\hat x_j - A_j)/s$
(:mod:`softjax._src.kernels.neuralsort`). In the sparse modes its support is
a short run of sorted positions around the row's peak (tens of positions at
n = 16384 and s = 0.1), so the row can be computed on a window of ``W``
sorted positions instead of all ``n``:

* **Exactness.** The threshold $\theta_W$ of the projection restricted to the
  window solves the full equation $\sum_j (z_j - \theta)_+^\alpha = 1$ iff no
  position outside the window has $z_j > \theta_W$; the row is then the
  dense one (same support, same threshold, zeros elsewhere, derivatives
  included). This is certified per row with one bound per block of
  ``BLOCK`` sorted positions (:meth:`_SortedRow.block_bounds`), so a row
  costs $O(W \log W + n / \text{BLOCK})$.
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

from collections.abc import Callable
from typing import TypeVar

import jax
import jax.numpy as jnp

from softjax._src.kernels.chunking import map_chunks, sum_chunks
from softjax._src.kernels.simplex import project_simplex, sparse_threshold

T = TypeVar("T")

BLOCK = 32
# Window widths tried in turn; a row needs its support (at most ~200 positions
# at n = 16384 for softness <= 1 on standardized rows) plus a margin.
WIDTHS = (256, 1024)
# Below this many entries the dense rows cost about as much.
MIN_N = 1024


class _SortedRow:
    """One row sorted by ``x̂`` (ascending), edge-padded to a multiple of :data:`BLOCK`.

    Per block it keeps what the certificate needs: the end points' ``v`` and
    ``A`` and the smallest and largest slope ``ΔA / Δv`` between neighbours.
    """

    def __init__(self, x: jax.Array, xhat: jax.Array, a: jax.Array):
        n = xhat.shape[-1]
        order = jnp.argsort(jax.lax.stop_gradient(xhat), stable=True)
        pad = (-n) % BLOCK
        # Padding repeats the last entry (masked out of every window); as a
        # tie it changes no block's maximum.
        self.n = n
        self.order = order
        self.v, self.a, self.x = (jnp.pad(t[order], (0, pad), mode="edge") for t in (xhat, a, x))
        v, a_s = jax.lax.stop_gradient(self.v), jax.lax.stop_gradient(self.a)
        dv, da = v[1:] - v[:-1], a_s[1:] - a_s[:-1]
        slope = da / jnp.where(dv > 0, dv, 1.0)
        # A tie (dv = 0) constrains nothing unless rounding made da non-zero:
        # then the slope is taken as unbounded (the certificate fails).
        low = jnp.where(dv > 0, slope, jnp.where(da >= 0, jnp.inf, -jnp.inf))
        high = jnp.where(dv > 0, slope, jnp.where(da <= 0, -jnp.inf, jnp.inf))

        def per_block(t, fill):  # pairs inside each block (the last column crosses blocks)
            return jnp.concatenate([t, jnp.full((1,), fill, t.dtype)]).reshape(-1, BLOCK)[:, :-1]

        self.low, self.high = jnp.min(per_block(low, jnp.inf), 1), jnp.max(per_block(high, -jnp.inf), 1)
        blocks_v, blocks_a = v.reshape(-1, BLOCK), a_s.reshape(-1, BLOCK)
        self.v_first, self.v_last = blocks_v[:, 0], blocks_v[:, -1]
        self.a_first, self.a_last = blocks_a[:, 0], blocks_a[:, -1]
        # Secant slopes across whole blocks: neighbours' slopes carry the
        # rounding of A (float32: about eps·n) over a gap of about 1 / n, too
        # noisy to place the peak; a block's secant is BLOCK times steadier.
        span = self.v_last - self.v_first
        secant = (self.a_last - self.a_first) / jnp.where(span > 0, span, 1.0)
        self.running_secant = jax.lax.cummax(jnp.where(span > 0, secant, -jnp.inf))

    def block_bounds(self, c: jax.Array, softness) -> jax.Array:
        r"""An upper bound of ``z = (c v - A) / s`` over each block.

        With $m_-$, $m_+$ the block's smallest and largest slope,
        $A_j \ge A_{first} + m_-(v_j - v_{first})$ and
        $A_j \ge A_{last} - m_+(v_{last} - v_j)$; each gives a bound that is
        the score of an end point when every slope of the block lies on one
        side of ``c`` (any block away from the row's peak).
        """
        span = self.v_last - self.v_first
        rise = jnp.where(span > 0, jnp.maximum(c - self.low, 0) * span, 0.0)
        fall = jnp.where(span > 0, jnp.maximum(self.high - c, 0) * span, 0.0)
        from_first = c * self.v_first - self.a_first + rise
        from_last = c * self.v_last - self.a_last + fall
        return jnp.minimum(from_first, from_last) / softness


def _window_row(row: _SortedRow, c: jax.Array, softness, mode: str, width: int):
    """``(start, y, ok)``: row ``c`` on ``[start, start + width)`` and its certificate."""
    size = row.v.shape[-1]
    c_fixed = jax.lax.stop_gradient(c)
    # The score rises across a block iff its secant slope is below c.
    peak = jnp.searchsorted(row.running_secant, c_fixed, side="left") * BLOCK + BLOCK // 2
    start = jnp.clip((peak - width // 2) // BLOCK * BLOCK, 0, size - width)
    v = jax.lax.dynamic_slice(row.v, (start,), (width,))
    a = jax.lax.dynamic_slice(row.a, (start,), (width,))
    z = jnp.where(start + jnp.arange(width) < row.n, (c * v - a) / softness, -jnp.inf)
    y = project_simplex(z, mode)
    theta = sparse_threshold(z, mode)[0]
    block = jnp.arange(row.v_first.shape[0]) * BLOCK
    outside = (block < start) | (block >= start + width)
    bound = jnp.max(jnp.where(outside, row.block_bounds(c_fixed, softness), -jnp.inf))
    return start, y, (bound <= theta) & jnp.isfinite(theta)


def sorted_values(
    x: jax.Array,
    xhat: jax.Array,
    a: jax.Array,
    coefficients: jax.Array,
    softness,
    mode: str,
    width: int,
    gated: bool,
) -> tuple[jax.Array, jax.Array]:
    """NeuralSort's soft-sorted values ``P x`` on windows, and whether every row is exact.

    Args:
        x: ``(b, n)`` values read off. xhat: ``(b, n)`` the relaxed inputs.
        a: ``(b, n)`` the pairwise term ``A`` of each row.
        coefficients: ``(n,)``, one per output position (``n + 1 - 2r``
            descending, its negative ascending).
        softness, mode: as for the dense rows (a sparse mode).
        width: the window width (a multiple of :data:`BLOCK`, at most ``n``).
        gated: let the gradient flow through the rows (else they are detached).

    Returns:
        ``(values (b, n), ok (b,))``; ``values`` equals the dense result where
        ``ok``.
    """

    def one_row(x_row, xhat_row, a_row):
        row = _SortedRow(x_row, xhat_row, a_row)

        def chunk(cs):
            def position(c):
                start, y, ok = _window_row(row, c, softness, mode, width)
                y = y if gated else jax.lax.stop_gradient(y)
                return y @ jax.lax.dynamic_slice(row.x, (start,), (width,)), ok

            return jax.vmap(position)(cs)

        values, ok = map_chunks(chunk, coefficients)
        return values, jnp.all(ok)

    return jax.vmap(one_row)(x, xhat, a)


def rank_sums(
    xhat: jax.Array,
    a: jax.Array,
    coefficients: jax.Array,
    softness,
    mode: str,
    width: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """NeuralSort's column sums ``Σ_r P_rj`` and ``Σ_r (r + 1) P_rj`` on windows.

    Args:
        xhat: ``(b, n)``. a: ``(b, n)`` the pairwise term ``A``.
        coefficients: ``(n,)``, row ``r``'s coefficient at index ``r``.
        softness, mode, width: as for :func:`sorted_values`.

    Returns:
        ``(column sums (b, n), position-weighted sums (b, n), ok (b,))`` in
        the input order; equal to the dense sums where ``ok``. The windows of
        each chunk of rows are scattered into the sums as they are made, so
        memory stays ``O(chunk · W + n)`` per row.
    """
    n = xhat.shape[-1]
    positions = jnp.arange(1, n + 1, dtype=xhat.dtype)

    def one_row(xhat_row, a_row):
        row = _SortedRow(xhat_row, xhat_row, a_row)
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

    return jax.vmap(one_row)(xhat, a)


def first_exact(n: int, attempt: Callable[[int], tuple[T, jax.Array]], dense: Callable[[], T]) -> T:
    """``attempt(width)`` for the first of :data:`WIDTHS` at which every row is exact, else ``dense()``.

    ``attempt(width)`` returns ``(result, ok)`` with ``ok`` one flag per row.
    Rows shorter than :data:`MIN_N` go straight to ``dense``. Each fallback
    is one scalar ``lax.cond`` over the whole batch.
    """
    if n < MIN_N:
        return dense()

    def go(widths: tuple[int, ...]) -> T:
        if not widths or widths[0] > n:
            return dense()
        result, ok = attempt(widths[0])
        return jax.lax.cond(jnp.all(ok), lambda: result, lambda: go(widths[1:]))

    return go(WIDTHS)
