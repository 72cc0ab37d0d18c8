"""The regularised optimal-transport kernel behind ``method="ot"``.

Covers: marginals at n = 256 for every mode, the dual-Hessian solver,
implicit differentiation in forward, reverse and second order (float32
included), the convergence report, ``ot_kwargs`` validation, and NaN /
degenerate inputs.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from softjax._src.kernels import compensated, dual_hessian, sinkhorn
from softjax._src.kernels.transport import (
    OTConvergenceWarning,
    OTOptions,
    OTPrecisionWarning,
    resolve_ot_options,
    transport_plan,
)

MODES = ("smooth", "c0", "c1", "c2")
TIGHT = {"sinkhorn_tol": 1e-11, "lbfgs_tol": 1e-11}
NEWTON = {"use_entropic_ot_sinkhorn_on_entropic": False}


def squash(x):
    mu = x.mean(-1, keepdims=True)
    return jax.nn.sigmoid((x - mu) / jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-6))


def sort_problem(n, dtype=jnp.float64, seed=0, batch=()):
    x = jax.random.normal(jax.random.key(seed), (*batch, n)).astype(dtype)
    t = jnp.linspace(0, n, n, dtype=dtype) / n
    cost = (squash(x)[..., :, None] - t) ** 2
    marg = jnp.full((n,), 1 / n, dtype)
    return cost, marg, marg


# --------------------------------------------------------------------------- forward


@pytest.mark.parametrize("mode", MODES)
def test_marginals_hold_at_n256(mode):
    # The solver stops on the marginal violation itself, so rows sum to 1 at large n.
    cost, mu, nu = sort_problem(256)
    plan, info = transport_plan(cost, mu, nu, 0.1, mode, return_info=True)
    assert bool(info.converged)
    assert float(jnp.max(jnp.abs(plan.sum(-1) - 1))) <= 1e-4
    assert float(jnp.max(jnp.abs(plan.sum(-2) - 1))) <= 1e-4
    assert float(jnp.min(plan)) >= 0
    if mode == "c0":  # sparse: most entries are exact zeros
        assert float(jnp.mean(plan == 0)) > 0.9


@pytest.mark.parametrize("mode", ("c0", "c1", "c2"))
def test_float32_marginals_meet_the_tolerance(mode):
    # Single-word float32 potentials stalled at the round-off of f + g - C
    # (c0, n = 256: violation 1.4e-4, n = 1024: 8e-4); double words reach
    # the tolerance (1e-5 of a row's mass) as float64 does.
    cost, mu, nu = sort_problem(256, jnp.float32, seed=1, batch=(4,))
    with warnings.catch_warnings():
        warnings.simplefilter("error", OTConvergenceWarning)
        _, info = transport_plan(cost, mu, nu, 0.1, mode, return_info=True)
    assert bool(jnp.all(info.converged))
    assert float(jnp.max(info.violation)) <= 1.2e-5


@jax.jit
def _dual_gaps(f, f_lo, g, g_lo, cost):
    return compensated.dual_gap(f, g, cost, f_lo, g_lo), compensated.dual_gap(f, g, cost)


def test_compensated_dual_gap_is_exact_to_the_gap():
    # z = f + g - C of order 1e-5 from order-one float32 potentials: the
    # double-word form is accurate to ~eps |z| (also under jit, where XLA
    # must not reassociate TwoSum), the plain sum only to ~eps.
    rng = np.random.default_rng(0)
    f64, g64 = rng.uniform(-1, 1, 64), rng.uniform(-1, 1, 48)
    z64 = rng.uniform(-1e-5, 1e-5, (64, 48))
    cost = (f64[:, None] + g64[None, :] - z64).astype(np.float32)
    exact = f64[:, None] + g64[None, :] - cost.astype(np.float64)
    split = lambda a: (a.astype(np.float32), (a - a.astype(np.float32)).astype(np.float32))
    (f, f_lo), (g, g_lo) = split(f64), split(g64)
    z_comp, z_plain = _dual_gaps(f, f_lo, g, g_lo, cost)
    eps = float(np.finfo(np.float32).eps)
    err_comp = np.abs(np.asarray(z_comp, np.float64) - exact)
    assert np.all(err_comp <= 2 * eps * np.abs(exact) + 1e-12)
    assert np.max(np.abs(np.asarray(z_plain, np.float64) - exact)) > 1e-3 * np.max(np.abs(exact))
    s, e = compensated.two_sum(f[:, None], g[None, :])  # error-free: s + e == f + g exactly
    np.testing.assert_array_equal(
        np.asarray(s, np.float64) + np.asarray(e, np.float64), f[:, None].astype(np.float64) + g
    )
    hi, lo = compensated.add(f, f_lo, np.float32(0.3))
    np.testing.assert_allclose(np.asarray(hi, np.float64) + lo, f64 + np.float32(0.3), rtol=0, atol=1e-13)
    assert np.all(np.abs(lo) <= np.spacing(np.abs(hi)) / 2)


def test_entropic_solvers_agree_and_log_path():
    # Sinkhorn and the Newton dual (use_entropic_ot_sinkhorn_on_entropic=False)
    # solve the same problem; the log path is the log of the plan.
    cost, mu, nu = sort_problem(5, seed=3)
    a = transport_plan(cost, mu, nu, 0.3, "smooth", options=TIGHT)
    b = transport_plan(cost, mu, nu, 0.3, "smooth", options={**TIGHT, **NEWTON})
    np.testing.assert_allclose(a, b, atol=1e-9)
    logp = transport_plan(cost, mu, nu, 0.3, "smooth", options=TIGHT, log=True)
    np.testing.assert_allclose(jnp.exp(logp), a, atol=1e-12)


def _log_domain_sinkhorn(cost, mu, nu, s, iterations):
    """The Gauss-Seidel log-domain iterations with the solver's epsilon schedule."""
    eps0 = max(s, 0.25 * float(cost.max() - cost.min()))

    def eps(k):
        return max(s, eps0 * 0.8**k)

    def update_f(g, e):
        return e * np.log(mu) - e * np.asarray(jax.nn.logsumexp((g[None, :] - cost) / e, axis=1))

    def update_g(f, e):
        return e * np.log(nu) - e * np.asarray(jax.nn.logsumexp((f[:, None] - cost) / e, axis=0))

    g = update_g(np.zeros(cost.shape[0]), eps(0))
    for k in range(iterations):
        f = update_f(g, eps(k))
        g = update_g(f, eps(k + 1))
    return update_f(g, s), g


