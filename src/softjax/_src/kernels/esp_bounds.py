r"""Smooth majorization bounds of ``smooth_sort``: $b_k = \tau \log e_k(e^{w/\tau})$.

$e_k$ are the elementary symmetric polynomials of $e^{w/\tau}$ and
$b_n = \sum w$. :func:`esp_bounds` runs the recurrence
$e_k \leftarrow e_k + x_j e_{k-1}$ over the sorted $w$ in linear space with a
per-degree log-scale that is renormalised every few steps, kept relative to
the top-$k$ sums so that only differences of entries of $w/\tau$ are ever
exponentiated; reverse mode recomputes it in checkpointed chunks
($O(n\sqrt n)$ memory). Long float32 rows use the $O(n)$ saddle-point
expansion of :mod:`~softjax._src.kernels.esp_saddle` with exact end bands;
equally spaced $w$ (the rank anchors) the closed form
:func:`esp_bounds_arithmetic`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from softjax._src.kernels.batch_predicate import all_rows
from softjax._src.kernels.esp_saddle import saddle_log_esp, truncated_log_esp
from softjax._src.kernels.vma import vary_like

FAST_MIN_N = 2048  # float32 rows at least this long may use the saddle-point bounds
FAST_BAND = 32  # degrees k <= K and k >= n - K are always exact
FAST_MIN_VARIANCE = 5.0  # the expansion is used where kappa_2 >= this (error <= 3e-5)
FAST_GRID = 4096  # grid points (spacing 1/4 in units of tau): range up to ~980 tau


def work_dtype(*arrays):
    """The dtype the solve runs in: the arrays' dtype promoted to the default float."""
    return jnp.promote_types(jnp.result_type(*arrays), jnp.result_type(float))


def _esp_period(ws, steps, clamp):
    """One renormalisation period of the scaled ESP recurrence (a checkpointable unit).

    ``ws`` is ``w / tau`` sorted descending and padded with ``steps`` entries of
    a huge negative number (elements that contribute nothing). The state is
    ``(v, sigma)`` with $e_k = e^{P_k + \\sigma_k} v_k$ for the elements seen so
    far, $P_k$ the sum of the $k$ largest ``ws``: the log-scales are kept
    *relative to* $P_k$, so every exponent below is a difference of two entries
    of ``ws`` (plus moderate $\\sigma$'s). Absolute log-scales (sums of up to $n$
    entries) cancelled catastrophically once the data's range reached
    ~1e7 tau in float32 (~1e16 in float64): factors that should be 1 came out
    as exp(-1000) = 0, so log e_k = -inf.
    """

    def run(carry, j0):
        v, sigma = carry
        n = v.shape[-1]
        k = jnp.arange(n)
        # Renormalise: nonempty degrees (k <= j0) get scale sigma + log v, v = 1; the
        # empty ones the scale of degree j0 (relative to P_k, i.e. "the next
        # elements fill them"), so every nonempty v stays >= 1 and every
        # multiplier below stays moderate.
        filled = k <= j0
        s_fill = sigma + jnp.log(jnp.where(filled, v, 1.0))
        # sigma_k = s_fill[min(k, j0)], as a gather with an index clamped to the
        # row: the equivalent select against the broadcast s_fill[j0] (or a gather
        # with the unclamped j0) made XLA on CPU run the whole recurrence more
        # than twice as slowly.
        last = jnp.minimum(j0, n - 1)
        sigma = jnp.take_along_axis(s_fill, jnp.broadcast_to(jnp.minimum(k, last), s_fill.shape), axis=-1)
        v = vary_like(jnp.broadcast_to(jnp.where(filled, 1.0, 0.0).astype(v.dtype), sigma.shape), ws)
        dsig = sigma[..., :-1] - sigma[..., 1:]
        prev = ws[..., : n - 1]  # ws_{k-1} for degree k = 1..n-1
        # The multiplier of v_{k-1} for element j is exp(ws_j - ws_{k-1} + dsig_k),
        # factorised as exp(ws_j - ws_j0) * exp(ws_j0 - ws_{k-1} + dsig_k) to save
        # an exp per entry and step. Both factors are moderate for degrees
        # nonempty at the renormalisation (k <= j0 + 1), and also for those
        # filled inside this period (dsig = 0 there) unless the period's
        # elements span more than `clamp`; only then (rare: a huge gap in the
        # data relative to the temperature) the degrees filled inside the
        # period use the unfactorised exponential (at most 1 where it counts).
        #
        # Element j can only reach degrees <= j + 1. The multipliers of the
        # still-empty degrees above multiply zeros, but they are large (up to
        # exp(clamp)), and in reverse mode their products overflowed the
        # cotangents of those zeros (inf * 0 = NaN gradients once the data's
        # range exceeded ~ 20 tau in float32). So they are zeroed.
        top = lax.dynamic_index_in_dim(ws, j0, axis=-1)
        r = jnp.exp(jnp.minimum(top - prev + dsig, clamp))
        span = top - lax.dynamic_index_in_dim(ws, jnp.minimum(j0 + steps - 1, n - 1), axis=-1)
        width = min(steps - 1, n - 1)
        w0 = jnp.clip(j0 + 1, 0, n - 1 - width)
        prev_window = lax.dynamic_slice_in_dim(prev, w0, width, axis=-1)
        dsig_window = lax.dynamic_slice_in_dim(dsig, w0, width, axis=-1)
        idx = jnp.arange(n - 1)  # multiplier index = degree - 1

        def update(v, c, j):
            return v.at[..., 1:].add(jnp.where(idx <= j, c, 0.0) * v[..., :-1])

        def fast(v):
            def step(v, j):
                wj = lax.dynamic_index_in_dim(ws, j, axis=-1)
                return update(v, jnp.exp(wj - top) * r, j), None

            return lax.scan(step, v, j0 + jnp.arange(steps))[0]

        def exact(v):
            def step(v, j):
                wj = lax.dynamic_index_in_dim(ws, j, axis=-1)
                c = jnp.exp(wj - top) * r
                window = jnp.exp(jnp.minimum(wj - prev_window + dsig_window, clamp))
                return update(v, lax.dynamic_update_slice_in_dim(c, window, w0, axis=-1), j), None

            return lax.scan(step, v, j0 + jnp.arange(steps))[0]

        v = fast(v) if width == 0 else lax.cond(all_rows(span <= clamp), fast, exact, v)
        return (v, sigma), None

    return run


