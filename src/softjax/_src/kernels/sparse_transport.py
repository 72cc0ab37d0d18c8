r"""Regularised optimal transport through its smooth dual, solved by damped Newton.

For a regulariser $\Omega$ with softness $s$ the dual of
$\min_{\Gamma 1 = \mu,\ \Gamma^\top 1 = \nu,\ \Gamma \ge 0} \langle C, \Gamma\rangle + s\,\Omega(\Gamma)$ is

$$\max_{f, g}\ \langle \mu, f\rangle + \langle \nu, g\rangle - \sum_{ij} \phi(f_i + g_j - C_{ij}),
\qquad \Gamma_{ij} = \phi'(f_i + g_j - C_{ij}),$$

with ($q = p/(p-1)$; Blondel, Seguy & Rolet 2018)

* ``smooth`` (entropy): $\phi(z) = s\,e^{z/s}$, $\Gamma = e^{z/s}$;
* ``c0``/``c1``/``c2`` (p-norm, $q = 2, 3, 4$):
  $\phi(z) = \frac{s^{1-q}}{q} [z]_+^q$, $\Gamma = s^{1-q} [z]_+^{q-1}$.

The dual gradient is exactly the marginal violation $(\mu - \Gamma 1, \nu - \Gamma^\top 1)$
and its negated Hessian is the matrix of :mod:`.dual_hessian` with weights
$W = \phi''(z)$. :func:`newton_potentials` maximises the dual with damped
(Levenberg-Marquardt regularised) Newton steps whose linear systems are solved
matrix-free by conjugate gradients, and an exact line search on the concave
one-dimensional restriction (a sign search on its derivative, which unlike the
objective itself is accurate in float32). It stops on the marginal violation
itself (a small step does not imply small violations), never on the
relative change of the iterates.

Below float64 the potentials are double words ``(hi, lo)``
(:mod:`.compensated`): a sparse plan's entries $z_{ij}$ are $O(s/n)$ while
$f$, $g$ and $C$ are $O(1)$, so single-word float32 potentials leave the
marginals with round-off of $10^{-3}$ of a row's mass at $n = 1024$ and
softness $0.1$, and the solver stalls there; with double words the float32
marginals meet the tolerance ($10^{-5}$) like float64 ones, for one to three
extra Newton steps (c0, n = 1024, batch 8: value+grad 1.48 -> 1.52 s).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from softjax._src.kernels import compensated, dual_hessian
from softjax._src.kernels.vma import vary_like

# q = p / (p - 1) of the p-norm regulariser of each sparse mode.
PNORM_Q = {"c0": 2, "c1": 3, "c2": 4}
# Round-off safety factor of the convergence test (see ``violation_ratio``).
_NOISE_FACTOR = 4.0
# Softness continuation: ratio between levels and the loose tolerance of the
# intermediate levels.
_CONTINUATION = 4.0
_LEVEL_TOL = 0.1


def _positive_part(z):
    return jnp.where(z > 0, z, 0)


def plan_from_z(z, s, mode):
    r"""$\Gamma = \phi'(z)$ elementwise.

    The p-norm forms are evaluated as powers of $[z]_+/s$ (of order one on the
    support), not as $[z]_+^{q-1} / s^{q-1}$: the latter's reverse pass divides
    the cotangent by $s^{q-1}$ first (float32, softness $10^{-6}$, $q = 4$: a
    cotangent of $10^{20}$ overflows, and $\infty \cdot 0$ off the support is
    NaN), and its forward pass underflows $[z]_+^{q-1}$ at tiny softness.
    """
    if mode == "smooth":
        return jnp.exp(z / s)
    q = PNORM_Q[mode]
    return (_positive_part(z) / s) ** (q - 1)


def log_plan_from_z(z, s, mode):
    r"""$\log\Gamma$: $z/s$ (smooth) or $(q-1)\log([z]_+/s)$, $-\infty$ at zeros, NaN-free gradients."""
    if mode == "smooth":
        return z / s
    q = PNORM_Q[mode]
    pos = z > 0
    safe_log = jnp.log(jnp.where(pos, z, 1) / s)
    return jnp.where(pos, (q - 1) * safe_log, -jnp.inf)


def weights_from_z(z, s, mode):
    r"""Hessian weights $W = \phi''(z)$."""
    if mode == "smooth":
        return jnp.exp(z / s) / s
    q = PNORM_Q[mode]
    if q == 2:
        return jnp.where(z > 0, 1 / s, 0).astype(z.dtype)
    return (q - 1) * (_positive_part(z) / s) ** (q - 2) / s


def plan_softness_derivative(z, s, mode):
    r"""$\partial\Gamma / \partial s$ at fixed $z$."""
    if mode == "smooth":
        return -jnp.exp(z / s) * z / (s * s)
    q = PNORM_Q[mode]
    return -(q - 1) * plan_from_z(z, s, mode) / s


def dual_potential(z, s, mode):
    r"""$\phi(z)$ elementwise (the dual's penalty)."""
    if mode == "smooth":
        return s * jnp.exp(z / s)
    q = PNORM_Q[mode]
    return s * (_positive_part(z) / s) ** q / q


class Marginals(NamedTuple):
    """Row/column sums of the plan and of the weights at one dual point."""

    row: jax.Array
    col: jax.Array
    noise_row: jax.Array
    noise_col: jax.Array


def marginals(plan, w, f, g, cost, z=None) -> Marginals:
    r"""Marginals of ``plan`` plus the round-off level of each (see :func:`violation_ratio`).

    $\mathrm{noise}_i = 4u\,(\sum_j W_{ij}(|f_i| + |g_j| + |C_{ij}|) + (\Gamma 1)_i)$,
    $u$ the unit round-off, bounds the effect of rounding $z = f + g - C$ and
    of evaluating $\phi'$ on the marginals. Given ``z`` (evaluated with
    double-word potentials, :func:`.compensated.dual_gap`, error about
    $u\,|z|$) the first term is $\sum_j W_{ij} |z_{ij}|$ instead.
    """
    row, col = jnp.sum(plan, axis=1), jnp.sum(plan, axis=0)
    if z is None:
        w_row, w_col = jnp.sum(w, axis=1), jnp.sum(w, axis=0)
        wc = w * jnp.abs(cost)
        mag_r = jnp.abs(f) * w_row + w @ jnp.abs(g) + jnp.sum(wc, axis=1)
        mag_c = jnp.abs(g) * w_col + w.T @ jnp.abs(f) + jnp.sum(wc, axis=0)
    else:
        wz = w * jnp.abs(z)
        mag_r, mag_c = jnp.sum(wz, axis=1), jnp.sum(wz, axis=0)
    return Marginals(row, col, round_off_level(mag_r, row), round_off_level(mag_c, col))


def round_off_level(magnitude: jax.Array, mass: jax.Array) -> jax.Array:
    r"""$4u\,(\mathrm{magnitude} + \mathrm{mass})$: one marginal's round-off level (:func:`marginals`)."""
    return _NOISE_FACTOR * (jnp.finfo(mass.dtype).eps / 2) * (magnitude + mass)


def violation_ratio(marg: Marginals, mu, nu, tol):
    r"""Largest marginal violation relative to what is asked for (converged iff ``<= 1``).

    Row $i$ is accepted when $|(\Gamma 1)_i - \mu_i| \le \mathrm{tol}\cdot\max(\mu_i, 1/n)
    + \mathrm{noise}_i$ (columns alike): with the output scaled by $n$ this is an
    absolute tolerance for rows/columns of mass $\le 1$ and a relative one for
    heavier columns. Below the noise level (:func:`marginals`) the marginals
    cannot be resolved in the working precision (this matters in float32 only,
    mostly for the sparse modes, whose plans are $n/\lambda$ times more
    sensitive to rounding of $f + g - C$ than entropic ones).

    Returns:
        ``(ratio, violation)`` where ``violation`` is the scaled max-norm
        violation $\max |\text{marginal} - \text{target}| / \max(\text{target}, 1/n)$.
    """
    n = mu.shape[0]
    scale_r, scale_c = jnp.maximum(mu, 1 / n), jnp.maximum(nu, 1 / n)
    vr, vc = jnp.abs(marg.row - mu), jnp.abs(marg.col - nu)
    ratio = jnp.maximum(
        jnp.max(vr / (tol * scale_r + marg.noise_row)),
        jnp.max(vc / (tol * scale_c + marg.noise_col)),
    )
    violation = jnp.maximum(jnp.max(vr / scale_r), jnp.max(vc / scale_c))
    return ratio, violation


class SolverResult(NamedTuple):
    f: jax.Array
    g: jax.Array
    ratio: jax.Array  # violation / tolerance; converged iff <= 1
    violation: jax.Array  # scaled max marginal violation
    iterations: jax.Array
    # Low words of double-word potentials (float32 Newton solver), else None.
    f_lo: jax.Array | None = None
    g_lo: jax.Array | None = None


def _initial_potentials(cost, mu, s, mode):
    # Row marginals start exact (smooth) or every row starts with mass >= mu_i
    # (p-norm: the cheapest entry alone carries mu_i); g = 0.
    m = cost.shape[1]
    if mode == "smooth":
        f = s * jnp.log(mu) - s * jax.nn.logsumexp(-cost / s, axis=1)
    else:
        q = PNORM_Q[mode]
        f = jnp.min(cost, axis=1) + s * mu ** (1 / (q - 1))
    return f, jnp.zeros((m,), cost.dtype)


class _Bracket(NamedTuple):
    """Illinois regula falsi state on the sign of the dual's slope along a direction."""

    a: jax.Array  # step with slope >= 0 (accepted side)
    fa: jax.Array  # slope at a (possibly halved by Illinois)
    b: jax.Array  # step with slope < 0
    fb: jax.Array
    k: jax.Array  # evaluations so far
    side: jax.Array  # +1 / -1: which end moved last
    row_a: jax.Array  # the plan's marginals at a
    col_a: jax.Array


class _NewtonState(NamedTuple):
    """Damped Newton-CG state of :func:`newton_potentials`."""

    f: jax.Array  # potentials (high words)
    g: jax.Array
    f_lo: jax.Array  # low words (zero unless compensated)
    g_lo: jax.Array
    it: jax.Array
    w: jax.Array  # Newton weights at (f, g)
    row: jax.Array  # the plan's marginals at (f, g)
    col: jax.Array
    level: jax.Array  # continuation level (0: the requested softness)
    s_k: jax.Array  # softness of the last step
    ratio: jax.Array  # violation / tolerance (converged when <= 1)
    viol: jax.Array
    stall: jax.Array  # consecutive steps without progress


def _line_search(cost, mu, nu, s, mode, f, g, pf, pg, slope0, row0, col0, f_lo=None, g_lo=None):
    r"""Step $t \in [0, 1]$ with $\psi'(t) \ge 0$ for $\psi(t) = D(f + t p_f, g + t p_g)$.

    $\psi$ is concave, so any such $t$ increases the dual. Full steps are taken
    when $\psi'(1) \ge 0$; otherwise Illinois regula falsi on the sign of
    $\psi'$ until $\psi'(t) \le \psi'(0)/4$ (at most 12 evaluations).

    Returns:
        ``(t, row, col)``: the step and the plan's marginals at that step
        (``row0``/``col0`` are those at ``t = 0``).
    """

    def slope(t):
        if f_lo is None:
            z = compensated.dual_gap(f + t * pf, g + t * pg, cost)
        else:
            # The step joins the low words: accurate where it matters, near
            # the solution, where steps are small.
            z = compensated.dual_gap(f, g, cost, f_lo + t * pf, g_lo + t * pg)
        plan = plan_from_z(z, s, mode)
        row, col = jnp.sum(plan, 1), jnp.sum(plan, 0)
        d = jnp.vdot(mu - row, pf) + jnp.vdot(nu - col, pg)
        return jnp.where(jnp.isfinite(d), d, -jnp.inf), row, col

    one = jnp.ones((), cost.dtype)
    zero = jnp.zeros((), cost.dtype)
    slope1, row1, col1 = slope(one)
    good = slope1 >= 0

    def cond(st: _Bracket):
        return (st.k < 12) & (st.fa > 0.25 * slope0)

    def body(st: _Bracket) -> _Bracket:
        a, fa, b, fb, k, side, row_a, col_a = st
        secant = a + (b - a) * fa / (fa - fb)
        t = jnp.where(jnp.isfinite(fb) & (fa - fb > 0), secant, 0.5 * (a + b))
        t = jnp.clip(t, a + 1e-3 * (b - a), b - 1e-3 * (b - a))
        ft, row_t, col_t = slope(t)
        up = ft >= 0
        # Illinois: halve the value kept on the side that did not move twice.
        fb_new = jnp.where(up, jnp.where(side == 1, 0.5 * fb, fb), ft)
        fa_new = jnp.where(up, ft, jnp.where(side == -1, 0.5 * fa, fa))
        side = jnp.where(up, 1, -1).astype(jnp.int32)
        row_a, col_a = jnp.where(up, row_t, row_a), jnp.where(up, col_t, col_a)
        return _Bracket(jnp.where(up, t, a), fa_new, jnp.where(up, b, t), fb_new, k + 1, side, row_a, col_a)

    k0 = jnp.where(good, 12, 0).astype(jnp.int32)
    init = _Bracket(
        a=zero, fa=slope0, b=one, fb=slope1, k=k0, side=jnp.zeros((), jnp.int32), row_a=row0, col_a=col0
    )
    out = lax.while_loop(cond, body, vary_like(init, cost, f, pf))
    return (
        jnp.where(good, one, out.a),
        jnp.where(good, row1, out.row_a),
        jnp.where(good, col1, out.col_a),
    )


def newton_potentials(cost, mu, nu, s, mode: str, *, tol, max_iter: int) -> SolverResult:
    r"""Maximise the smooth dual for one ``(n, m)`` problem.

    Damped Newton-CG (see the module docstring) with continuation in the
    softness (sparse modes): when $s$ is small compared with the cost range $R$, the dual is
    first solved loosely (violation $< 0.1$) for $s_k = 4^k s$,
    $k = K, \dots, 1$, $4^K s \approx R/2$, each level warm-starting the next;
    only the last level ($s_0 = s$) is solved to ``tol``. This keeps the number
    of support changes per Newton step small (c0, n = 1024, softness 0.01:
    about 2x fewer Newton steps than a cold start).

    Args:
        cost: ``(n, m)`` cost matrix $C$.
        mu, nu: marginals (positive, summing to one).
        s: softness (scalar).
        mode: ``"smooth"``, ``"c0"``, ``"c1"`` or ``"c2"``.
        tol: marginal tolerance (see :func:`violation_ratio`).
        max_iter: Newton iteration cap (static; counts every level).
    """
    n, m = cost.shape
    dtype = cost.dtype
    # Below float64 the potentials are double words (hi, lo): see :mod:`.compensated`.
    compensate = compensated.needs_compensation(dtype)

    def lo_words(f_lo, g_lo):
        return (f_lo, g_lo) if compensate else (None, None)

    cg_maxiter = 2 * min(n, m) + 20
    cg_floor = 32 * jnp.finfo(dtype).eps
    inf = jnp.asarray(jnp.inf, dtype)
    spread = jnp.max(cost) - jnp.min(cost)
    levels = jnp.ceil(jnp.log(0.5 * spread / s) / jnp.log(_CONTINUATION))
    # Entropic potentials scale with s (f ~ s log mu), so they do not warm-start
    # across levels; Newton on the entropic dual needs no continuation anyway.
    max_level = 0 if mode == "smooth" else 12
    levels = jnp.clip(jnp.nan_to_num(levels), 0, max_level).astype(jnp.int32)

    def softness_at(level):
        return s * _CONTINUATION ** level.astype(dtype)

    def evaluate(f, g, f_lo, g_lo, level):
        # One pass over the n x m problem: the Newton weights (kept) and the
        # marginals with their round-off levels (the plan is not kept).
        s_k = softness_at(level)
        z = compensated.dual_gap(f, g, cost, *lo_words(f_lo, g_lo))
        w = weights_from_z(z, s_k, mode)
        marg = marginals(plan_from_z(z, s_k, mode), w, f, g, cost, z if compensate else None)
        ratio, viol = violation_ratio(marg, mu, nu, tol)
        # Intermediate levels are never "converged".
        ratio = jnp.where(level > 0, jnp.where(jnp.isnan(ratio), ratio, inf), ratio)
        return w, marg.row, marg.col, ratio, viol

    def cond(st: _NewtonState):
        return (st.it < max_iter) & (st.ratio > 1) & (st.stall < 6)

    def body(st: _NewtonState) -> _NewtonState:
        f, g, f_lo, g_lo, it, w, row, col, level, _, ratio, viol, stall = st
        s_k = softness_at(level)
        grad_f, grad_g = mu - row, nu - col
        w_rows, w_cols = jnp.sum(w, axis=1), jnp.sum(w, axis=0)
        # Levenberg-Marquardt damping relative to the mean Hessian diagonal:
        # vanishes with the violation (superlinear local convergence), grows
        # tenfold after each step that made no progress.
        hscale = 2 * jnp.sum(w_rows) / (n + m)
        boost = 10.0 ** stall.astype(dtype)
        delta = 1e-3 * hscale * jnp.minimum(1.0, viol) * boost + jnp.finfo(dtype).tiny
        # Inexact Newton forcing term: superlinear (viol) but never more
        # accurate than needed to reach tol in this step (tol / 2 viol).
        forcing = jnp.maximum(viol, 0.5 * tol / jnp.maximum(viol, tol))
        rtol = jnp.where(level > 0, 0.1, jnp.clip(forcing, cg_floor, 0.1))
        pf, pg, _ = dual_hessian.solve(
            w, grad_f, grad_g, delta=delta, rtol=rtol, maxiter=cg_maxiter, sums=(w_rows, w_cols)
        )
        slope0 = jnp.vdot(grad_f, pf) + jnp.vdot(grad_g, pg)
        t, row_t, col_t = _line_search(
            cost, mu, nu, s_k, mode, f, g, pf, pg, slope0, row, col, *lo_words(f_lo, g_lo)
        )
        moved = (t > 0) & (slope0 > 0)
        # where, not a zero factor: a rejected direction may hold inf or NaN.
        step_f, step_g = jnp.where(moved, t * pf, 0), jnp.where(moved, t * pg, 0)
        if compensate:
            f, f_lo = compensated.add(f, f_lo, step_f)
            g, g_lo = compensated.add(g, g_lo, step_g)
        else:
            f, g = f + step_f, g + step_g
        stall = jnp.where(moved, 0, stall + 1).astype(jnp.int32)
        # Leave an intermediate level once its (noise-free) violation is loose-
        # ly met, judged from the line search's marginals at the new point.
        n_ = mu.shape[0]
        viol_k = jnp.maximum(
            jnp.max(jnp.abs(row_t - mu) / jnp.maximum(mu, 1 / n_)),
            jnp.max(jnp.abs(col_t - nu) / jnp.maximum(nu, 1 / n_)),
        )
        descend = (level > 0) & ((viol_k < _LEVEL_TOL) | (stall >= 3))
        level = jnp.where(descend, level - 1, level)
        stall = jnp.where(descend, 0, stall).astype(jnp.int32)
        w, row, col, ratio, viol = evaluate(f, g, f_lo, g_lo, level)
        return _NewtonState(f, g, f_lo, g_lo, it + 1, w, row, col, level, s_k, ratio, viol, stall)

    f0, g0 = _initial_potentials(cost, mu, softness_at(levels), mode)
    f0_lo, g0_lo = jnp.zeros_like(f0), jnp.zeros_like(g0)
    w0, row0, col0, ratio0, viol0 = evaluate(f0, g0, f0_lo, g0_lo, levels)
    zero = jnp.zeros((), jnp.int32)
    # vary_like: inside shard_map the constant seeds must vary like the data.
    init = _NewtonState(
        f=f0,
        g=g0,
        f_lo=f0_lo,
        g_lo=g0_lo,
        it=zero,
        w=w0,
        row=row0,
        col=col0,
        level=levels,
        s_k=s,
        ratio=ratio0,
        viol=viol0,
        stall=zero,
    )
    out = lax.while_loop(cond, body, vary_like(init, cost, mu, nu, s))
    return SolverResult(out.f, out.g, out.ratio, out.viol, out.it, *lo_words(out.f_lo, out.g_lo))
