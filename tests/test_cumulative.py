"""Soft cummax and cummin (softjax._src.cumulative)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays
from jax.test_util import check_grads

import softjax as sj
from finiteness_cases import Case, run

MODES = ("smooth", "c0", "c1", "c2")
R0 = {"smooth": np.log(2.0), "c0": 1.25, "c1": 0.9375, "c2": 0.78125}  # R(0) / s
_RNG = np.random.default_rng(0)
_X = _RNG.standard_normal((3, 7))


def assert_bits_equal(actual, expected):
    """Same dtype, shape and bit patterns (so -0.0 != 0.0; NaN payloads aside)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    view = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[actual.dtype.itemsize]
    nan = np.isnan(actual) & np.isnan(expected) if actual.dtype.kind == "f" else False
    differ = (actual.view(view) != expected.view(view)) & ~nan
    assert not differ.any(), (actual[differ], expected[differ])


# --- hard mode == jax.lax, bit for bit ----------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.bfloat16, jnp.int32])
def test_hard_matches_lax(dtype):
    if jnp.issubdtype(dtype, jnp.integer):
        x = jnp.asarray(_RNG.integers(-5, 5, (3, 6)), dtype)
    else:
        top = 0.9 * float(jnp.finfo(dtype).max)
        x = jnp.array(
            [
                [0.3, np.nan, -1.0, 2.0, 2.0, -0.0],
                [-np.inf, -np.inf, 0.0, -0.0, np.inf, 1.0],
                [top, -top, 1e-30, -1e-30, 0.5, 0.5],  # ties and extremes
            ],
            dtype,
        )
    for axis in (0, 1):
        for reverse in (False, True):
            for name in ("cummax", "cummin"):
                ours = getattr(sj, name)(x, axis, reverse, softness=-1.0, mode="hard")  # softness unread
                assert_bits_equal(ours, getattr(jax.lax, name)(x, axis, reverse))
    assert_bits_equal(sj.cummax(x, -1, mode="hard"), jax.lax.cummax(x, 1))
    assert_bits_equal(sj.cummin(x, None, True, mode="hard"), jax.lax.cummin(x.ravel(), 0, True))
    assert_bits_equal(sj.cummax_st(x, 1, mode="hard"), jax.lax.cummax(x, 1))


# --- soft values --------------------------------------------------------------------


@jax.jit
def _all_modes(x, s):
    out = {}
    for m in MODES:
        out[m] = (
            sj.cummax(x, 1, softness=s, mode=m),
            sj.cummax(x, 1, True, softness=s, mode=m),
            sj.cummin(x, 1, softness=s, mode=m),
            sj.cummax(x, 0, softness=s, mode=m),
        )
    return out


def test_bounds_monotonicity_and_cummin_duality():
    x = jnp.asarray(np.round(_X * 2) / 2)  # with ties
    hard_max, hard_min = jax.lax.cummax(x, 1), jax.lax.cummin(x, 1)
    steps = np.arange(x.shape[1])
    for s in (1e-4, 0.1, 0.7):
        for mode, (fwd, rev, mn, ax0) in _all_modes(x, s).items():
            bound = s * (np.log1p(steps) if mode == "smooth" else R0[mode] * steps)
            assert np.all(fwd >= hard_max) and np.all(fwd <= hard_max + bound + 1e-12), mode
            assert np.all(mn <= hard_min) and np.all(mn >= hard_min - bound - 1e-12), mode
            assert np.all(np.diff(fwd, axis=1) >= 0) and np.all(np.diff(rev, axis=1) <= 0)
            np.testing.assert_allclose(mn, -sj.cummax(-x, 1, softness=s, mode=mode), atol=1e-15)
            np.testing.assert_allclose(
                rev, sj.cummax(x[:, ::-1], 1, softness=s, mode=mode)[:, ::-1], atol=1e-12
            )
            np.testing.assert_array_equal(ax0[0], x[0])  # the first element is read unchanged
            np.testing.assert_array_equal(fwd[:, 0], x[:, 0])
            if s == 1e-4:
                np.testing.assert_allclose(fwd, hard_max, atol=1e-3)
            if mode != "smooth":  # a step is exact once the gap is at least 5s
                far = np.abs(x[:, 0] - x[:, 1]) >= 5 * s
                np.testing.assert_array_equal(fwd[far, 1], jnp.maximum(x[:, 0], x[:, 1])[far])


