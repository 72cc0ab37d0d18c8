"""Every axis-wise code path x method x soft mode under jit, vmap, grad, jvp and
hessian; finite-difference gradients in float64; finite values and gradients
in float32 on awkward inputs (ties, constants, 1e6, n = 1, 2).

Compile time dominates: the per-operator checks run eagerly on tiny inputs,
where JAX caches each compiled primitive across tests, and the thin wrappers
(argmin, min, median, percentile, ...) are covered by the hard-mode and
reference tests instead of being re-differentiated here.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from axiswise_cases import ALL_METHODS, CORE_OPS, INDEX_OPS, MODES, combos, method_available, supports

AVAILABLE = tuple(m for m in ALL_METHODS if method_available(m))
CASES = combos(CORE_OPS, methods=AVAILABLE)
PAIRS = [(m, mode) for m in AVAILABLE for mode in MODES if supports(m, mode)]
X64 = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3, -1.1], dtype=jnp.float64)
# Softness per method chosen so the relaxation is visibly soft at n = 6.
SOFTNESS = {"fast_soft_sort": 1.0, "smooth_sort": 0.5}
# Iterative solvers are jitted: their loops would recompile on every eager call.
JIT_METHODS = ("ot", "smooth_sort", "fast_soft_sort")


def _op(name, method, mode, **extra):
    fn = CORE_OPS[name][0]
    return lambda x: fn(x, method=method, mode=mode, softness=SOFTNESS.get(method, 0.3), **extra)


def _scalar(op):
    def f(x):
        y = op(x)
        return jnp.sum(y * jnp.cos(jnp.arange(y.size, dtype=y.dtype)).reshape(y.shape))

    return f


@pytest.mark.parametrize("name,method,mode", CASES)
def test_gradients_float64(name, method, mode):
    f = _scalar(_op(name, method, mode))
    if method in JIT_METHODS:
        f = jax.jit(f)
    check_grads(f, (X64,), order=1, modes=("fwd", "rev"), atol=1e-4, rtol=1e-4, eps=1e-6)
    # Second order, forward-over-reverse (what jax.hessian does), along one
    # direction: cheap to compile and exercises the same rules.
    _, hvp = jax.jvp(jax.grad(f), (X64,), (jnp.cos(X64),))
    assert np.all(np.isfinite(hvp))


@pytest.mark.parametrize("method,mode", PAIRS)
def test_jit_and_vmap(method, mode):
    ops = {name: _op(name, method, mode, axis=-1) for name, _, _ in combos(CORE_OPS, (method,), (mode,))}
    batch = jnp.stack([X64, X64[::-1] * 2.0, jnp.full(6, 0.5)])
    for name, op in ops.items():
        batched = op(batch)
        np.testing.assert_allclose(jax.vmap(op)(batch), batched, rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(op(batch[0]), batched[0], rtol=1e-9, atol=1e-12, err_msg=name)
    stacked = lambda x: [op(x) for op in ops.values()]  # noqa: E731
    for name, a, b in zip(ops, jax.jit(stacked)(batch), stacked(batch)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("method,mode", PAIRS)
def test_float32_finite(method, mode):
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
    for name, _, _ in combos(CORE_OPS, (method,), (mode,)):
        op = _op(name, method, mode)
        value_and_grad = jax.vmap(jax.value_and_grad(_scalar(op)))
        if method in JIT_METHODS:
            value_and_grad, op = jax.jit(value_and_grad), jax.jit(op)
        for batch in (rows, rows[:, :1], rows[:, :2]):  # n = 5, 1, 2
            values, grads = value_and_grad(batch)
            assert values.dtype == grads.dtype == jnp.float32, name
            assert np.all(np.isfinite(values)) and np.all(np.isfinite(grads)), (name, batch.shape)
            if name in INDEX_OPS:
                p = jax.vmap(op)(batch)
                assert np.all(p >= 0), name
                np.testing.assert_allclose(jnp.sum(p, -1), 1.0, rtol=1e-5, err_msg=name)


def test_second_order_check_grads_and_hessian():
    # Full second-order finite-difference checks and hessians on the default paths.
    for name in ("sort", "rank", "argsort_desc"):
        f = _scalar(_op(name, "neuralsort", "smooth"))
        check_grads(f, (X64,), order=2, modes=("fwd", "rev"), atol=1e-4, rtol=1e-4, eps=1e-5)
        hess = jax.hessian(f)(X64)
        np.testing.assert_allclose(hess, hess.T, rtol=1e-8, atol=1e-10)