@pytest.mark.parametrize("softness", [0.3, 0.02])
def test_sinkhorn_scaling_blocks_equal_the_log_domain_iterations(softness):
    # Once the schedule reaches s, blocks run as matrix-vector products on the
    # kernel of their starting potentials: in exact arithmetic the same
    # iterations, so float64 agrees with the log-domain recipe to rounding.
    cost, mu, nu = (np.asarray(a) for a in sort_problem(7, seed=5))
    res = sinkhorn.sinkhorn_potentials(cost, mu, nu, softness, tol=1e-11, max_iter=400)
    f, g = _log_domain_sinkhorn(cost, mu, nu, softness, int(res.iterations))
    assert 10 <= int(res.iterations) < 400 and float(res.ratio) <= 1
    np.testing.assert_allclose(res.f, f, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.g, g, rtol=0, atol=1e-12)


def test_sparse_log_path_has_neg_inf_and_finite_gradients():
    cost, mu, nu = sort_problem(5, seed=3)
    logp = transport_plan(cost, mu, nu, 0.3, "c1", options=TIGHT, log=True)
    plan = transport_plan(cost, mu, nu, 0.3, "c1", options=TIGHT)
    assert bool(jnp.any(jnp.isneginf(logp)))
    np.testing.assert_allclose(jnp.exp(logp), plan, atol=1e-12)
    w = jax.random.normal(jax.random.key(1), cost.shape)
    finite = jnp.isfinite(logp)
    grad = jax.grad(
        lambda c: jnp.sum(
            jnp.where(finite, transport_plan(c, mu, nu, 0.3, "c1", options=TIGHT, log=True), 0) * w
        )
    )(cost)
    assert bool(jnp.all(jnp.isfinite(grad)))