def test_smooth_is_the_running_log_sum_exp():
    x = jnp.asarray(_X)
    for s in (0.05, 0.3, 2.0):
        expected = s * jax.lax.cumlogsumexp(x / s, axis=1)
        np.testing.assert_allclose(sj.cummax(x, 1, softness=s), expected, rtol=1e-13, atol=1e-13)
        expected = s * jax.lax.cumlogsumexp(x / s, axis=0, reverse=True)
        np.testing.assert_allclose(sj.cummax(x, 0, True, softness=s), expected, rtol=1e-13, atol=1e-13)
    # Far beyond where x / s overflows: the log-sum-exp is the hard maximum.
    big = jnp.array([1e30, -3e38, 2e30, 3e38], jnp.float32)
    np.testing.assert_array_equal(sj.cummax(big, softness=1e-6), jax.lax.cummax(big, 0))


def test_piecewise_step_is_the_pairwise_soft_maximum():
    x = jnp.asarray(_X[0])
    for mode in ("c0", "c1", "c2"):
        y = sj.cummax(x, softness=0.4, mode=mode)
        expected = [x[0]]
        for xi in x[1:]:
            expected.append(sj.maximum(expected[-1], xi, softness=0.4, mode=mode))
        np.testing.assert_allclose(y, jnp.stack(expected), rtol=1e-14, atol=1e-14)


def test_special_values_dtypes_and_shapes():
    inf, nan = np.inf, np.nan
    x = jnp.array([[1.0, inf, 2.0, inf], [-inf, -inf, 0.5, nan], [nan, 1.0, 2.0, 3.0]])
    for mode in MODES:
        y = sj.cummax(x, 1, mode=mode)
        hard = jax.lax.cummax(x, 1)
        np.testing.assert_array_equal(np.isnan(y), np.isnan(hard))
        np.testing.assert_array_equal(np.isinf(y) & (y > 0), np.isinf(hard) & (hard > 0))
        np.testing.assert_array_equal(y[1, :2], [-inf, -inf])
    assert sj.cummax(jnp.arange(4)).dtype == jnp.result_type(float)  # integers become floats
    assert sj.cummax(jnp.ones(3, jnp.bfloat16), mode="c1").dtype == jnp.bfloat16
    assert sj.cummin(jnp.ones(3, jnp.float32), softness=jnp.float64(0.1)).dtype == jnp.float32
    assert sj.cummax(jnp.ones((2, 3)), None).shape == (6,)
    assert sj.cummax(jnp.zeros((0, 3)), mode="c1").shape == (0, 3)
    np.testing.assert_array_equal(sj.cummax(jnp.array([[2.5]]), 1), [[2.5]])
    # One softness per row (length 1 along the axis).
    s = jnp.array([[0.1], [1.0], [0.01]])
    y = sj.cummax(jnp.asarray(_X), 1, softness=s, mode="c2")
    for r in range(3):
        np.testing.assert_allclose(y[r], sj.cummax(_X[r], softness=float(s[r, 0]), mode="c2"), atol=1e-14)


def test_invalid_arguments():
    x = jnp.ones((2, 3))
    with pytest.raises(ValueError, match="Invalid mode"):
        sj.cummax(x, mode="soft")
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        sj.cummin(x, 2)
    with pytest.raises(ValueError, match="softness must be positive"):
        sj.cummax(x, softness=0.0)
    with pytest.raises(ValueError, match="cummin: softness must be a scalar"):
        sj.cummin(x, 1, softness=jnp.ones(3))
    with pytest.raises(ValueError, match="cummax: softness must be a scalar"):
        sj.cummax(x, 1, softness=jnp.ones((4, 1)))


# --- gradients and transforms -------------------------------------------------------


