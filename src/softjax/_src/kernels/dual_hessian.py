r"""Matrix-free solves with the Hessian of a regularised optimal-transport dual.

For a non-negative weight matrix $W \in \mathbb{R}^{n \times m}$ the (negated)
Hessian of every dual of :mod:`softjax._src.kernels.transport` is

$$H = \begin{pmatrix} \operatorname{diag}(W\mathbf 1) & W \\
W^\top & \operatorname{diag}(W^\top \mathbf 1)\end{pmatrix},$$

positive semi-definite with the gauge direction $v = (\mathbf 1_n, -\mathbf 1_m)$
in its null space (and one such direction per connected component of the
support of $W$). :func:`solve` returns $(H + \delta I)^{-1} b$ for $\delta > 0$
(damped Newton steps), or the minimum-norm solution on $v^\perp$ for
$\delta = 0$ (implicit differentiation), without forming anything larger than
$W$ itself:

1. eliminate the $n$ row unknowns exactly (their block is diagonal), leaving
   the $m \times m$ Schur complement $S = D_c - W^\top D_r^{-1} W$;
2. rescale symmetrically, $y = D_c^{1/2} x_g$, which turns $S$ into
   $I - B^\top B$ with $B = D_r^{-1/2} W D_c^{-1/2}$ (all singular values
   $\le 1$), so float32 conjugate gradients are as well conditioned as the
   problem allows;
3. for $\delta = 0$, project out the image of the gauge direction
   ($D_c^{1/2}\mathbf 1$) from the right-hand side and from every matvec.

Each CG iteration costs two $O(nm)$ matrix-vector products; memory is
$O(n + m)$ beyond $W$. In exact arithmetic CG terminates after at most $m$
iterations, so the Schur complement is taken over the smaller side.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class CGResult(NamedTuple):
    x: jax.Array
    iterations: jax.Array
    residual: jax.Array  # ||r|| / ||b||


def conjugate_gradient(matvec, b: jax.Array, *, rtol, maxiter: int) -> CGResult:
    """Plain CG for a symmetric positive semi-definite ``matvec``, from ``x = 0``.

    Stops when ``||r|| <= rtol * ||b||`` or after ``maxiter`` iterations. A zero
    or non-finite right-hand side returns immediately (NaN propagates).
    """
    bnorm2 = jnp.vdot(b, b).real
    tiny = jnp.finfo(b.dtype).tiny
    stop2 = (jnp.asarray(rtol, b.dtype) ** 2) * bnorm2

    def cond(state):
        _, r, _, rr, k = state
        return (k < maxiter) & (rr > stop2) & jnp.isfinite(rr)

    def body(state):
        x, r, p, rr, k = state
        ap = matvec(p)
        pap = jnp.vdot(p, ap).real
        # pap <= 0 only through round-off in a (numerically) singular direction.
        alpha = jnp.where(pap > tiny, rr / jnp.where(pap > tiny, pap, 1), 0)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = jnp.vdot(r, r).real
        beta = jnp.where(rr > tiny, rr_new / jnp.where(rr > tiny, rr, 1), 0)
        p = r + beta * p
        rr_new = jnp.where(pap > tiny, rr_new, 0)  # breakdown: stop
        return x, r, p, rr_new, k + 1

    init = (jnp.zeros_like(b), b, b, bnorm2, jnp.zeros((), jnp.int32))
    x, _, _, rr, k = lax.while_loop(cond, body, init)
    rel = jnp.sqrt(rr / jnp.where(bnorm2 > 0, bnorm2, 1))
    return CGResult(x, k, rel)


def solve(
    w: jax.Array,
    b_rows: jax.Array,
    b_cols: jax.Array,
    *,
    delta=0.0,
    rtol,
    maxiter: int,
) -> tuple[jax.Array, jax.Array, CGResult]:
    r"""Solve $(H + \delta I)(x_r, x_c) = (b_r, b_c)$ for the dual Hessian of ``w``.

    Args:
        w: ``(n, m)`` non-negative weights (one problem, no batch axis).
        b_rows, b_cols: ``(n,)`` and ``(m,)`` right-hand side.
        delta: damping $\delta \ge 0$ (scalar, may be traced). With ``0`` the
            system is solved on the complement of the gauge direction
            $(\mathbf 1, -\mathbf 1)$ and the result is orthogonal to it.
        rtol: relative residual tolerance of the inner CG.
        maxiter: CG iteration cap (static).

    Returns:
        ``(x_rows, x_cols, cg_result)``.
    """
    n, m = w.shape
    if m > n:  # eliminate the larger side: CG then runs in the smaller one
        x_c, x_r, info = solve(w.T, b_cols, b_rows, delta=delta, rtol=rtol, maxiter=maxiter)
        return x_r, x_c, info
    dtype = w.dtype
    delta = jnp.asarray(delta, dtype)
    gauge = delta == 0
    # Project b onto the range of H (the complement of the gauge direction).
    shift = jnp.where(gauge, (jnp.sum(b_rows) - jnp.sum(b_cols)) / (n + m), 0)
    b_rows = b_rows - shift
    b_cols = b_cols + shift

    d_rows = jnp.sum(w, axis=1) + delta
    d_cols_raw = jnp.sum(w, axis=0)
    d_cols = d_cols_raw + delta
    # Empty rows/columns (possible only transiently or for zero-mass marginals)
    # get unit scaling; their equations decouple.
    small = jnp.sqrt(jnp.finfo(dtype).tiny)
    d_rows = jnp.where(d_rows > small, d_rows, 1)
    d_cols_ok = d_cols > small
    d_cols = jnp.where(d_cols_ok, d_cols, 1)
    inv_sqrt_c = lax.rsqrt(d_cols)
    # Image of the gauge direction in scaled coordinates (zero off the support).
    u = jnp.where(d_cols_ok, jnp.sqrt(d_cols_raw), 0)
    u = u / jnp.maximum(jnp.linalg.norm(u), small)
    u = jnp.where(gauge, u, 0)

    def project(y):
        return y - u * jnp.vdot(u, y)

    def matvec(y):
        t = w @ (inv_sqrt_c * y)
        return project(y - inv_sqrt_c * (w.T @ (t / d_rows)))

    rhs = inv_sqrt_c * (b_cols - w.T @ (b_rows / d_rows))
    info = conjugate_gradient(matvec, project(rhs), rtol=rtol, maxiter=maxiter)
    x_cols = inv_sqrt_c * info.x
    x_rows = (b_rows - w @ x_cols) / d_rows
    shift = jnp.where(gauge, (jnp.sum(x_rows) - jnp.sum(x_cols)) / (n + m), 0)
    return x_rows - shift, x_cols + shift, info