def test_small_softness():
    # eps-scaling (Sinkhorn) and softness continuation (Newton)
    # keep softness 1e-3 cheap; the plans approach the hard permutation.
    cost, mu, nu = sort_problem(32, seed=2)
    perm = jax.nn.one_hot(jnp.argsort(jnp.argsort(cost[:, 0])), 32)  # rank of x-hat
    for mode in ("smooth", "c0"):
        plan, info = transport_plan(cost, mu, nu, 1e-3, mode, return_info=True)
        # (10 000 iterations is the cap; without eps-scaling Sinkhorn needs far more)
        assert bool(info.converged) and int(info.iterations) < 2500
        assert float(jnp.max(jnp.abs(plan.sum(-2) - 1))) <= 1e-4
        if mode == "smooth":  # entropic blur spreads mass over close neighbours
            target = jnp.argmax(perm, -1)[:, None]
            band = jnp.abs(jnp.arange(32) - target) <= 3
            assert float(jnp.mean(jnp.sum(plan * perm, -1))) > 0.4
            assert float(jnp.min(jnp.sum(plan * band, -1))) > 0.9
        else:
            # sparse: exact except between near-tied neighbours
            np.testing.assert_allclose(plan, perm, atol=0.05)
            assert float(jnp.mean(jnp.abs(plan - perm) < 1e-6)) > 0.99


def test_zero_mass_targets_batching_and_degenerate_inputs():
    # Zero target masses are floored at 1e-12 so they stay solvable; batches of costs
    # and a per-problem softness; ties, huge costs in float32, NaN.
    t = jnp.array([0.0, 0.5, 1.0])
    cost = (squash(jax.random.normal(jax.random.key(5), (2, 3, 6)))[..., None] - t) ** 2
    mu, nu = jnp.full(6, 1 / 6), jnp.array([0.0, 1 / 6, 5 / 6])
    s = jnp.array([[0.1], [0.3]])
    # Operators produce costs in [0, 1] (standardized, squashed inputs): a
    # float32 near-hard problem at that scale. (Float32 Sinkhorn loses
    # accuracy once cost / softness >> 1e5, see the precision-limit test.)
    big = jnp.array([[0.0, 1.0], [1.0, 0.0]], jnp.float32)
    for mode in MODES:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OTConvergenceWarning)
            plan = transport_plan(cost, mu, nu, s, mode)
            assert plan.shape == (2, 3, 6, 3)
            np.testing.assert_allclose(plan.sum(-2), jnp.broadcast_to(6 * nu, (2, 3, 3)), atol=1e-4)
            tied = transport_plan(jnp.full((1, 6, 3), 0.25), mu, nu, 0.1, mode)
            # equal costs: every row spreads its unit mass like the targets
            np.testing.assert_allclose(tied, jnp.broadcast_to(nu, (1, 6, 3)), atol=1e-5)
            hard = transport_plan(big, jnp.ones(2) / 2, jnp.ones(2) / 2, 0.01, mode)
            np.testing.assert_allclose(hard, jnp.eye(2), atol=1e-5)
        nan = transport_plan(cost.at[0, 0, 0, 0].set(jnp.nan), mu, nu, s, mode)
        assert bool(jnp.all(jnp.isnan(nan[0, 0]))) and bool(jnp.all(jnp.isfinite(nan[1])))
    with pytest.raises(ValueError, match="broadcastable"):
        transport_plan(cost, mu, nu, jnp.ones(4), "smooth")


# --------------------------------------------------------------------- linear algebra


