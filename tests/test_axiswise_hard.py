"""mode="hard" equals the jax.numpy / jax.lax twin exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softjax as sj

RNG = np.random.default_rng(0)
X2 = jnp.asarray(RNG.normal(size=(4, 6)))  # even n along axis 1
X3 = jnp.asarray(RNG.normal(size=(3, 5, 2)))  # odd n along axis 1
XI = jnp.asarray(RNG.integers(-5, 5, size=(4, 5)))  # ties, ints
CASES = [(X2, 0), (X2, 1), (X2, -1), (X2, None), (X3, 1), (X3, None), (XI, 1), (XI, None)]


def _one_hot(idx, n, dtype):
    return jax.nn.one_hot(idx, n, dtype=dtype, axis=-1)


def _n(x, axis):
    return x.size if axis is None else x.shape[axis]


def _float(x):
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.result_type(float)


@pytest.mark.parametrize("x,axis", CASES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_extrema(x, axis, keepdims):
    n, dt = _n(x, axis), _float(x)
    for soft_fn, hard_fn, idx_fn in (
        (sj.max, jnp.max, None),
        (sj.min, jnp.min, None),
        (sj.argmax, None, jnp.argmax),
        (sj.argmin, None, jnp.argmin),
    ):
        out = soft_fn(x, axis=axis, keepdims=keepdims, mode="hard")
        ref = (
            hard_fn(x, axis=axis, keepdims=keepdims)
            if hard_fn is not None
            else _one_hot(idx_fn(x, axis=axis, keepdims=keepdims), n, dt)
        )
        assert out.dtype == ref.dtype and out.shape == ref.shape
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("x,axis", CASES)
@pytest.mark.parametrize("descending", [False, True])
def test_sorting(x, axis, descending):
    n, dt = _n(x, axis), _float(x)
    np.testing.assert_array_equal(
        sj.sort(x, axis=axis, descending=descending, mode="hard"),
        jnp.sort(x, axis=axis, descending=descending),
    )
    ref = _one_hot(jnp.argsort(x, axis=axis, descending=descending), n, dt)
    out = sj.argsort(x, axis=axis, descending=descending, mode="hard")
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)
    order = jnp.argsort(x, axis=axis, descending=descending)
    rank = sj.rank(x, axis=axis, descending=descending, mode="hard")
    np.testing.assert_array_equal(rank, jnp.argsort(order, axis=axis) + 1)
    assert rank.dtype == dt


QMETHODS = ["linear", "lower", "higher", "nearest", "midpoint"]


@pytest.mark.parametrize("x,axis", CASES)
@pytest.mark.parametrize("quantile_method", QMETHODS)
def test_quantile(x, axis, quantile_method):
    q = jnp.array([0.0, 0.1, 0.25, 0.5, 0.7, 1.0])
    for keepdims in (False, True):
        out = sj.quantile(x, q, axis=axis, keepdims=keepdims, mode="hard", quantile_method=quantile_method)
        ref = jnp.quantile(x, q, axis=axis, keepdims=keepdims, method=quantile_method)
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=1e-15, atol=0)
        out = sj.percentile(x, 100 * q[2], axis=axis, mode="hard", quantile_method=quantile_method)
        ref = jnp.percentile(x, 100 * q[2], axis=axis, method=quantile_method)
        np.testing.assert_allclose(out, ref, rtol=1e-15, atol=0)


@pytest.mark.parametrize("x,axis", CASES)
def test_median_and_argquantile(x, axis):
    np.testing.assert_allclose(
        sj.median(x, axis=axis, mode="hard"), jnp.median(x, axis=axis), rtol=1e-15, atol=0
    )
    # The argquantile one-hot mixture contracted with x reproduces jnp.quantile.
    xf = x.astype(_float(x))
    for qm in QMETHODS:
        p = sj.argquantile(xf, 0.3, axis=axis, mode="hard", quantile_method=qm)
        flat = jnp.ravel(xf) if axis is None else jnp.moveaxis(xf, axis, -1)
        np.testing.assert_allclose(
            jnp.sum(p * flat, -1), jnp.quantile(xf, 0.3, axis=axis, method=qm), rtol=1e-12
        )


def test_argmedian_even_is_half_half():
    np.testing.assert_array_equal(
        sj.argmedian(jnp.array([0.2, 1.7, -0.5, 0.9]), mode="hard"), [0.5, 0, 0, 0.5]
    )


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_top_k(axis):
    k = 3
    vals, idx = sj.top_k(X2, k, axis=axis, mode="hard")
    moved = jnp.ravel(X2) if axis is None else jnp.moveaxis(X2, axis, -1)
    ref_vals, ref_idx = jax.lax.top_k(moved, k)
    if axis is not None:
        ref_vals = jnp.moveaxis(ref_vals, -1, axis)
    np.testing.assert_array_equal(vals, ref_vals)
    one_hot = _one_hot(ref_idx, moved.shape[-1], X2.dtype)
    if axis is not None:
        one_hot = jnp.moveaxis(one_hot, -2, axis % X2.ndim)
    np.testing.assert_array_equal(idx, one_hot)


def test_hard_log_probs():
    x = jnp.array([0.1, 3.0, 2.0])
    lp = sj.argmax(x, mode="hard", return_log_probs=True)
    np.testing.assert_array_equal(lp, [-jnp.inf, 0.0, -jnp.inf])
    lp = sj.argmax(x, mode="hard", return_log_probs=True, log_prob_eps=1e-3)
    np.testing.assert_allclose(jnp.exp(lp).sum(), 1.0)
    assert jnp.all(jnp.isfinite(lp))


def test_hard_ignores_method_and_softness():
    x = jnp.array([0.1, 3.0, 2.0])
    np.testing.assert_array_equal(sj.sort(x, mode="hard", method="nope", softness=-1.0), jnp.sort(x))
