"""Soft maximum, minimum (pairwise) and ptp (softjax._src.minmax)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj
from axiswise_cases import ALL_METHODS

SOFT_MODES = ["smooth", "c0", "c1", "c2", "_c1_pnorm", "_c2_pnorm"]
F32_MAX = float(jnp.finfo(jnp.float32).max)


def assert_bits_equal(actual, expected):
    """Same dtype, shape and bit patterns (so -0.0 != 0.0; NaN payloads aside)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    view = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[actual.dtype.itemsize]
    nan = np.isnan(actual) & np.isnan(expected) if actual.dtype.kind == "f" else False
    differ = (actual.view(view) != expected.view(view)) & ~nan
    assert not differ.any(), (actual[differ], expected[differ])


# --- hard mode == jax.numpy, bit for bit ------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.bfloat16, jnp.int32])
def test_hard_matches_jax(dtype):
    if jnp.issubdtype(dtype, jnp.integer):
        x = jnp.array([[-7, 0, 3], [5, 5, -2]], dtype)
    else:
        top = 0.9 * float(jnp.finfo(dtype).max)
        x = jnp.array([[-0.0, 0.0, 1.5, np.nan], [top, -top, 2.5, 2.5], [0.0, -0.0, -1e-30, np.inf]], dtype)
    y = x[::-1]
    assert_bits_equal(sj.maximum(x, y, mode="hard"), jnp.maximum(x, y))
    assert_bits_equal(sj.minimum(x, y, mode="hard"), jnp.minimum(x, y))
    assert_bits_equal(sj.maximum(x, 1, mode="hard"), jnp.maximum(x, 1))
    for axis, keepdims in ((None, False), (0, True), (-1, False)):
        assert_bits_equal(sj.ptp(x, axis, keepdims, mode="hard"), jnp.ptp(x, axis, keepdims=keepdims))
    assert float(sj.maximum(1.0, 2.0, softness=-1.0, mode="hard")) == 2.0  # softness untouched


# --- maximum / minimum -------------------------------------------------------------------

_X = jnp.array([-2.3, -0.41, -0.05, 0.0, 0.02, 0.37, 1.9])
_Y = jnp.array([0.0, -0.3, 0.1, 0.0, -0.6, 0.4, 2.3])


@jax.jit
def _pairwise(x, y, s):
    return {
        m: (
            sj.maximum(x, y, softness=s, mode=m),
            sj.minimum(x, y, softness=s, mode=m),
            sj.maximum(y, x, softness=s, mode=m),
        )
        for m in SOFT_MODES
    }


def test_soft_properties():
    for s in (1e-5, 0.1, 0.7):
        for mode, (mx, mn, mx_swapped) in _pairwise(_X, _Y, s).items():
            np.testing.assert_allclose(mx, mx_swapped, atol=1e-15)  # symmetric
            np.testing.assert_allclose(mx + mn, _X + _Y, atol=1e-15)  # max + min = x + y
            assert np.all(mx >= jnp.maximum(_X, _Y)) and np.all(mn <= jnp.minimum(_X, _Y))
            if s == 1e-5:
                np.testing.assert_allclose(mx, jnp.maximum(_X, _Y), atol=1e-4)
            if mode != "smooth" and s == 0.1:  # exact outside the band |x - y| < 5s
                far = jnp.abs(_X - _Y) >= 0.5
                np.testing.assert_array_equal(mx[far], jnp.maximum(_X, _Y)[far])


def test_smooth_closed_form_and_gradient():
    s = 0.3
    np.testing.assert_allclose(sj.maximum(_X, _Y, softness=s), s * jnp.logaddexp(_X / s, _Y / s), atol=1e-14)
    gx, gy = jax.jit(jax.vmap(jax.grad(lambda a, b: sj.maximum(a, b, softness=s, mode="c1"), (0, 1))))(_X, _Y)
    np.testing.assert_allclose(gx, sj.sigmoidal(_X - _Y, s, "c1"), atol=1e-15)
    np.testing.assert_allclose(gx + gy, 1.0, atol=1e-15)


