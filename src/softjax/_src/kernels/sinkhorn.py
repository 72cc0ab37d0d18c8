r"""Log-domain Sinkhorn iterations for entropic optimal transport (Cuturi 2013).

Gauss-Seidel updates with absolute regularisation $\varepsilon = s$, zero
initial potentials, order $g$ then $f$:

$$g_j \leftarrow s\log\nu_j - s\,\mathrm{LSE}_i\big((f_i - C_{ij})/s\big),\qquad
f_i \leftarrow s\log\mu_i - s\,\mathrm{LSE}_j\big((g_j - C_{ij})/s\big).$$

After each $f$ update the row marginals are exact; convergence is tested
every 10 iterations on the column marginals with the criterion of
:func:`softjax._src.kernels.sparse_transport.violation_ratio`.

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

from softjax._src.kernels.sparse_transport import SolverResult, marginals, violation_ratio
from softjax._src.kernels.vma import vary_like

_CHECK_EVERY = 10
_DECAY = 0.8


class _SinkhornState(NamedTuple):
    """Log-domain Sinkhorn state: potentials, blocks of updates done, convergence measures."""

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
            (static; rounded up to a multiple of 10).
    """
    dtype = cost.dtype
    log_mu, log_nu = jnp.log(mu), jnp.log(nu)
    spread = jnp.max(cost) - jnp.min(cost)
    eps0 = jnp.maximum(s, 0.25 * spread)
    decay = jnp.asarray(_DECAY, dtype)
    n_blocks = -(-max_iter // _CHECK_EVERY)

    def update(k, fg):
        f, g = fg
        eps = jnp.maximum(s, eps0 * decay ** k.astype(dtype))
        g = eps * log_nu - eps * jax.nn.logsumexp((f[:, None] - cost) / eps, axis=0)
        f = eps * log_mu - eps * jax.nn.logsumexp((g[None, :] - cost) / eps, axis=1)
        return f, g

    def measure(f, g):
        z = f[:, None] + g[None, :] - cost
        plan = jnp.exp(z / s)
        return violation_ratio(marginals(plan, plan / s, f, g, cost), mu, nu, tol)

    def cond(st: _SinkhornState):
        return (st.blocks < n_blocks) & (st.ratio > 1)

    def body(st: _SinkhornState) -> _SinkhornState:
        f, g, blk = st.f, st.g, st.blocks
        start = blk * _CHECK_EVERY
        f, g = lax.fori_loop(0, _CHECK_EVERY, lambda i, fg: update(start + i, fg), (f, g))
        annealed = eps0 * decay ** (start + _CHECK_EVERY - 1).astype(dtype) <= s
        ratio, viol = measure(f, g)
        # Before the schedule reaches s the test is meaningless: keep going.
        inf = jnp.asarray(jnp.inf, dtype)
        ratio = jnp.where(annealed | jnp.isnan(ratio), ratio, inf)
        return _SinkhornState(f, g, blk + 1, ratio, viol)

    n, m = cost.shape
    init = _SinkhornState(
        f=jnp.zeros((n,), dtype),
        g=jnp.zeros((m,), dtype),
        blocks=jnp.zeros((), jnp.int32),
        ratio=jnp.asarray(jnp.inf, dtype),
        viol=jnp.zeros((), dtype),
    )
    # vary_like: inside shard_map the constant seeds must vary like the data.
    f, g, blk, ratio, viol = lax.while_loop(cond, body, vary_like(init, cost, mu, nu, s))
    # One last sweep at eps = s: the rows are then exact even if the loop hit
    # its cap mid-schedule (the result is still reported as unconverged).
    f, g = update(jnp.asarray(1 << 20, jnp.int32), (f, g))
    return SolverResult(f, g, ratio, viol, blk * _CHECK_EVERY)