def _log_esp_excess(u: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""``(P, R)``: $\log e_k(e^{u}) = P_k + R_k$, $k = 1..n-1$, with $P_k$ the sum of the $k$ largest $u$.

    $R_k \in [0, \log\binom nk]$ depends on the data only through differences
    of entries of $u$, so it is accurate (and finite, with finite derivatives)
    for any magnitude of $u$. $\Theta(n^2)$ by the scaled recurrence.
    """
    dt = u.dtype
    n = u.shape[-1]
    ws = jnp.sort(u, axis=-1, descending=True)
    log_max = math.log(jnp.finfo(dt).max)
    # Between renormalisations each nonempty v grows by at most a factor (n + 1)
    # per step; keep (n + 1)^(steps + 2) below the largest float.
    steps = int(max(1, min(16, math.floor(log_max / math.log(n + 1)) - 2)))
    clamp = 0.25 * log_max
    n_periods = -(-n // steps)
    chunk = max(1, math.ceil(math.sqrt(n_periods)))
    n_chunks = -(-n_periods // chunk)
    prefix = jnp.cumsum(ws, axis=-1)[..., :-1]
    pad = jnp.full((*ws.shape[:-1], steps), -0.5 * jnp.finfo(dt).max, dt)
    ws = jnp.concatenate([ws, pad], axis=-1)
    period = jax.checkpoint(_esp_period(ws, steps, clamp), prevent_cse=False)

    def run_chunk(carry, c):
        starts = (c * chunk + jnp.arange(chunk)) * steps
        return lax.scan(period, carry, starts)[0], None

    k = jnp.arange(n)
    v0 = jnp.broadcast_to(jnp.where(k == 0, 1.0, 0.0).astype(dt), u.shape)
    s0 = jnp.zeros(u.shape, dt)
    # vary_like: inside shard_map the constant seeds must vary like u.
    (v, sigma), _ = lax.scan(
        jax.checkpoint(run_chunk, prevent_cse=False), vary_like((v0, s0), u), jnp.arange(n_chunks)
    )
    return prefix, sigma[..., 1:] + jnp.log(v[..., 1:])


def _log_esp_exact(u: jax.Array) -> jax.Array:
    r"""$\log e_k(e^{u})$, $k = 1..n-1$, by the scaled recurrence ($\Theta(n^2)$)."""
    prefix, excess = _log_esp_excess(u)
    return prefix + excess


def _log_esp_fast(u: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""Exact end bands + saddle-point middle; ``(log_e, ok)`` with ``ok`` one flag for the batch."""
    n = u.shape[-1]
    rows = u.reshape(-1, n)
    middle, kappa2, ok = saddle_log_esp(rows, FAST_GRID)
    # e_{n-j}(e^u) = e^{sum u} e_j(e^{-u}): both end bands from one product tree.
    bands = truncated_log_esp(jnp.stack([rows, -rows]), FAST_BAND)[..., 1:]  # k = 1..K
    top, bottom = bands[0], jnp.sum(rows, -1, keepdims=True) + bands[1]
    k = jnp.arange(1, n)
    inner = (k > FAST_BAND) & (k < n - FAST_BAND)
    ok = jnp.all(ok & jnp.all(jnp.where(inner, kappa2 >= FAST_MIN_VARIANCE, True), -1))
    log_e = jnp.where(inner, middle, 0.0)
    log_e = log_e.at[:, :FAST_BAND].set(top).at[:, n - 1 - FAST_BAND :].set(bottom[:, ::-1])
    return log_e.reshape((*u.shape[:-1], n - 1)), ok


@jax.jit
def esp_bounds(w: jax.Array, tau) -> tuple[jax.Array, jax.Array]:
    r"""Smooth majorization bounds $b_k = \tau \log e_k(e^{w/\tau})$, $k = 1..n-1$, and $b_n = \sum w$.

    Exact ($\Theta(n^2)$ recurrence) in float64 and for $n <$ :data:`FAST_MIN_N`.
    In float32 with $n \ge$ :data:`FAST_MIN_N` the degrees $k \le K$ and
    $k \ge n - K$ ($K$ = :data:`FAST_BAND`) stay exact and the others use the
    saddle-point expansion of :mod:`~softjax._src.kernels.esp_saddle` (error
    $\le 3\cdot10^{-5}$ in $\log e_k$, below float32 rounding of $b$) in
    $O(n)$; if its variance test fails for any row (gaps in the data) or the
    data's range $\max w - \min w$ exceeds about $980\,\tau$, the whole batch
    takes the exact recurrence. (Under ``jax.vmap`` that choice becomes a
    select and both run: batch along leading axes instead.)

    Args:
        w: array ``(..., n)`` (any order).
        tau: temperature $\tau_b > 0$ (scalar).

    Returns:
        ``(b, b_n)`` with shapes ``(..., n-1)`` and ``(...)``, in ``w``'s dtype
        promoted to the default float.
    """
    dt = work_dtype(w)
    w = w.astype(dt)
    n = w.shape[-1]
    b_n = jnp.sum(w, axis=-1)
    if n <= 1:
        return jnp.zeros((*w.shape[:-1], 0), dt), b_n
    u = w / tau

    def exact():
        # b_k = tau (top-k sum of u) + tau R_k: the excess R_k from differences
        # only, and neither part ever overflows or cancels.
        prefix, excess = _log_esp_excess(u)
        return tau * prefix + tau * excess

    if n < FAST_MIN_N or jnp.finfo(dt).bits > 32 or math.prod(w.shape[:-1]) == 0:
        return exact(), b_n
    fast, ok = _log_esp_fast(u)
    return lax.cond(all_rows(ok), lambda: tau * fast, exact), b_n


def esp_bounds_arithmetic(n: int, tau, dtype) -> tuple[jax.Array, jax.Array]:
    r""":func:`esp_bounds` for the rank anchors $w_j = (j+1)/\max(n-1, 1)$, in closed form.

    With $a = 1/(\max(n-1,1)\,\tau)$, $e_k$ is a Gaussian binomial:
    $b_k = T_k + \tau\,(C_n - C_{n-k} - C_k)$, $T_k$ the top-$k$ sum and
    $C_m = \sum_{i\le m}\log(1 - e^{-ia})$. O(n) and free of cancellation.
    """
    dt = work_dtype(dtype)
    scale = max(n - 1, 1)
    b_n = jnp.asarray(n * (n + 1) / (2 * scale), dt)
    if n <= 1:
        return jnp.zeros((0,), dt), b_n
    a = 1.0 / (scale * jnp.asarray(tau, dt))
    i = jnp.arange(1, n + 1, dtype=dt)
    c = jnp.concatenate([jnp.zeros((1,), dt), jnp.cumsum(jnp.log(-jnp.expm1(-i * a)))])
    k = jnp.arange(1, n)
    kf = k.astype(dt)
    top_k = (kf * (kf + 1) / 2 + kf * (n - kf)) / scale
    return top_k + tau * (c[n] - c[n - k] - c[k]), b_n


__all__ = [
    "FAST_BAND",
    "FAST_GRID",
    "FAST_MIN_N",
    "FAST_MIN_VARIANCE",
    "esp_bounds",
    "esp_bounds_arithmetic",
    "work_dtype",
]