def test_broadcasting_dtypes_and_errors():
    out = jax.eval_shape(lambda: sj.maximum(jnp.ones((3, 1), jnp.float32), jnp.zeros(4, jnp.float32)))
    assert out.shape == (3, 4) and out.dtype == jnp.float32
    assert jax.eval_shape(lambda: sj.minimum(jnp.ones(2, jnp.bfloat16), 0.5)).dtype == jnp.bfloat16
    assert jax.eval_shape(lambda: sj.maximum(jnp.ones(2, jnp.int32), 0)).dtype == jnp.float64
    with pytest.raises(ValueError, match="maximum: x and y are not broadcast-compatible"):
        sj.maximum(jnp.ones(3), jnp.ones(4))
    with pytest.raises(ValueError, match="Invalid mode"):
        sj.minimum(1.0, 2.0, mode="soft")
    with pytest.raises(TypeError):
        sj.maximum(1.0, 2.0, 0.1)  # softness is keyword-only


@pytest.mark.parametrize("mode", ["smooth", "c0", "c1", "c2"])
def test_extreme_operands_float32(mode):
    x = jnp.array([3e38, -3e38, 0.9 * F32_MAX, 1.0, -1e-30], jnp.float32)
    y = x[::-1]

    @jax.jit
    def run(x, y):
        out = []
        for s in (1e-6, 0.1, 1e3):
            for op in (sj.maximum, sj.minimum):

                def f(a, b, op=op, s=s):
                    return jnp.sum(op(a, b, softness=s, mode=mode))

                out.append((op(x, y, softness=s, mode=mode), jax.grad(f, (0, 1))(x, y)))
        return out

    for value, grads in run(x, y):
        assert np.all(np.isfinite(value)) and all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("mode", ["smooth", "c2"])
def test_check_grads(mode):
    def f(x, y, s):
        return jnp.concatenate(
            [sj.maximum(x, y, softness=s, mode=mode), sj.minimum(x, y, softness=s, mode=mode)]
        )

    x, y = _X + 0.013, _Y  # away from the band edges at s = 0.2
    check_grads(jax.jit(f), (x, y, 0.2), order=1, modes=("fwd", "rev"), eps=1e-6)
    check_grads(jax.jit(f), (x, y, 0.2), order=2, modes=("fwd",), eps=1e-5)


# --- ptp ---------------------------------------------------------------------------------

_ROWS = jnp.array([[0.3, -1.2, 2.0, 0.7, 0.1], [1.1, 0.2, -0.5, 0.9, 1.6]])
# Every method once (max and min themselves are tested per mode elsewhere).
PTP_METHODS = [(me, "smooth") for me in ALL_METHODS] + [("softsort", "c1"), ("fast_soft_sort", "c2")]


@pytest.mark.parametrize("method, mode", PTP_METHODS)
def test_ptp_is_soft_max_minus_soft_min(method, mode):
    kw = {"softness": 0.2, "mode": mode, "method": method}

    @jax.jit
    def run(x):
        return (
            sj.ptp(x, axis=1, **kw),
            sj.max(x, axis=1, **kw) - sj.min(x, axis=1, **kw),
            sj.ptp(x + 3.0, axis=1, **kw),
            sj.ptp(jnp.ones_like(x), axis=1, **kw),
            sj.ptp(x, axis=1, softness=1e-3, mode=mode, method=method),
            jax.grad(lambda v: jnp.sum(sj.ptp(v, axis=1, **kw)))(x),
        )

    ptp, diff, shifted, constant, sharp, grad = run(_ROWS)
    np.testing.assert_allclose(ptp, diff, atol=1e-12)
    np.testing.assert_allclose(sharp, jnp.ptp(_ROWS, axis=1), atol=2e-2)
    assert np.all(np.isfinite(grad))
    if method in ("softsort", "neuralsort", "ot"):  # convex combinations of the entries
        np.testing.assert_allclose(shifted, ptp, atol=1e-9)  # shift-invariant
        np.testing.assert_allclose(jnp.sum(grad, axis=1), 0.0, atol=1e-9)
        np.testing.assert_allclose(constant, 0.0, atol=1e-9)
        assert np.all(ptp <= jnp.ptp(_ROWS, axis=1) + 1e-9)


def test_ptp_shapes_and_errors():
    x = jnp.ones((2, 3, 4))
    for axis, keepdims in ((None, False), (None, True), (1, False), (-1, True)):
        want = jnp.ptp(x, axis, keepdims=keepdims).shape
        assert jax.eval_shape(lambda a=axis, k=keepdims: sj.ptp(x, a, k)).shape == want
    with pytest.raises(ValueError, match="Invalid mode"):
        sj.ptp(x, mode="soft")
    with pytest.raises(ValueError, match="softness"):
        sj.ptp(x, softness=-1.0)
    with pytest.raises(TypeError):
        sj.ptp(x, 0, False, 0.1)  # softness is keyword-only