@pytest.mark.parametrize("delta", [0.0, 0.3])
def test_dual_hessian_solve(delta):
    key = jax.random.split(jax.random.key(7), 3)
    w = jax.random.uniform(key[0], (9, 6)) * (jax.random.uniform(key[1], (9, 6)) > 0.4)
    w = w.at[:, 0].add(0.1)  # connected
    h = jnp.block([[jnp.diag(w.sum(1)), w], [w.T, jnp.diag(w.sum(0))]]) + delta * jnp.eye(15)
    b = jax.random.normal(key[2], (15,))
    if delta == 0:
        v = jnp.concatenate([jnp.ones(9), -jnp.ones(6)]) / jnp.sqrt(15.0)
        b = b - v * (v @ b)
    xr, xc, _info = dual_hessian.solve(w, b[:9], b[9:], delta=delta, rtol=1e-12, maxiter=100)
    x = jnp.concatenate([xr, xc])
    np.testing.assert_allclose(h @ x, b, atol=1e-9)
    if delta == 0:
        assert abs(float(xr.sum() - xc.sum())) < 1e-9  # gauge: orthogonal to (1, -1)
    # the transposed layout (m > n) is solved over the smaller side
    xc2, xr2, _ = dual_hessian.solve(w.T, b[9:], b[:9], delta=delta, rtol=1e-12, maxiter=100)
    np.testing.assert_allclose(jnp.concatenate([xr2, xc2]), x, atol=1e-9)


def test_dual_hessian_solve_split_support_float32():
    # Support graph in three components: columns 0 and 1 each reached by one
    # single-entry row only (zero rows of the Schur complement), columns 2 and
    # 3 coupled through one small weight. Right-hand sides consistent only up
    # to a 1e-6 perturbation on the isolated columns: that part must be
    # dropped (CG used to chase it along null directions and return its last,
    # diverging iterate), the coupled pair solved.
    w = np.zeros((6, 4), np.float32)
    w[[0, 1, 2, 3, 4, 5], [3, 3, 2, 3, 1, 0]] = 1.8171232
    w[1, 2] = 1.1692703e-03
    coupling = w[1, 2] * w[1, 3] / (w[1, 2] + w[1, 3])  # S = a [[1, -1], [-1, 1]] on 2, 3

    def solve(noise):
        return dual_hessian.solve(
            jnp.asarray(w),
            jnp.zeros(6, jnp.float32),
            jnp.asarray(noise, jnp.float32),
            delta=0.0,
            rtol=1e-7,
            maxiter=58,
        )

    xr, xc, info = solve([1e-6, -1e-6, 0, 0])
    assert float(jnp.max(jnp.abs(xc))) == 0 and float(jnp.max(jnp.abs(xr))) == 0
    for noise, pair in (([0, 0, 1e-6, -1e-6], 1e-6), ([1e-6, 0, 0, -1e-6], 0.5e-6)):
        _, xc, info = solve(noise)
        assert float(info.residual) < 1e-6
        assert float(xc[0]) == float(xc[1])  # untouched up to the final gauge shift
        np.testing.assert_allclose(xc[2] - xc[3], pair / coupling, rtol=1e-3)  # a (x2 - x3) = r2


# ------------------------------------------------------------------- differentiation
# One input shape (8, 5), softness 0.3 and TIGHT options throughout, so the
# compiled solvers are shared between tests.

X = jax.random.normal(jax.random.key(11), (8, 5))


def _sorted_values(mode, opts=TIGHT, s=0.3):
    def f(x):
        n = x.shape[-1]
        t = jnp.linspace(0, n, n, dtype=x.dtype) / n
        plan = transport_plan(
            (squash(x)[..., :, None] - t) ** 2, jnp.ones(n) / n, jnp.ones(n) / n, s, mode, options=opts
        )
        return jnp.einsum("...ij,...i->...j", plan, x)

    return f