@pytest.mark.parametrize("mode", ["smooth", "c1", "c2"])
def test_check_grads(mode):
    x = jnp.asarray(_X[:2, :5])
    f = jax.jit(lambda v, s: sj.cummax(v, 1, softness=s, mode=mode))
    check_grads(f, (x, 0.6), order=2, modes=["rev"])
    g = jax.jit(lambda v: sj.cummin(v, 0, True, softness=0.6, mode=mode))
    check_grads(g, (x,), order=1, modes=["fwd", "rev"])


def test_gradient_is_the_soft_step_chain():
    # d y_1 / d x_1 = S(x_1 - y_0): the soft selection of the larger operand.
    x = jnp.array([0.2, 0.25])
    for mode in MODES:
        g = jax.grad(lambda v, mode=mode: sj.cummax(v, softness=0.1, mode=mode)[1])(x)
        np.testing.assert_allclose(g[1], sj.sigmoidal(0.05, 0.1, mode), atol=1e-14)
        np.testing.assert_allclose(g.sum(), 1.0, atol=1e-14)  # shifting x shifts y


def test_jit_vmap_and_straight_through():
    x = jnp.asarray(_X)

    @jax.jit
    def run_all(x):
        return {
            m: (
                jax.vmap(lambda r, m=m: sj.cummax(r, softness=0.3, mode=m))(x),
                jax.vmap(
                    lambda r, m=m: sj.cummin(r, reverse=True, softness=0.3, mode=m), in_axes=1, out_axes=1
                )(x),
            )
            for m in ("smooth", "c1")
        }

    for m, (rows, cols) in run_all(x).items():
        np.testing.assert_allclose(rows, sj.cummax(x, 1, softness=0.3, mode=m), atol=1e-14)
        np.testing.assert_allclose(cols, sj.cummin(x, 0, True, softness=0.3, mode=m), atol=1e-14)
    x32 = x.astype(jnp.float32)
    assert_bits_equal(sj.cummax_st(x32, 1, mode="c1"), jax.lax.cummax(x32, 1))
    # Hard forward value, soft backward: the chain rule meets f' at the hard value.
    g_st = jax.grad(lambda v: jnp.sum(jnp.cos(sj.cummin_st(v, 1)) * x))(x)
    ct = -jnp.sin(jax.lax.cummin(x, 1)) * x
    g_ref = jax.vjp(lambda v: sj.cummin(v, 1), x)[1](ct)[0]
    np.testing.assert_allclose(g_st, g_ref, atol=1e-12)


# --- extremes -----------------------------------------------------------------------


def _every_mode(x, s):
    outs = []
    for m in MODES:
        outs += [sj.cummax(x, softness=s, mode=m), sj.cummin(x, reverse=True, softness=s, mode=m)]
    return (*outs, sj.cummax_st(x, softness=s, mode="c1"))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_finite_values_and_gradients_at_extremes(dtype):
    # Rows from 1e-30 to 0.9 x the dtype's maximum, ties, constant rows; softness 1e-6 .. 1e3.
    case = Case("cumulative", "cummax_cummin", None, "all", _every_mode)
    outcome = run(case, dtype, 33)
    assert outcome.cases_run > 0 and not outcome.failures, outcome.failures[:5]


# --- invariant ----------------------------------------------------------------------

_bounded = jax.jit(
    lambda x, s: {m: (sj.cummax(x, softness=s, mode=m), sj.cummin(x, softness=s, mode=m)) for m in MODES}
)


@given(
    x=arrays(np.float64, 8, elements=st.floats(-1e3, 1e3, width=64)),
    s=st.floats(1e-3, 10.0),
)
def test_soft_cummax_brackets_the_hard_one(x, s):
    hard_max, hard_min = np.maximum.accumulate(x), np.minimum.accumulate(x)
    for mode, (mx, mn) in _bounded(jnp.asarray(x), s).items():
        slack = s * (np.log1p(np.arange(8)) if mode == "smooth" else R0[mode] * np.arange(8))
        tol = 1e-9 * (1 + np.abs(x).max())
        assert np.all(mx >= hard_max - tol) and np.all(mx <= hard_max + slack + tol), mode
        assert np.all(mn <= hard_min + tol) and np.all(mn >= hard_min - slack - tol), mode
        assert np.all(np.diff(mx) >= -tol) and np.all(np.diff(mn) <= tol), mode
