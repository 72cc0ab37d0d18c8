r"""Sinkhorn iterations for entropic optimal transport (Cuturi 2013).

Gauss-Seidel updates with absolute regularisation $\varepsilon = s$, zero
initial potentials, order $g$ then $f$:

$$g_j \leftarrow s\log\nu_j - s\,\mathrm{LSE}_i\big((f_i - C_{ij})/s\big),\qquad
f_i \leftarrow s\log\mu_i - s\,\mathrm{LSE}_j\big((g_j - C_{ij})/s\big).$$

After each $f$ update the row marginals are exact. The column marginals
of the plan $\exp((f_i + g_j - C_{ij})/s)$ are $e^{g_j/s}\sum_i e^{(f_i -
C_{ij})/s}$: the same log-sum-exp as the next $g$ update. Convergence is
therefore tested every 5 iterations at no extra pass over the cost matrix,
on the columns, with the criterion of
:func:`softjax._src.kernels.sparse_transport.violation_ratio`, and the
pass is kept as that $g$ update. Its round-off level bounds the plan-weighted
$|f_i| + |C_{ij}|$ of a column by their largest values.

Once $\varepsilon = s$ for a whole block of iterations, the block runs in
the scaling domain (the stabilised iterations of Schmitzer 2019). With the
kernel $E_{ij} = \exp((f_i + g_j - C_{ij})/s)$ of the block's starting
potentials, the updates are $u \leftarrow \mu / (E v)$ and
$v \leftarrow \nu / (E^\top u)$, absorbed at the end as
$f \mathrel{+}= s \log u$, $g \mathrel{+}= s \log v$; the block's last
$g$ update, which carries the convergence test, stays in the log domain and
so sees the plan of the absorbed potentials, rounding included. In exact
arithmetic these are the log-domain updates, but a block evaluates two
exponentials per entry instead of ten: matrix-vector products replace the
log-sum-exps. After a $g$ update every column of $E$ sums to $\nu_j$, so
$E_{ij} \le 1$; $u$ and $v$ are clamped to $[\tau^{1/4}, \tau^{-1/4}]$
($\tau$ the smallest normal number), so that an entry that underflows in
$E$ stays negligible after scaling and nothing overflows. Far from the
fixed point this caps how far one block moves a potential ($s \log
\tau^{-1/4}$, about $22 s$ in float32); the next block goes on from there.

$\varepsilon$-scaling: the number of Sinkhorn iterations
grows like $1/\varepsilon$. When $s$ is small compared with the spread of the
cost, the first iterations use $\varepsilon_k = \max(s, \varepsilon_0 \cdot 0.8^k)$
with $\varepsilon_0$ a quarter of the cost range, warm-starting each level
from the previous potentials; the fixed point (and hence the result) is the
one for $\varepsilon = s$. The convergence test only starts once
$\varepsilon_k = s$.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from softjax._src.kernels.sparse_transport import Marginals, SolverResult, round_off_level, violation_ratio
from softjax._src.kernels.vma import vary_like

_CHECK_EVERY = 5
_DECAY = 0.8


class _SinkhornState(NamedTuple):
    """Log-domain Sinkhorn state after the ``g`` update that follows an ``f`` update."""

    f: jax.Array
    g: jax.Array
    blocks: jax.Array  # blocks of _CHECK_EVERY updates done
    ratio: jax.Array  # violation / tolerance at the last check
    viol: jax.Array


def sinkhorn_potentials(cost, mu, nu, s, *, tol, max_iter: int) -> SolverResult:
    """Entropic OT potentials for one ``(n, m)`` problem (see module docstring).

    Args:
        cost: ``(n, m)``. mu, nu: positive marginals summing to one.
        s: softness (scalar). tol: marginal tolerance. max_iter: iteration cap
            (static; rounded up to a multiple of 5).
    """
    dtype = cost.dtype
    log_mu, log_nu = jnp.log(mu), jnp.log(nu)
    spread = jnp.max(cost) - jnp.min(cost)
    eps0 = jnp.maximum(s, 0.25 * spread)
    decay = jnp.asarray(_DECAY, dtype)
    n_blocks = -(-max_iter // _CHECK_EVERY)
    cost_col_max = jnp.max(jnp.abs(cost), axis=0)

    def epsilon(k):
        return jnp.maximum(s, eps0 * decay ** k.astype(dtype))

    def update_f(g, eps):
        return eps * log_mu - eps * jax.nn.logsumexp((g[None, :] - cost) / eps, axis=1)

    def update_g(f, eps):
        return eps * log_nu - eps * jax.nn.logsumexp((f[:, None] - cost) / eps, axis=0)

    def iteration(k, fg):
        """Iteration ``k``'s ``f`` update, then iteration ``k + 1``'s ``g`` update."""
        f = update_f(fg[1], epsilon(k))
        return f, update_g(f, epsilon(k + 1))

    def checked_update_g(f, g, eps):
        """The ``g`` update at ``eps``, and the column check of ``(f, g)`` at ``s``.

        One log-sum-exp serves both; the check is meaningful when
        ``eps == s``, the only case in which it is used.
        """
        lse = jax.nn.logsumexp((f[:, None] - cost) / eps, axis=0)
        col = jnp.exp(g / s + lse)  # the plan's column sums
        # Σ_i W_ij (|f_i| + |g_j| + |C_ij|) with W = plan / s, bounded by the
        # column's mass times the largest |f| and |C| (a second weighted sum
        # would cost one more exp per entry).
        magnitude = col * (jnp.max(jnp.abs(f)) + jnp.abs(g) + cost_col_max) / s
        noise_col = round_off_level(magnitude, col)
        marg = Marginals(mu, col, jnp.zeros_like(mu), noise_col)  # rows exact after an f update
        return eps * log_nu - eps * lse, violation_ratio(marg, mu, nu, tol)

    def cond(st: _SinkhornState):
        return (st.blocks < n_blocks) & (st.ratio > 1)

    def annealing(st: _SinkhornState):
        """``cond``, while the next block starts above ``eps = s``."""
        return cond(st) & (eps0 * decay ** (st.blocks * _CHECK_EVERY).astype(dtype) > s)

    def log_block(st: _SinkhornState) -> _SinkhornState:
        start = st.blocks * _CHECK_EVERY
        last = start + _CHECK_EVERY - 1
        f, g = lax.fori_loop(start, last, iteration, (st.f, st.g))
        f = update_f(g, epsilon(last))
        g_next, (ratio, viol) = checked_update_g(f, g, epsilon(last + 1))
        # Before the schedule reaches s the test is meaningless: keep going.
        # (The check's exponents are only bounded once annealed.) NaN input
        # stops at the first check.
        annealed = eps0 * decay ** last.astype(dtype) <= s
        nan_input = jnp.isnan(jnp.sum(f))
        inf = jnp.asarray(jnp.inf, dtype)
        ratio = jnp.where(annealed | nan_input, ratio, inf)
        return _SinkhornState(f, g_next, st.blocks + 1, ratio, viol)

    bound = float(jnp.finfo(dtype).tiny) ** -0.25

    def scaling(target, total):
        return jnp.clip(target / total, 1 / bound, bound)

    def scaling_block(st: _SinkhornState) -> _SinkhornState:
        """``log_block`` at ``eps = s`` in the scaling domain (see module docstring)."""
        kernel = jnp.exp((st.f[:, None] + st.g[None, :] - cost) / s)

        def iteration(_, v):
            """An ``f`` update then a ``g`` update: the new ``v``."""
            return scaling(nu, scaling(mu, kernel @ v) @ kernel)

        v = lax.fori_loop(0, _CHECK_EVERY - 1, iteration, jnp.ones_like(st.g))
        f = st.f + s * jnp.log(scaling(mu, kernel @ v))
        # The last g update and the check in the log domain, on the absorbed
        # potentials: the check sees the plan they define, rounding included.
        g_next, (ratio, viol) = checked_update_g(f, st.g + s * jnp.log(v), s)
        return _SinkhornState(f, g_next, st.blocks + 1, ratio, viol)

    f0 = jnp.zeros((cost.shape[0],), dtype)
    init = _SinkhornState(
        f=f0,
        g=update_g(f0, epsilon(jnp.zeros((), jnp.int32))),
        blocks=jnp.zeros((), jnp.int32),
        ratio=jnp.asarray(jnp.inf, dtype),
        viol=jnp.zeros((), dtype),
    )
    # vary_like: inside shard_map the constant seeds must vary like the data.
    state = lax.while_loop(annealing, log_block, vary_like(init, cost, mu, nu, s))
    f, g, blk, ratio, viol = lax.while_loop(cond, scaling_block, state)
    # The loop ends on a g update (at s once annealed); a last f update at s
    # makes the rows exact even if the loop hit its cap mid-schedule (the
    # result is then still reported as unconverged).
    f = update_f(g, s)
    return SolverResult(f, g, ratio, viol, blk * _CHECK_EVERY)