# Default tier: one mode per solver (Sinkhorn, dual Newton); c0/c2 gradients
# are also finite-difference checked through the operators
# (test_axiswise_transforms: argsort with ot in c0, top_k with ot in c2).
@pytest.mark.parametrize(
    "mode", [pytest.param(m, marks=[] if m in ("smooth", "c1") else [pytest.mark.slow]) for m in MODES]
)
def test_check_grads_and_float32(mode):
    # Implicit differentiation in forward and reverse mode (float64), then
    # float32 gradients are finite and match float64.
    f = _sorted_values(mode)
    check_grads(f, (X,), order=1, modes=("fwd", "rev"), eps=1e-6, atol=1e-5, rtol=1e-5)
    w = jnp.arange(5.0) - 2

    def loss(x):
        return jnp.sum(f(x) * w)

    g64 = jax.grad(loss)(X)
    g32 = jax.grad(loss)(X.astype(jnp.float32))
    assert g32.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g32)))
    assert float(jnp.linalg.norm(g32 - g64) / jnp.linalg.norm(g64)) < 1e-2


@pytest.mark.slow
def test_check_grads_second_order():
    # Forward-over-forward on the Newton path (p-norm, nested CG); the
    # operator-level tests take reverse-then-forward Hessian-vector products
    # through Sinkhorn and Newton alike.
    f = _sorted_values("c2")
    check_grads(
        lambda x: f(x) @ jnp.arange(5.0), (X[:2],), order=2, modes=("fwd",), eps=1e-4, atol=1e-4, rtol=1e-4
    )


def test_jacfwd_equals_jacrev_and_jit():
    for mode in ("smooth", "c0"):
        f = _sorted_values(mode)
        jf = jax.vmap(jax.jacfwd(f))(X)
        jr = jax.jit(jax.vmap(jax.jacrev(f)))(X)
        np.testing.assert_allclose(jf, jr, atol=1e-8)
        # sort values are shift-equivariant: each row of the Jacobian sums to 1
        np.testing.assert_allclose(jnp.sum(jf, -1), jnp.ones((8, 5)), atol=1e-6)


@pytest.mark.parametrize("mode", ["smooth", "c1"])
def test_grad_wrt_softness_and_marginals(mode):
    cost, mu, nu = sort_problem(5, seed=8)
    w = jax.random.normal(jax.random.key(9), cost.shape)

    def f(s, nu):
        return jnp.sum(transport_plan(cost, mu, nu, s, mode, options=TIGHT) * w)

    check_grads(
        f,
        (jnp.asarray(0.3), nu + 0.05 * jnp.arange(5.0)),
        order=1,
        modes=("fwd", "rev"),
        eps=1e-6,
        atol=1e-5,
        rtol=1e-5,
    )


def test_unrolled_differentiation():
    # implicit_diff=False differentiates the solver's iterations: forward mode
    # agrees with the implicit rule, reverse mode fails loudly (documented).
    t = jnp.ones_like(X) * jnp.arange(5.0)
    unrolled = _sorted_values("c1", {**TIGHT, "implicit_diff": False})
    np.testing.assert_allclose(
        jax.jvp(unrolled, (X,), (t,))[1], jax.jvp(_sorted_values("c1"), (X,), (t,))[1], atol=1e-6
    )
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        jax.grad(lambda x: unrolled(x).sum())(X)


# ----------------------------------------------------------- convergence and options


