"""Tests for the soft comparison operators."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from jax.test_util import check_grads

import softjax as sj
from softjax._src.validation import ensure_float

OPS = ["greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "isclose"]
SOFT_MODES = ["smooth", "c0", "c1", "c2", "_c1_pnorm", "_c2_pnorm"]
X = np.array([-1.0, 0.5, 0.0, 0.8, 0.15])
Y = np.array([0.1, 0.2, 0.0, 0.9, 0.1])


# --- reference vectors (float64) ---------------------------------------------------

REFERENCE = {
    "greater": [1.670142183139e-05, 0.952574126777, 0.49999999975, 0.268941421173, 0.622459330967],
    "less_equal": [0.999983298578, 0.047425873223, 0.50000000025, 0.731058578827, 0.377540669033],
    # equal / isclose are clipped to [0, 1]; the entries inside are unchanged
    "equal": [3.341511902932e-05, 0.124136248412, 1.0000000005, 0.772967391757, 0.938846738463],
    "isclose": [3.341527678558e-05, 0.124138033536, 1.0000000505, 0.773010109612, 0.938849090221],
}


@pytest.mark.parametrize("op", list(REFERENCE))
def test_reference_vectors(op):
    got = getattr(sj, op)(X, Y)
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, np.clip(REFERENCE[op], 0, 1), rtol=0, atol=1e-12)


def test_reference_isclose_tolerances_and_c1():
    got = sj.isclose(X, Y, softness=1.0, rtol=0.1, atol=0.01)
    ref = [0.736341365085, 0.983665377986, 1.004999958384, 1.021484230115, 1.004624889125]
    np.testing.assert_allclose(got, np.clip(ref, 0, 1), rtol=0, atol=1e-12)
    got = sj.greater(X, Y, mode="c1")
    np.testing.assert_allclose(
        got, [0, 0.895999999904, 0.49999999985, 0.351999999856, 0.574749999851], atol=1e-12
    )


def test_threshold_example_intermediate():
    x = jnp.array([0.2, 0.8, 0.5, 1.2, 0.1])
    ref = [0.880797077872889, 0.9996646498691983, 0.9933071490690671, 0.9999938558253916, 0.731058578433393]
    np.testing.assert_allclose(sj.greater(x, 0.0), ref, rtol=1e-13)


def test_signatures():
    common = ["x", "y", "softness", "mode", "epsilon"]
    for op in OPS[:-1]:
        params = inspect.signature(getattr(sj, op)).parameters
        assert list(params) == common
        assert [params[p].default for p in common[2:]] == [0.1, "smooth", 1e-10]
    params = inspect.signature(sj.isclose).parameters
    assert list(params) == ["x", "y", "softness", "rtol", "atol", "mode", "epsilon"]
    assert [params[p].default for p in list(params)[2:]] == [0.1, 1e-05, 1e-08, "smooth", 1e-10]
    # rtol, atol come before mode positionally
    np.testing.assert_array_equal(
        sj.isclose(1.0, 1.5, 0.1, 0.0, 0.6, "hard"), jnp.isclose(1.0, 1.5, rtol=0.0, atol=0.6)
    )


# --- hard mode ----------------------------------------------------------------------

HARD_TWIN = {
    "greater": jnp.greater,
    "greater_equal": jnp.greater_equal,
    "less": jnp.less,
    "less_equal": jnp.less_equal,
    "equal": jnp.equal,
    "not_equal": jnp.not_equal,
    "isclose": lambda x, y: jnp.isclose(x, y, atol=1e-08, rtol=1e-05),
}
HARD_X = {
    "float64": jnp.array([-1.0, 0.5, 0.0, 0.8, 1.0 + 1e-9, jnp.nan]),
    "float32": jnp.array([-1.0, 0.5, 0.0, 0.8, 1.0 + 1e-6, jnp.nan], jnp.float32),
    "bfloat16": jnp.array([-1.0, 0.5, 0.0, 0.8, 1.0, jnp.nan], jnp.bfloat16),
    "int32": jnp.array([-1, 0, 0, 1, 1, 2], jnp.int32),
}
HARD_Y = jnp.array([0.1, 0.5, 0.0, 0.9, 1.0, 0.0])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", list(HARD_X))
def test_hard_matches_jax(op, dtype):
    x = HARD_X[dtype]
    got = getattr(sj, op)(x, HARD_Y, mode="hard")
    xf = ensure_float(x)
    want = HARD_TWIN[op](xf, HARD_Y).astype(xf.dtype)
    assert got.dtype == xf.dtype  # x's float dtype, whatever y's dtype
    np.testing.assert_array_equal(np.asarray(got, np.float64), np.asarray(want, np.float64))


def test_hard_ignores_softness_and_epsilon():
    for op in OPS:
        out = getattr(sj, op)(1.0, 1.0, softness=-1.0, mode="hard", epsilon=float("nan"))
        assert float(out) == float(op in ("greater_equal", "less_equal", "equal", "isclose"))


# --- equal / not_equal / isclose stay in [0, 1] --------------------------------------


@pytest.mark.parametrize("softness", [0.1, 1e-10, 1e-12])
def test_equal_not_equal_stay_in_unit_interval(softness):
    # Unclipped: 1.0000000005 / -5e-10, up to 2 / -1 near the hard limit.
    for mode in SOFT_MODES:
        assert float(sj.equal(1.0, 1.0, softness, mode)) == 1.0
        assert float(sj.not_equal(1.0, 1.0, softness, mode)) == 0.0
        assert float(sj.equal(1.0, 2.0, softness, mode)) < 1e-3
        assert float(sj.not_equal(1.0, 2.0, softness, mode)) > 1 - 1e-3


def test_isclose_stays_in_unit_interval():
    # Unclipped: 1.005, 1.462, 1.413 and 2.0.
    assert float(sj.isclose(100.0, 100.0)) == 1.0
    assert float(sj.isclose(1e4, 1e4)) == 1.0
    assert float(sj.isclose(1e4, 1e4, mode="c0")) == 1.0
    assert float(sj.isclose(1e4, 1e4 + 0.05)) == 1.0
    assert float(sj.isclose(1.0, 1.0, softness=1e-9)) == 1.0
    assert float(sj.isclose(1.0, 1.1, softness=1e-9)) == 0.0


@jax.jit
def _all_soft(x, y, s):
    return jnp.stack([getattr(sj, op)(x, y, s, mode=m) for op in OPS for m in SOFT_MODES])


@given(
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=10, max_size=10),
    st.lists(st.floats(-50, 50, allow_nan=False), min_size=10, max_size=10),
    st.floats(1e-6, 10.0),
)
def test_softbool_in_unit_interval(xs, ys, s):
    out = np.asarray(_all_soft(np.asarray(xs), np.asarray(ys), s))
    assert np.all((out >= 0) & (out <= 1))
    out32 = np.asarray(_all_soft(np.asarray(xs, np.float32), np.asarray(ys, np.float32), np.float32(s)))
    assert out32.dtype == np.float32
    assert np.all((out32 >= 0) & (out32 <= 1))


def test_complements_and_step_form():
    x, y = jnp.asarray(X), jnp.asarray(Y)
    for mode in ("smooth", "c1", "_c2_pnorm"):
        np.testing.assert_array_equal(sj.less(x, y, mode=mode), 1 - sj.greater_equal(x, y, mode=mode))
        np.testing.assert_array_equal(sj.less_equal(x, y, mode=mode), 1 - sj.greater(x, y, mode=mode))
        np.testing.assert_array_equal(sj.greater(x, y, mode=mode), sj.sigmoidal(x - y - 1e-10, mode=mode))
        np.testing.assert_array_equal(
            sj.greater_equal(x, y, 0.3, mode, 1e-3), sj.sigmoidal(x - y + 1e-3, 0.3, mode)
        )


def test_near_hard_limit():
    # epsilon breaks ties: strict -> 0, non-strict -> 1 when softness << epsilon.
    x = jnp.array([1.0, -0.5, 0.25])
    y = jnp.array([1.0, 0.5, 0.0])
    for mode in SOFT_MODES:
        for op in OPS:
            got = getattr(sj, op)(x, y, 1e-13, mode=mode)
            np.testing.assert_allclose(got, getattr(sj, op)(x, y, mode="hard"), atol=1e-12, err_msg=op)


# --- dtypes, broadcasting, transforms -------------------------------------------------


def test_dtypes_and_broadcasting():
    x32 = jnp.array([[0.1], [0.3]], jnp.float32)
    for op in OPS:
        f = getattr(sj, op)
        assert f(x32, 0.2).dtype == jnp.float32
        assert f(x32, jnp.array([0.0, 0.2, 0.4], jnp.float32)).shape == (2, 3)
        assert f(1, 0).dtype == jnp.float64  # ints -> default float
        assert f(x32, 0.2, mode="hard").dtype == jnp.float32
        assert f(jnp.array([1, 2]), jnp.array([1.0, 2.0]), mode="hard").dtype == jnp.float64


def _transforms(second_order, modes=("smooth", "c1")):
    @jax.jit
    def run(x, y):
        outs = []
        for op in OPS:
            for m in modes:
                f = lambda a, b, op=op, m=m: getattr(sj, op)(a, b, 0.1, mode=m)
                outs += [jax.vmap(f)(x, y), *jax.vmap(jax.grad(f, argnums=(0, 1)))(x, y)]
                outs.append(jax.jvp(f, (x, y), (jnp.ones_like(x), jnp.ones_like(y)))[1])
                if second_order:
                    outs.append(jax.vmap(jax.hessian(f))(x, y))
        return jnp.stack(outs)

    return run


GRID_X = [0.0, 0.0, 1e6, -1e6, 0.3, 0.5, 100.0, 1e-7]
GRID_Y = [0.0, 1e-9, 1e6, 1e6, 0.25, -0.5, 100.0, 0.0]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.bfloat16])
def test_transforms_finite(dtype):
    x, y = jnp.asarray(GRID_X, dtype), jnp.asarray(GRID_Y, dtype)
    out = _transforms(second_order=dtype != jnp.bfloat16)(x, y)
    assert out.dtype == dtype
    assert np.all(np.isfinite(np.asarray(out, np.float64)))


@pytest.mark.parametrize("mode", ["smooth", "c1"])
def test_check_grads(mode):
    x = jnp.array([-0.31, 0.12, 0.4])
    y = jnp.array([0.05, -0.2, 0.27])

    def f(x, y):
        return jnp.concatenate([getattr(sj, op)(x, y, 0.3, mode=mode) for op in OPS])

    check_grads(jax.jit(f), (x, y), order=1, modes=("fwd", "rev"))
    check_grads(jax.jit(f), (x, y), order=2, modes=("fwd",))


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_errors(op):
    f = getattr(sj, op)
    with pytest.raises(ValueError, match=r"Invalid mode: 'soft'.*'hard'"):
        f(1.0, 2.0, mode="soft")
    with pytest.raises(ValueError, match=rf"{op}: x and y are not broadcast-compatible.*\(3,\).*\(2,\)"):
        f(jnp.ones(3), jnp.ones(2))
    with pytest.raises(ValueError, match=rf"{op}: x and y"):
        f(jnp.ones(3), jnp.ones(2), mode="hard")
    with pytest.raises(ValueError, match="softness must be positive"):
        f(1.0, 2.0, softness=0.0)
