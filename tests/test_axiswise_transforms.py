"""Every axis-wise code path x method x soft mode under jit, vmap, grad, jvp and
hessian; finite-difference gradients in float64; finite values and gradients
in float32 on awkward inputs (ties, constants, 1e6, n = 1, 2).

Compile time dominates (each operator x method x mode x transform is one XLA
compilation). The default run rotates each method's operators through the
four modes, so every operator, every method and every mode is checked by
every test here (the finite-difference test of the iterative ``ot`` and
``smooth_sort`` solvers runs a subset, see ``GRADIENT_DEFAULT``);
``--run-slow`` adds the rest of the cross product. The thin
wrappers (argmin, min, median, percentile, ...) are covered by the hard-mode
and reference tests instead of being re-differentiated here.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from axiswise_cases import ALL_METHODS, CORE_OPS, INDEX_OPS, MODES, combos, method_available
from softjax._src.methods import registry

AVAILABLE = tuple(m for m in ALL_METHODS if method_available(m))
# The mode each operator runs in by default; operators sharing a code path
# (argsort/sort/rank, argquantile/quantile, ...) share a mode so that
# method="ot" compiles one solver per anchor layout.
ROTATION = {
    "argmax": "smooth",
    "max": "smooth",
    "argsort_desc": "c0",
    "sort": "c0",
    "rank": "c0",
    "argquantile": "c1",
    "quantile": "c1",
    "top_k_index": "c2",
    "top_k_values": "c2",
}
assert set(ROTATION) == set(CORE_OPS) and set(ROTATION.values()) == set(MODES)
X64 = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3, -1.1], dtype=jnp.float64)
# Softness per method chosen so the relaxation is visibly soft at n = 6.
SOFTNESS = {"fast_soft_sort": 1.0, "smooth_sort": 0.5}
# Finite differences of an iterative solver are only meaningful if it is
# converged far below the step eps = 1e-6 (the default tolerance is 1e-5).
TIGHT_OT = {"ot_kwargs": {"sinkhorn_tol": 1e-12, "lbfgs_tol": 1e-12}}


# The iterative solvers compile slowly (seconds per transform), and their
# operators differ only in what they read off one solved problem. Default tier
# for the finite-difference test: ``ot`` one operator per mode (argmax, argsort,
# argquantile, top_k: every anchor layout and both solvers), ``smooth_sort``
# sort and rank (the other values are read off the same soft sort); the jit,
# vmap and float32 tests below still run every operator of both methods.
GRADIENT_DEFAULT = {
    "ot": {("argmax", "smooth"), ("argsort_desc", "c0"), ("argquantile", "c1"), ("top_k_index", "c2")},
    "smooth_sort": {("sort", "smooth"), ("rank", "smooth")},
}


def _default_tier(name, method, mode):
    return ROTATION[name] == mode or len(registry.METHODS[method].modes) == 1  # one mode: all of it


def _gradient_default_tier(name, method, mode):
    if method in GRADIENT_DEFAULT:
        return (name, mode) in GRADIENT_DEFAULT[method]
    return _default_tier(name, method, mode)


CASES = [
    pytest.param(*c, marks=[] if _gradient_default_tier(*c) else [pytest.mark.slow])
    for c in combos(CORE_OPS, methods=AVAILABLE)
]


def _op(name, method, mode, tight=False, **extra):
    fn = CORE_OPS[name][0]
    if tight and method == "ot":
        extra = {**TIGHT_OT, **extra}
    return lambda x: fn(x, method=method, mode=mode, softness=SOFTNESS.get(method, 0.3), **extra)


def _scalar(op):
    def f(x):
        y = op(x)
        return jnp.sum(y * jnp.cos(jnp.arange(y.size, dtype=y.dtype)).reshape(y.shape))

    return f


@pytest.mark.parametrize("name,method,mode", CASES)
def test_gradients_float64(name, method, mode):
    # Jitted: eager calls would re-trace and recompile every lax loop inside.
    f = jax.jit(_scalar(_op(name, method, mode, tight=True)))
    check_grads(f, (X64,), order=1, modes=("fwd", "rev"), atol=1e-4, rtol=1e-4, eps=1e-6)
    # Second order, forward-over-reverse (what jax.hessian does), along one
    # direction: cheap to compile and exercises the same rules.
    _, hvp = jax.jit(lambda x, t: jax.jvp(jax.grad(f), (x,), (t,)))(X64, jnp.cos(X64))
    assert np.all(np.isfinite(hvp))


def _group(method, tier):
    """(name, mode) labels and callables of one method's operators in a tier."""
    cases = combos(CORE_OPS, (method,))
    keep = [(n, mode) for n, _, mode in cases if _default_tier(n, method, mode) == (tier == "default")]
    return keep


