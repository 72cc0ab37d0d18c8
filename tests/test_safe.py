"""Tests for the autograd-safe operators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj

NAN = float("nan")


def test_values():
    x = jnp.array([4.0, 0.25, 0.0, -1.0])
    np.testing.assert_array_equal(sj.sqrt(x), [2.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(sj.log(x), [np.log(4.0), np.log(0.25), 0.0, 0.0], rtol=1e-15)
    a = jnp.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(
        sj.arcsin(a), [-np.pi / 2, -np.pi / 2, np.arcsin(-0.5), 0.0, np.arcsin(0.5), np.pi / 2, np.pi / 2]
    )
    np.testing.assert_allclose(
        sj.arccos(a), [np.pi, np.pi, np.arccos(-0.5), np.pi / 2, np.arccos(0.5), 0.0, 0.0]
    )
    np.testing.assert_array_equal(
        sj.div(jnp.array([1.0, 3.0, -2.0]), jnp.array([2.0, 0.0, -4.0])), [0.5, 0.0, 0.5]
    )


def test_norm_axes():
    x = jnp.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(sj.norm(x), np.linalg.norm(np.arange(6.0)), rtol=1e-15)
    np.testing.assert_allclose(sj.norm(x, axis=1), np.linalg.norm(np.asarray(x), axis=1), rtol=1e-15)
    assert sj.norm(x, axis=0, keepdims=True).shape == (1, 3)
    assert sj.norm(x, axis=(0, 1), keepdims=True).shape == (1, 1)
    assert sj.norm(x, keepdims=True).shape == (1, 1)


@jax.jit
def _grads_at(x):
    g = lambda f: jax.vmap(jax.grad(f))(x)
    h = lambda f: jax.vmap(jax.hessian(f))(x)
    fs = [sj.sqrt, sj.log, sj.arcsin, sj.arccos, lambda v: sj.div(1.0, v), lambda v: sj.div(v, 0.0)]
    return jnp.stack([g(f) for f in fs]), jnp.stack([h(f) for f in fs])


def test_gradients_zero_on_singular_set():
    x = jnp.array([0.0, -1.0, -3.0, 1.0, 2.0, -2.0])
    grads, hess = _grads_at(x)
    sqrt_g, log_g, asin_g, acos_g, div_y_g, div_x_g = np.asarray(grads)
    np.testing.assert_array_equal(sqrt_g[:3], 0.0)
    np.testing.assert_array_equal(log_g[:3], 0.0)
    np.testing.assert_array_equal(asin_g[1:], 0.0)  # |x| >= 1
    np.testing.assert_array_equal(acos_g[1:], 0.0)
    assert div_y_g[0] == 0.0 and div_x_g[0] == 0.0  # y == 0: both gradients vanish
    np.testing.assert_array_equal(div_x_g, 0.0)
    assert np.all(np.isfinite(grads)) and np.all(np.isfinite(hess))


def test_norm_gradient_at_zero():
    g = jax.grad(sj.norm)(jnp.zeros(3))
    np.testing.assert_array_equal(g, 0.0)
    assert np.all(np.isfinite(jax.hessian(sj.norm)(jnp.zeros(3))))
    np.testing.assert_allclose(jax.grad(sj.norm)(jnp.array([3.0, 4.0])), [0.6, 0.8], rtol=1e-15)


def test_check_grads_in_domain():
    x = jnp.array([0.3, 0.7, 1.9])

    def f(v, w):  # every operator inside its domain, checked at once
        return jnp.concatenate(
            [
                sj.sqrt(v),
                sj.log(v),
                sj.arcsin(v / 2),
                sj.arccos(v / 2),
                sj.div(v, w),
                sj.norm(jnp.stack([v, -w]), axis=0),
            ]
        )

    check_grads(jax.jit(f), (x, x + 1), order=1, modes=("fwd", "rev"))
    check_grads(jax.jit(f), (x, x + 1), order=2, modes=("fwd",))


@pytest.mark.parametrize("name", ["sqrt", "log", "arcsin", "arccos"])
def test_nan_propagates(name):
    # NaN is not silently mapped to the boundary value.
    out = getattr(sj, name)(jnp.array([NAN, 0.5]))
    assert np.isnan(out[0]) and np.isfinite(out[1])


def test_div_nan_propagates():
    out = sj.div(jnp.array([NAN, 1.0, 1.0]), jnp.array([1.0, NAN, 0.0]))
    assert np.isnan(out[0]) and np.isnan(out[1]) and out[2] == 0.0


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_dtype_preserved(dtype):
    x = jnp.array([0.25, 0.0, -1.0, 2.0], dtype=dtype)
    for f in (sj.sqrt, sj.log, sj.arcsin, sj.arccos, lambda v: sj.div(v, v), sj.norm):
        y = f(x)
        assert y.dtype == dtype
        assert np.all(np.isfinite(np.asarray(y, np.float64)))


def test_jit_vmap():
    x = jnp.array([[4.0, -1.0], [0.0, 9.0]])
    np.testing.assert_array_equal(jax.jit(sj.sqrt)(x), sj.sqrt(x))
    np.testing.assert_allclose(jax.vmap(sj.norm)(x), [np.sqrt(17.0), 9.0], rtol=1e-15)