@pytest.mark.parametrize(
    "mode,opts",
    [
        ("smooth", {"sinkhorn_max_iter": 10}),
        ("c0", {"lbfgs_max_iter": 2}),
        ("smooth", {"use_entropic_ot_sinkhorn_on_entropic": False, "lbfgs_max_iter": 1}),
    ],
)
def test_non_convergence_is_reported(mode, opts):
    # The same policy (a warning, also under jit, plus a flag) for every solver.
    cost, mu, nu = sort_problem(16, seed=13)
    with pytest.warns(OTConvergenceWarning, match="did not converge"):
        plan, info = transport_plan(cost, mu, nu, 1e-3, mode, options=opts, return_info=True)
    assert not bool(info.converged)
    if "sinkhorn_max_iter" in opts:  # a final sweep keeps Sinkhorn's rows exact
        np.testing.assert_allclose(plan.sum(-1), 1, atol=1e-6)
    jitted = jax.jit(lambda c: transport_plan(c, mu, nu, 1e-3, mode, options=opts))
    with pytest.warns(OTConvergenceWarning):
        jitted(cost).block_until_ready()
    with warnings.catch_warnings():  # converged problems stay silent
        warnings.simplefilter("error", OTConvergenceWarning)
        transport_plan(
            cost, mu, nu, 0.1, mode, options=opts | {"sinkhorn_max_iter": 10000, "lbfgs_max_iter": 10000}
        )


def test_float32_tangent_with_split_support():
    # Unstandardised top-k scores far below the anchors: a nearly hard c2 plan
    # whose support graph splits into three components (two isolated anchors).
    # The implicit system is then singular beyond the gauge and its float32
    # right-hand side consistent only up to round-off. Found through
    # sj.random.choice(..., method="ot", mode="c2") on a sharded batch (plan
    # tangents of 4e4 where float64 gives 1e-14); whether the old solver
    # diverged here depends on XLA's rounding (with this suite's flags it did
    # not), so the deterministic regression test is
    # test_dual_hessian_solve_split_support_float32; this one checks the
    # float32 and float64 tangents of the whole plan agree on that case.
    z = np.array([-3.4193254, -3.0013003, -1.9354874, -3.9950001, -0.6138374, 0.2837739])
    t = np.array([1, 2 / 3, 1 / 3, 0.0])
    tangent = {}
    for dtype in (np.float32, np.float64):

        def plan(x, dtype=dtype):
            return transport_plan(
                (x[:, None] - t.astype(dtype)) ** 2,
                np.ones(6, dtype) / 6,
                np.array([1, 1, 1, 3], dtype) / 6,
                0.5,
                "c2",
            )

        e0 = np.eye(6, dtype=dtype)[0]
        tangent[dtype] = np.asarray(jax.jvp(plan, (z.astype(dtype),), (e0,))[1])
    assert np.abs(tangent[np.float64]).max() < 1e-10
    assert np.abs(tangent[np.float32]).max() < 1e-4