# One compiled function per method (default tier) or per method and tier.
GROUPS = [
    pytest.param(method, tier, marks=[pytest.mark.slow] if tier == "slow" else [])
    for method in AVAILABLE
    for tier in ("default", "slow")
    if _group(method, tier)
]


@pytest.mark.parametrize("method,tier", GROUPS)
def test_jit_and_vmap(method, tier):
    # Batched along axis -1, vmapped over rows, and a single row must agree.
    labels = _group(method, tier)
    ops = [_op(n, method, mode, tight=True, axis=-1) for n, mode in labels]
    run = lambda x: [op(x) for op in ops]
    batch = jnp.stack([X64, X64[::-1] * 2.0, jnp.full(6, 0.5)])
    batched = jax.jit(run)(batch)
    vmapped = jax.jit(jax.vmap(run))(batch)
    single = jax.jit(run)(batch[0])
    for label, b, v, one in zip(labels, batched, vmapped, single, strict=True):
        np.testing.assert_allclose(v, b, rtol=1e-9, atol=1e-12, err_msg=str(label))
        np.testing.assert_allclose(one, b[0], rtol=1e-9, atol=1e-12, err_msg=str(label))


@pytest.mark.parametrize("method", AVAILABLE)
def test_eager_calls_reuse_compiled_code(method):
    # Op-by-op (un-jitted) calls must hit JAX's caches from the second call on.
    # Un-jitted kernels whose loops close over fresh step functions re-traced
    # and re-compiled on every call (sorting_network, fast_soft_sort: 0.1-0.5 s
    # per eager call at n = 9).
    compiles = []

    def listener(event, duration, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    labels = [(n, mode) for n, mode in _group(method, "default") if n in ("sort", "rank", "argmax")]
    ops = [_op(n, method, mode) for n, mode in labels]
    for op in ops:
        jax.block_until_ready(op(X64))
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for label, op in zip(labels, ops, strict=True):
            jax.block_until_ready(op(X64))
            assert not compiles, (label, len(compiles))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


@pytest.mark.parametrize("method,tier", GROUPS)
def test_float32_finite(method, tier):
    rng = np.random.default_rng(1)
    rows = jnp.asarray(
        [
            rng.normal(size=5),
            [1.0, 1.0, 2.0, 2.0, 3.0],  # ties
            [3.0, 3.0, 3.0, 3.0, 3.0],  # constant
            1e6 * rng.normal(size=5),  # large magnitude
        ],
        dtype=jnp.float32,
    )
    labels = _group(method, tier)
    ops = [_op(n, method, mode) for n, mode in labels]

    def with_output(op):  # scalarisation, with the output itself as aux (traced once)
        def f(x):
            y = op(x)
            return _scalar(lambda _: y)(x), y

        return f

    def values_and_grads(x):  # per row: every output and the gradient of its scalarisation
        pairs = [jax.value_and_grad(with_output(op), has_aux=True)(x) for op in ops]
        return [y for (_, y), _ in pairs], [g for _, g in pairs], [v for (v, _), _ in pairs]

    check = jax.jit(jax.vmap(values_and_grads))
    for batch in (rows, rows[:, :1], rows[:, :2]):  # n = 5, 1, 2
        outs, grads, values = check(batch)
        for (name, mode), out, grad, value in zip(labels, outs, grads, values, strict=True):
            label = (name, mode, batch.shape)
            assert out.dtype == grad.dtype == value.dtype == jnp.float32, label
            assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad)), label
            if name in INDEX_OPS:
                assert np.all(out >= 0), label
                np.testing.assert_allclose(jnp.sum(out, -1), 1.0, rtol=1e-5, err_msg=str(label))


def test_second_order_check_grads_and_hessian():
    # Full second-order finite-difference checks and hessians on the default paths.
    for name in ("sort", "rank", "argsort_desc"):
        f = jax.jit(_scalar(_op(name, "neuralsort", "smooth")))
        check_grads(f, (X64,), order=2, modes=("fwd", "rev"), atol=1e-4, rtol=1e-4, eps=1e-5)
        hess = jax.jit(jax.hessian(f))(X64)
        np.testing.assert_allclose(hess, hess.T, rtol=1e-8, atol=1e-10)
