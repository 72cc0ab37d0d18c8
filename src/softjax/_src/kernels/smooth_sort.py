r"""``smooth_sort``: a C∞ relaxation of the permutahedron projection.

Pipeline for rows $z$ (already divided by the softness) and $w$:

1. **Smooth majorization bounds** (:mod:`~softjax._src.kernels.esp_bounds`):
   $b_k = \tau_b \log e_k(e^{w/\tau_b})$,
   $k < n$, with $e_k$ the elementary symmetric polynomials, and $b_n = \sum w$.
   :func:`esp_bounds` runs the recurrence $e_k \leftarrow e_k + x_j e_{k-1}$ over
   the sorted $w$ in *linear* space with a per-degree log-scale that is
   renormalised every few steps (exactly the plain log-space recurrence,
   without its per-entry ``logaddexp``); reverse mode recomputes it in
   checkpointed chunks, so its memory is $O(n\sqrt n)$ instead of $O(n^2)$.
   The log-scales are kept relative to the top-$k$ sums, and
   $b_k = (\text{top-}k\text{ sum of } w) + \tau_b R_k$ with the excess
   $R_k \in [0, \log\binom nk]$: only differences of entries of $w/\tau_b$ are
   ever exponentiated, so the bounds and their derivatives are finite and
   accurate for any range of $w/\tau_b$.
   In float32 with $n \ge$ ``FAST_MIN_N`` it uses the $O(n)$ saddle-point
   expansion of :mod:`~softjax._src.kernels.esp_saddle` with exact end bands
   (falling back to the recurrence where that is not accurate).
   Equally spaced $w$ (the rank anchors) use the closed form
   :func:`esp_bounds_arithmetic` (Gaussian binomials, O(n)).
2. **Dual**: $g(\beta) = \alpha^\top b + \nu b_n + \tau\sum e^{-\alpha/\tau}
   + \tau_m \sum e^{-\beta/\tau_m}$ with $\alpha = D\zeta + L\beta$, $L = DD^\top$.
   Instead of L-BFGS with a loose step-size test (whose gradients then disagree
   with finite differences) it is minimised by damped Newton: the Hessian
   $L\,\mathrm{diag}(\rho/\tau)L + \mathrm{diag}(\delta/\tau_m)$
   is pentadiagonal and solved exactly in O(n); iterations stop once the dual
   gradient norm (the primal infeasibility) is small and no longer halving.
   The dual sees the scores only through their gaps $D\zeta$, which
   :func:`smooth_project` forms with an optional gain and a tilt that
   expresses bounds given in other units (:func:`scale_tilt`), so callers can
   solve every row in a well-scaled frame.
3. **Primal**: least-squares reconstruction of $y$ from the slacks
   $\rho = e^{-\alpha/\tau}$ and gaps $\delta = e^{-\beta/\tau_m}$.
4. **Derivatives** by implicit differentiation in a ``custom_jvp``:
   $\dot y = \tfrac{\dot b_n}{n}\mathbf 1 + D^\top \eta$ with
   $M\eta = D\dot\zeta + \tau(\dot b - \tfrac{\dot b_n}{n}k)/\rho$ and the pentadiagonal
   $M = \tau\,\mathrm{diag}(1/\rho) + \tau_m L\,\mathrm{diag}(1/\delta)L$, solved exactly
   (``lax.custom_linear_solve``, so the rule transposes for reverse mode and
   differentiates again for second order).

Known limitation (documented): the smooth bounds enlarge the
polytope ($b_k \ge$ top-$k$ sum), so outputs may leave the hard range (sorted
values outside $[\min x, \max x]$, ranks outside $[1, n]$), increasingly so for
large softness. This is a property of the relaxation, not of the solver.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from softjax._src.kernels.esp_bounds import work_dtype
from softjax._src.kernels.permutahedron import unpermute
from softjax._src.kernels.vma import vary_like

TAU = 1.0  # weight of the majorization-slack entropy (a fixed design constant)
TAU_M = 1.0  # weight of the monotonicity-gap entropy
_MAX_NEWTON = 200
_MAX_HALVINGS = 60


# --------------------------------------------------------------------------- #
# Pentadiagonal SPD solves: (L diag(a) L + diag(d)) x = r along the last axis.
# --------------------------------------------------------------------------- #
def _bands(a, d):
    zero = jnp.zeros_like(a[..., :1])
    a_next = jnp.concatenate([a[..., 1:], zero], -1)
    a_prev = jnp.concatenate([zero, a[..., :-1]], -1)
    return a_prev + 4 * a + a_next + d, -2 * (a + a_next), a_next  # diag, (i,i+1), (i,i+2)


def penta_solve(a: jax.Array, d: jax.Array, r: jax.Array) -> jax.Array:
    """Solve $(L\\,\\mathrm{diag}(a)\\,L + \\mathrm{diag}(d))x = r$, $L$ = tridiag(-1, 2, -1).

    ``a, d > 0`` make the matrix SPD; an $LDL^\\top$ factorisation in one
    forward scan (fused with the forward substitution) and one backward scan.
    """
    diag, off1, off2 = _bands(a, d)
    front = [jnp.moveaxis(v, -1, 0) for v in (diag, off1, off2, r)]
    diag, off1, off2, r = front
    sub1 = jnp.concatenate([jnp.zeros_like(off1[:1]), off1[:-1]])  # A[i, i-1]
    sub2 = jnp.concatenate([jnp.zeros_like(off2[:2]), off2[:-2]])  # A[i, i-2]

    def forward(carry, xs):
        d1, d2, l1_prev, z1, z2 = carry
        a_ii, a_i1, a_i2, r_i = xs
        l2 = a_i2 / d2
        l1 = (a_i1 - l2 * l1_prev * d2) / d1
        d_i = a_ii - l1 * l1 * d1 - l2 * l2 * d2
        z_i = r_i - l1 * z1 - l2 * z2
        return (d_i, d1, l1, z_i, z1), (d_i, l1, l2, z_i)

    one, zero = jnp.ones_like(diag[0]), jnp.zeros_like(diag[0])
    _, (dd, l1, l2, z) = lax.scan(forward, (one, one, zero, zero, zero), (diag, sub1, sub2, r), unroll=8)
    l1_next = jnp.concatenate([l1[1:], jnp.zeros_like(l1[:1])])
    l2_next = jnp.concatenate([l2[2:], jnp.zeros_like(l2[:2])])

    def backward(carry, xs):
        x1, x2 = carry
        y_i, m1, m2 = xs
        x_i = y_i - m1 * x1 - m2 * x2
        return (x_i, x1), x_i

    _, x = lax.scan(backward, (zero, zero), (z / dd, l1_next, l2_next), reverse=True, unroll=8)
    return jnp.moveaxis(x, 0, -1)


def _lmul(v):
    """$L v$ with $L$ = tridiag(-1, 2, -1) along the last axis."""
    zero = jnp.zeros_like(v[..., :1])
    return 2 * v - jnp.concatenate([zero, v[..., :-1]], -1) - jnp.concatenate([v[..., 1:], zero], -1)


def _diff(v):
    """$D v$: $(Dv)_k = v_k - v_{k+1}$."""
    return v[..., :-1] - v[..., 1:]


def _diff_t(eta):
    """$D^\\top \\eta$ = [η₁, η₂−η₁, …, −η_{n−1}] (zero-sum)."""
    zero = jnp.zeros_like(eta[..., :1])
    return jnp.concatenate([eta, zero], -1) - jnp.concatenate([zero, eta], -1)


# --------------------------------------------------------------------------- #
# 2.–3. Dual Newton solve and primal reconstruction.
# --------------------------------------------------------------------------- #
# The dual depends on the sorted scores only through their gaps D zeta (the
# term zeta_n b_n of g is constant in beta), so the solve takes the gaps: they
# are formed from differences of moderate numbers (accurate to relative
# rounding even when the scores themselves are huge), and g is evaluated without
# the constant sum(D zeta * b) + zeta_n b_n, which for large scores dwarfed the
# beta-dependent part and made the line search compare rounding noise.
def _dual_parts(beta, dzeta, b, b_n):
    lb = _lmul(beta)
    alpha = dzeta + lb
    rho = jnp.exp(-alpha / TAU)
    delta = jnp.exp(-beta / TAU_M)
    value = jnp.sum(lb * b, -1) - beta[..., -1] * b_n + TAU * jnp.sum(rho, -1) + TAU_M * jnp.sum(delta, -1)
    grad = _lmul(b - rho) - delta
    grad = grad.at[..., -1].add(-b_n)
    return value, grad, rho, delta


class _NewtonState(NamedTuple):
    it: jax.Array  # iterations done
    beta: jax.Array  # (..., n - 1) dual variables
    value: jax.Array  # (...,) dual objective at beta
    gnorm: jax.Array  # (...,) max |dual gradient|
    active: jax.Array  # (...,) rows still iterating


class _LineSearch(NamedTuple):
    t: jax.Array  # (...,) step length
    ok: jax.Array  # (...,) Armijo condition met (or the row is inactive)
    trial: jax.Array  # (...,) dual objective at the trial step


def _solve_dual(dzeta, b, b_n):
    """Damped Newton on the dual; returns ``(rho, delta)``."""
    dt = dzeta.dtype
    eps = jnp.finfo(dt).eps
    # The dual gradient is L(b - rho) - delta - b_n e: its rounding floor is set
    # by the bounds alone (the gaps of the scores only enter through rho).
    scale = 1.0 + jnp.max(jnp.abs(b), -1) + jnp.abs(b_n)
    tol = 64 * eps * scale
    floor_tol = eps * scale  # converged beyond doubt
    floor = jnp.finfo(dt).tiny ** 0.5

    def cond(state: _NewtonState):
        return (state.it < _MAX_NEWTON) & jnp.any(state.active)

    def body(state: _NewtonState) -> _NewtonState:
        it, beta, value, gnorm, active = state
        _, grad, rho, delta = _dual_parts(beta, dzeta, b, b_n)
        step = -penta_solve(rho / TAU + floor, delta / TAU_M + floor, grad)
        slope = jnp.sum(grad * step, -1)

        def ls_cond(ls: _LineSearch):
            return jnp.any(~ls.ok & active) & (jnp.max(jnp.where(ls.ok, 0.0, ls.t)) > 2.0**-_MAX_HALVINGS)

        def ls_body(ls: _LineSearch) -> _LineSearch:
            t, ok, _ = ls
            trial = _dual_parts(beta + t[..., None] * step, dzeta, b, b_n)[0]
            slack = 16 * eps * (jnp.abs(value) + 1.0)
            accept = jnp.isfinite(trial) & (trial <= value + 1e-4 * t * slope + slack)
            t_new = jnp.where(ok | accept, t, 0.5 * t)
            return _LineSearch(t_new, ok | accept, trial)

        t, ok, _ = lax.while_loop(
            ls_cond, ls_body, _LineSearch(t=jnp.ones_like(value), ok=~active, trial=value)
        )
        move = active & ok
        beta = jnp.where(move[..., None], beta + t[..., None] * step, beta)
        value_new, grad_new, _, _ = _dual_parts(beta, dzeta, b, b_n)
        gnorm_new = jnp.max(jnp.abs(grad_new), -1)
        # Stop a row when its line search stalls, or once the gradient is below
        # `tol` AND stopped shrinking: `tol` alone is too loose in float32 (the
        # gradient's rounding floor is ~eps max|b|, while y is ill-conditioned in
        # it: stopping at 1.7e-3 < tol left sorted values 0.85 off at n = 1024);
        # Newton keeps halving the gradient until it reaches that floor.
        settled = (gnorm_new <= tol) & (gnorm_new > 0.5 * gnorm)
        active = active & ok & (gnorm_new > floor_tol) & ~settled
        return _NewtonState(it + 1, beta, jnp.where(move, value_new, value), gnorm_new, active)

    beta0 = jnp.zeros(dzeta.shape, dt)
    if dzeta.shape[-1] == 1:
        # n = 2: the one gap's score can be very negative (a change of units by
        # a tilts it by -log a, see scale_tilt), so that rho = exp(-dzeta) at
        # beta = 0 is astronomically large and Newton would crawl towards the
        # solution by ~1 per step (rows near the float64 maximum never got
        # there). Start where alpha = max(dzeta, 0) instead.
        beta0 = 0.5 * jnp.maximum(-dzeta, 0.0)
    value0, grad0, _, _ = _dual_parts(beta0, dzeta, b, b_n)
    gnorm0 = jnp.max(jnp.abs(grad0), -1)
    start = _NewtonState(
        it=jnp.zeros((), jnp.int32), beta=beta0, value=value0, gnorm=gnorm0, active=gnorm0 > tol
    )
    beta = lax.while_loop(cond, body, vary_like(start, dzeta, b, b_n)).beta
    _, _, rho, delta = _dual_parts(beta, dzeta, b, b_n)
    return rho, delta


def _reconstruct(rho, delta, b, b_n):
    """Least-squares $y$ from slacks and gaps."""
    n = rho.shape[-1] + 1
    dt = rho.dtype
    zero = jnp.zeros_like(delta[..., :1])
    tail = jnp.concatenate([jnp.cumsum(delta[..., ::-1], -1)[..., ::-1], zero], -1)  # t_i
    t_cum = jnp.cumsum(tail[..., :-1], -1)  # T_k, k < n
    rhs = (b - rho) - t_cum
    rhs_n = b_n - jnp.sum(tail, -1)
    k = jnp.arange(1, n, dtype=dt)
    y_n = (jnp.sum(k * rhs, -1) + n * rhs_n) / (jnp.sum(k * k) + n * n)
    return y_n[..., None] + tail


# --------------------------------------------------------------------------- #
# 4. The differentiable map (D zeta, b, b_n) -> (y, rho, delta).
# --------------------------------------------------------------------------- #
@jax.custom_jvp
def _project_sorted(dzeta, b, b_n):
    rho, delta = _solve_dual(dzeta, b, b_n)
    return _reconstruct(rho, delta, b, b_n), rho, delta


@_project_sorted.defjvp
def _project_sorted_jvp(primals, tangents):
    dzeta, b, b_n = primals
    ddzeta, db, db_n = tangents
    y, rho, delta = _project_sorted(dzeta, b, b_n)
    n = dzeta.shape[-1] + 1
    floor = jnp.finfo(rho.dtype).tiny ** 0.5
    inv_rho = 1.0 / jnp.maximum(rho, floor)
    inv_delta = 1.0 / jnp.maximum(delta, floor)
    k = jnp.arange(1, n, dtype=rho.dtype)
    mean_shift = (db_n / n)[..., None]
    # Where rho underflowed (a gap of the scores far beyond the bounds'
    # resolution: that constraint is exactly active), the floored 1 / rho would
    # leave the gap's tangent a weight floor instead of rho ~ 0; with the large
    # score gains of ranking big data at small softness (up to 1 / eps^3) that
    # was an O(1) spurious derivative in float32. rho * inv_rho is 1 wherever
    # rho is above the floor.
    rhs = ddzeta * (rho * inv_rho) + TAU * (db - mean_shift * k) * inv_rho

    def matvec(v):
        return TAU * inv_rho * v + TAU_M * _lmul(inv_delta * _lmul(v))

    def solve(_, r):
        a, d = lax.stop_gradient(TAU_M * inv_delta), lax.stop_gradient(TAU * inv_rho)
        return penta_solve(a, d, r)

    eta = lax.custom_linear_solve(matvec, rhs, solve, symmetric=True)
    dy = mean_shift + _diff_t(eta)
    drho = db - jnp.cumsum(dy[..., :-1], -1)
    return (y, rho, delta), (dy, drho, _diff(dy))


def scale_tilt(n: int, dtype) -> jax.Array:
    r"""$D c$ for the score tilt $c$ that expresses a change of units of the bounds.

    Writing $b = a\,b'$, $y = a\,y'$ (and $\rho = a\rho'$, $\delta = a\delta'$,
    $\beta = \beta' - \log a$), the dual becomes $a$ times the same dual in the
    primed variables, up to a constant, with the score gaps $D\zeta$ replaced by
    $D\zeta + \log a\,(\mathbf 1 - L\mathbf 1)$: the entropies have a fixed
    weight $\tau = \tau_m = 1$, so a change of units is a tilt of the scores, not
    a rescaling of them. Returns $\mathbf 1 - L\mathbf 1$ (length $n - 1$).
    """
    ones = jnp.ones((max(n - 1, 0),), dtype)
    return ones - _lmul(ones)


# Jitted here so that eager callers reuse the compiled solver (see permutahedron).
@jax.jit
def smooth_project(z: jax.Array, b: jax.Array, b_n: jax.Array, gain=1.0, log_scale=0.0) -> jax.Array:
    r"""The C∞ projection of scores ``gain * z`` given bounds ``(b, b_n)``, along the last axis.

    Args:
        z: scores ``(..., n)``, already divided by the softness (up to ``gain``).
        b: smooth bounds ``(..., n-1)`` (broadcastable), e.g. from :func:`esp_bounds`.
        b_n: the exact total ``(...)``.
        gain: positive factor ``(...)`` (broadcastable) of the scores. It multiplies
            the *gaps* of the sorted ``z``, so that huge scores (a small softness
            on large data) keep their gaps to relative rounding and never overflow.
        log_scale: ``log a`` ``(...)`` when ``b``, ``b_n`` (and the result) are in
            units of ``a``: the projection onto the bounds ``a b`` is ``a`` times
            the returned ``y`` (see :func:`scale_tilt`). Callers use it to keep
            every quantity of the solve of order one. Treated as a constant.

    Returns:
        ``y`` of shape ``(..., n)`` in ``z``'s order (largest where ``z`` is
        largest), in ``z``'s dtype; the solve runs in the default float.
    """
    dtype = jnp.result_type(z, b, b_n)
    work = work_dtype(z, b, b_n)
    z = z.astype(work)
    n = z.shape[-1]
    if n <= 1:
        return jnp.broadcast_to(jnp.asarray(b_n, work)[..., None], z.shape).astype(dtype)
    gain = jnp.asarray(gain, work)
    log_scale = lax.stop_gradient(jnp.asarray(log_scale, work))
    shape = jnp.broadcast_shapes(z.shape[:-1], b.shape[:-1], jnp.shape(b_n), gain.shape, log_scale.shape)
    z = jnp.broadcast_to(z, (*shape, n))
    b = jnp.broadcast_to(b.astype(work), (*shape, n - 1))
    b_n = jnp.broadcast_to(jnp.asarray(b_n, work), shape)
    perm = jnp.argsort(-z, axis=-1, stable=True)
    zeta = jnp.take_along_axis(z, perm, axis=-1)
    dzeta = _diff(zeta) * gain[..., None] + log_scale[..., None] * scale_tilt(n, work)
    y_sorted = _project_sorted(dzeta, b, b_n)[0]
    y = unpermute(y_sorted, perm)  # a per-row scatter: keeps a sharded batch sharded
    return y.astype(dtype)


__all__ = [
    "TAU",
    "TAU_M",
    "penta_solve",
    "scale_tilt",
    "smooth_project",
]