def test_non_convergence_report_is_one_callback_under_vmap():
    # JAX unrolls a debug callback under vmap (one call per mapped element,
    # each slicing its problem out: on a sharded batch, data moved across
    # devices); the report folds mapped axes into one call over all problems.
    cost, mu, nu = sort_problem(6, seed=5)
    costs = jnp.stack([cost, cost[::-1]] * 3).reshape(3, 2, *cost.shape)
    solve = lambda c: transport_plan(c, mu, nu, 1e-3, "c0", options={"lbfgs_max_iter": 1})
    mapped = jax.jit(jax.grad(lambda c: jnp.sum(jnp.sin(jax.vmap(jax.vmap(solve))(c)))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mapped(costs).block_until_ready()
        jax.effects_barrier()
    messages = [str(w.message) for w in caught if issubclass(w.category, OTConvergenceWarning)]
    assert len(messages) == 1 and "6 of 6 problem(s)" in messages[0], messages


def test_float32_precision_limit_is_reported():
    # Sinkhorn in float32 cannot resolve a plan once cost / softness ~ 1/eps
    # (its potentials are single words): it stops at the round-off level and
    # says so (a subclass of the convergence warning) instead of returning
    # coarse marginals silently.
    cost, mu, nu = sort_problem(8, jnp.float32, seed=3)
    with pytest.warns(OTPrecisionWarning, match="cannot resolve"):
        plan, info = transport_plan(1e7 * cost, mu, nu, 1.0, "smooth", return_info=True)
    assert bool(info.converged) and float(info.violation) > 1e-2
    assert bool(jnp.all(jnp.isfinite(plan)))
    with warnings.catch_warnings():  # the same problem at an ordinary scale is silent
        warnings.simplefilter("error", OTConvergenceWarning)
        _, info = transport_plan(cost, mu, nu, 1e-2, "smooth", return_info=True)
    assert float(info.violation) < 1e-3


@pytest.mark.parametrize("mode", ("c0", "c2"))
def test_float32_newton_resolves_extreme_cost_to_softness_ratio(mode):
    # The Newton solver keeps float32 potentials as double words, so f + g - C
    # is exact to about eps |z| and the marginals meet the tolerance where
    # single-word potentials (and Sinkhorn, above) stop at 1e-2 .. 1e-1.
    cost, mu, nu = sort_problem(8, jnp.float32, seed=3)
    for scale, softness in ((1e7, 1.0), (1e5, 1e-3)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", OTConvergenceWarning)
            plan, info = transport_plan(scale * cost, mu, nu, softness, mode, return_info=True)
        assert bool(info.converged) and float(info.violation) <= 1e-5
        np.testing.assert_allclose(jnp.sum(plan, axis=0), 8 * nu, atol=1e-4)


def test_cost_producer_fused_under_jit_is_rounded_like_the_solvers():
    # Under an enclosing jit XLA fused (x - t)^2 into the final f + g - C and
    # LLVM contracted it into a fused multiply-add: the plan saw unrounded
    # costs, the solver rounded ones; at softness 1e-6 (z ~ 3e-8) the float32
    # c0 log-plan columns summed to 1 +- 0.03 although the solver converged.
    n = 33
    x = jnp.asarray(np.random.default_rng(n).normal(size=n), jnp.float32)
    t = jnp.linspace(0, n, n, dtype=jnp.float32) / n

    def log_plan(x):
        return transport_plan(
            (squash(x)[:, None] - t) ** 2, jnp.ones(n) / n, jnp.ones(n) / n, 1e-6, "c0", log=True
        )

    plan = jnp.exp(jax.jit(log_plan)(x))
    np.testing.assert_allclose(plan.sum(0), 1, atol=1e-4)
    np.testing.assert_allclose(plan.sum(1), 1, atol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_float32_gradients_with_huge_cotangents(mode):
    # Sorting 1e30-scale values sends cotangents of ~1e30 into the plan. They
    # overflowed inside the backward pass: CG's squared norms (beyond 1.8e19
    # in float32) and, for c1/c2, the cotangent divided by s^(q-1) before
    # being multiplied by [z]_+^(q-2) (inf * 0 = NaN off the support). The
    # gradient is linear in the cotangent: scaling it by 2^100 scales the
    # gradient by 2^100.
    cost, mu, nu = sort_problem(5, jnp.float32, seed=4)
    tied = (0.5 - jnp.linspace(0, 5, 5, dtype=jnp.float32) / 5) ** 2  # a dense plan: CG works
    cost = jnp.stack([cost, jnp.broadcast_to(tied, (5, 5))])
    w = jax.random.normal(jax.random.key(4), cost.shape, jnp.float32)

    def grad(w):
        return jax.grad(lambda c: jnp.sum(w * transport_plan(c, mu, nu, 1e-5, mode)))(cost)

    with warnings.catch_warnings():  # (float32 Sinkhorn stops at round-off at s = 1e-5)
        warnings.simplefilter("ignore", OTConvergenceWarning)
        g = jax.jit(jax.vmap(grad))(jnp.stack([w, w * 2.0**100]))
    assert bool(jnp.all(jnp.isfinite(g)))
    np.testing.assert_allclose(g[1], g[0] * 2.0**100, rtol=1e-5, atol=0)


# ------------------------------------------------------------------ half precision


def _half_precision_rows(n=33):
    # Random, tied, constant and 1e30-scale rows, each at three softnesses.
    r = np.random.default_rng(0)
    rows = np.stack(
        [
            r.normal(size=n),
            np.round(r.normal(size=n)),
            np.full(n, 0.7),
            r.uniform(-1, 1, n) * 1e30,
            np.where(np.arange(n) == 0, 1e30, 1.0),
        ]
    )
    softness = np.array([1e-3, 0.1, 10.0])
    x = jnp.asarray(np.repeat(rows, len(softness), 0), jnp.bfloat16)
    return x, jnp.asarray(np.tile(softness, len(rows)), jnp.float32)


@pytest.mark.parametrize("mode", MODES)
def test_bfloat16_soft_indices_stay_on_the_simplex(mode):
    # Solved in bfloat16 (8 significant bits) the plans' columns, i.e. the
    # SoftIndex rows of argmax / argsort, summed to 1 +- 0.02-0.07 (with an
    # OTPrecisionWarning). Half-precision problems are now solved in float32,
    # the rows renormalised there and cast once: on the simplex to one
    # bfloat16 rounding, dtype kept, gradients finite.
    import softjax as sj

    x, s = _half_precision_rows()
    keys = jax.random.split(jax.random.key(3))
    w_max = jax.random.normal(keys[0], x.shape, jnp.float32)
    w_sort = jax.random.normal(keys[1], x.shape + x.shape[-1:], jnp.float32)

    def rows(x, s):
        kw = dict(softness=s, mode=mode, method="ot")
        return sj.argmax(x, **kw), sj.argsort(x, **kw)

    def loss(x):
        p_max, p_sort = jax.vmap(rows)(x, s)
        value = jnp.sum(w_max * p_max.astype(jnp.float32)) + jnp.sum(w_sort * p_sort.astype(jnp.float32))
        return value, (p_max, p_sort)

    with warnings.catch_warnings():  # (float32 Sinkhorn may stop short at softness 1e-3)
        warnings.simplefilter("ignore", OTConvergenceWarning)
        grad, (p_max, p_sort) = jax.jit(jax.grad(loss, has_aux=True))(x)
        jax.effects_barrier()
    assert p_max.dtype == p_sort.dtype == grad.dtype == jnp.bfloat16
    assert bool(jnp.all(jnp.isfinite(grad)))
    for plan in (p_max, p_sort):
        p = np.asarray(plan.astype(jnp.float32))
        assert p.min() >= 0
        assert np.max(np.abs(p.sum(-1) - 1)) <= 2.0**-7  # one bfloat16 rounding: <= 2**-8


def test_resolve_ot_options():
    assert resolve_ot_options(None) == OTOptions()
    opts = resolve_ot_options({"sinkhorn_tol": 1e-7, "lbfgs_max_iter": 50, "implicit_diff": False})
    assert opts.sinkhorn_tol == 1e-7 and opts.lbfgs_max_iter == 50 and not opts.implicit_diff
    with pytest.raises(ValueError, match="Unknown ot_kwargs key"):
        resolve_ot_options({"threshold": 1e-3})
    with pytest.raises(ValueError, match="return_log_probs"):
        resolve_ot_options({"return_log_probs": True})
    with pytest.raises(TypeError, match="dict"):
        resolve_ot_options([("sinkhorn_tol", 1e-3)])
    with pytest.raises(TypeError, match="bool"):
        resolve_ot_options({"implicit_diff": 1})
    with pytest.raises(TypeError, match="int"):
        resolve_ot_options({"sinkhorn_max_iter": 10.5})
    with pytest.raises(ValueError, match="positive"):
        resolve_ot_options({"lbfgs_tol": 0.0})
    with pytest.raises(ValueError, match=">= 1"):
        resolve_ot_options({"lbfgs_max_iter": 0})
    with pytest.raises(ValueError, match="Invalid mode"):
        transport_plan(jnp.zeros((2, 2)), jnp.ones(2) / 2, jnp.ones(2) / 2, 0.1, "hard")
    with pytest.raises(ValueError, match="softness"):
        transport_plan(jnp.zeros((2, 2)), jnp.ones(2) / 2, jnp.ones(2) / 2, -1.0, "c0")
