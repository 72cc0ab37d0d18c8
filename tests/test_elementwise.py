"""Tests for the soft elementwise operators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from jax.test_util import check_grads

import softjax as sj
from softjax._src.validation import ensure_float

SOFT_MODES = ["smooth", "c0", "c1", "c2", "_c1_pnorm", "_c2_pnorm"]
X = np.array([-0.3, -0.1, 0.0, 0.05, 0.2])
R = np.array([-0.7, 0.3, 1.5, -1.2, 2.5, 0.45])


# --- reference vectors (float64, softness 0.1) ----------------------------------

REFERENCE = [
    (lambda: sj.sign(X), [-0.905148253645, -0.46211715726, 0, 0.244918662404, 0.761594155956]),
    (lambda: sj.sign(X, mode="c1"), [-0.792, -0.296, 0, 0.1495, 0.568]),
    (lambda: sj.abs(X), [0.271544476093, 0.046211715726, 0, 0.01224593312, 0.152318831191]),
    (lambda: sj.heaviside(X, mode="c2"), [0.05792, 0.31744, 0.5, 0.593126875, 0.83692]),
    (lambda: sj.relu(X, mode="c1"), [0.0072, 0.0512, 0.09375, 0.120621875, 0.22295]),
    (lambda: sj.relu(X, mode="c0", gated=True), [-0.06, -0.04, 0, 0.0275, 0.14]),
    (
        lambda: sj.clip(X, -0.25, 0.25),
        [-0.203000145909, -0.082833714029, 2.3e-17, 0.042165934053, 0.153697076067],
    ),
    (lambda: sj.clip(X, -0.25, 0.25, mode="c0"), [-0.14875, -0.05, 0, 0.025, 0.1]),
    (lambda: sj.clip(X, -0.25, 0.25, mode="c0", gated=True), [-0.2725, -0.1, 0, 0.05, 0.2]),
    (
        lambda: sj.round(R),
        [-0.881126298885, 0.118873701115, 1.5, -1.046517041009, 2.5, 0.377493356114],
    ),
    (lambda: sj.round(R, mode="c1"), [-0.784, 0.216, 1.5, -1.104, 2.5, 0.42525]),
    (lambda: sj.round(R, mode="c2"), [-0.83692, 0.16308, 1.5, -1.05792, 2.5, 0.406873125]),
    (lambda: sj.round(R, mode="c0"), R),
    (
        lambda: sj.round(R, softness=0.3, neighbor_radius=1),
        [-0.720780291581, 0.2587608753, 1.396664413001, -1.192091601517, 2.360948201072, 0.390178903471],
    ),
]


@pytest.mark.parametrize("case", range(len(REFERENCE)))
def test_reference_vectors(case):
    fn, expected = REFERENCE[case]
    got = fn()
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_abs_smooth_closed_form():
    x = jnp.linspace(-1, 1, 21)
    np.testing.assert_allclose(sj.abs(x, 0.3), x * jnp.tanh(x / 0.6), atol=1e-15)
    np.testing.assert_allclose(sj.sign(x, 0.3), jnp.tanh(x / 0.6), atol=1e-15)
    assert float(sj.abs(0.0, mode="c1")) == 0.0


# --- hard mode == jax.numpy twin (values and dtypes) ------------------------------

FLOAT_IN = [-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.7, -0.0]
INPUTS = {
    "float64": jnp.array(FLOAT_IN, jnp.float64),
    "float32": jnp.array(FLOAT_IN, jnp.float32),
    "bfloat16": jnp.array(FLOAT_IN, jnp.bfloat16),
    "int32": jnp.array([-3, -1, 0, 2, 5], jnp.int32),
    "int64": jnp.array([-3, -1, 0, 2, 5], jnp.int64),
}
HARD_TWINS = {
    "heaviside": (lambda x: sj.heaviside(x, mode="hard"), lambda x: jnp.heaviside(ensure_float(x), 0.5)),
    "sign": (lambda x: sj.sign(x, mode="hard"), lambda x: jnp.sign(ensure_float(x))),
    "abs": (lambda x: sj.abs(x, mode="hard"), jnp.abs),
    "relu": (lambda x: sj.relu(x, mode="hard"), jax.nn.relu),
    "clip": (lambda x: sj.clip(x, -1, 2, mode="hard"), lambda x: jnp.clip(x, -1, 2)),
    "round": (lambda x: sj.round(x, mode="hard"), jnp.round),
}


@pytest.mark.parametrize("op", list(HARD_TWINS))
@pytest.mark.parametrize("dtype", list(INPUTS))
def test_hard_matches_jax(op, dtype):
    ours, theirs = HARD_TWINS[op]
    x = INPUTS[dtype]
    got, want = ours(x), theirs(x)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(np.asarray(got, np.float64), np.asarray(want, np.float64))


def test_hard_dtypes_per_spec():
    i = jnp.array([-2, 0, 3], jnp.int32)
    assert sj.heaviside(i, mode="hard").dtype == jnp.float64  # default float under x64
    assert sj.sign(i, mode="hard").dtype == jnp.float64
    assert sj.heaviside(jnp.array([True, False]), mode="hard").dtype == jnp.float64
    for op in ("abs", "relu", "round"):
        assert getattr(sj, op)(i, mode="hard").dtype == jnp.int32
    assert sj.clip(i, 0, 1, mode="hard").dtype == jnp.int32
    assert sj.abs(jnp.array([True]), mode="hard").dtype == jnp.bool_


def test_hard_heaviside_propagates_nan():
    # NaN propagates; it is not mapped to 0.5.
    out = sj.heaviside(jnp.array([jnp.nan, -1.0, 0.0, 2.0]), mode="hard")
    assert np.isnan(out[0])
    np.testing.assert_array_equal(out[1:], [0.0, 0.5, 1.0])


def test_hard_never_touches_softness():
    assert float(sj.heaviside(1.0, softness=-1.0, mode="hard")) == 1.0
    for op in (sj.heaviside, sj.sign, sj.abs, sj.relu, sj.round):
        op(0.3, softness=-1.0, mode="hard")
        op(0.3, softness="not a number", mode="hard")
    sj.clip(0.3, 0.0, 1.0, softness=0.0, mode="hard")


# --- soft modes -------------------------------------------------------------------


@jax.jit
def _near_hard(x):
    s = 1e-4
    return jnp.stack(
        [
            jnp.stack(
                [
                    sj.heaviside(x, s, m),
                    sj.sign(x, s, m),
                    sj.abs(x, s, m),
                    sj.relu(x, s, m),
                    sj.clip(x, -0.5, 1.0, s, m),
                    sj.round(x, s, m),
                ]
            )
            for m in SOFT_MODES
        ]
    )


def test_soft_tends_to_hard():
    x = jnp.array([-2.3, -0.7, -0.02, 0.03, 0.4, 1.2, 2.61])
    hard = jnp.stack(
        [jnp.heaviside(x, 0.5), jnp.sign(x), jnp.abs(x), jax.nn.relu(x), jnp.clip(x, -0.5, 1.0), jnp.round(x)]
    )
    for out in _near_hard(x):
        np.testing.assert_allclose(out, hard, atol=1e-12)


@jax.jit
def _soft_outputs(f32, i32):
    outs = {}
    for m in ("smooth", "c1", "_c2_pnorm"):
        for name in ("heaviside", "sign", "abs", "relu", "round"):
            op = getattr(sj, name)
            outs[name, m, "f32"] = op(f32, mode=m)
            outs[name, m, "i32"] = op(i32, mode=m)
        outs["clip", m, "f32"] = sj.clip(f32, -0.1, 0.1, mode=m)
        outs["clip", m, "i32"] = sj.clip(i32, -1, 1, mode=m)
        outs["clip_gated", m, "f32"] = sj.clip(f32, -0.1, 0.1, mode=m, gated=True)
    return outs


def test_soft_dtypes():
    outs = _soft_outputs(jnp.array([-0.3, 0.2], jnp.float32), jnp.array([-1, 2], jnp.int32))
    for (name, mode, kind), y in outs.items():
        if kind == "f32":  # a float32 input stays float32
            assert y.dtype == jnp.float32, (name, mode)
        else:  # ints become floats in soft modes
            assert jnp.issubdtype(y.dtype, jnp.floating), (name, mode)
    # ensure_float: ints become the default float (float64 under x64)
    assert outs["heaviside", "c1", "i32"].dtype == jnp.float64
    assert outs["round", "smooth", "i32"].dtype == jnp.float64


def test_python_scalars_and_lists():
    assert sj.sign(1).dtype == jnp.float64
    np.testing.assert_allclose(sj.abs([-0.3, 0.2]), [0.271544476093, 0.152318831191], atol=1e-12)
    np.testing.assert_allclose(sj.round([0.5, 2.5]), [0.5, 2.5], atol=1e-12)


# One compiled function per dtype: values, gradients, Hessians, JVPs, vmapped,
# for every operator. Two modes suffice here (the operators are thin
# compositions); every mode's derivatives are covered in test_steps.py.
TRANSFORM_MODES = ["smooth", "c1"]


def _all_ops(mode):
    return [
        lambda x: sj.heaviside(x, 0.1, mode),
        lambda x: sj.sign(x, 0.1, mode),
        lambda x: sj.abs(x, 0.1, mode),
        lambda x: sj.relu(x, 0.1, mode),
        lambda x: sj.relu(x, 0.1, mode, gated=True),
        lambda x: sj.clip(x, -1.0, 1.0, 0.1, mode),
        lambda x: sj.clip(x, -1.0, 1.0, 0.1, mode, gated=True),
        lambda x: sj.round(x, 0.1, mode),
    ]


def _transforms(second_order):
    @jax.jit
    def run(x):
        outs = []
        for mode in TRANSFORM_MODES:
            for f in _all_ops(mode):
                outs += [jax.vmap(f)(x), jax.vmap(jax.grad(f))(x)]
                outs.append(jax.jvp(f, (x,), (jnp.ones_like(x),))[1])
                if second_order:
                    outs.append(jax.vmap(jax.hessian(f))(x))
        return jnp.stack(outs)

    return run


GRID = [0.0, 0.5, -0.5, 1.0, -1.0, 0.05, -0.05, 1.5, 2.5, 1e-7, 1e6, -1e6, 3.3, -0.49]


# float64 transforms are exercised by test_check_grads (jit, fwd, rev, 2nd order).
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_transforms_finite(dtype):
    out = _transforms(second_order=dtype != jnp.bfloat16)(jnp.asarray(GRID, dtype))
    assert out.dtype == dtype
    assert np.all(np.isfinite(np.asarray(out, np.float64)))


@pytest.mark.parametrize("mode", ["smooth", "c1"])  # all modes: test_steps.py
def test_check_grads(mode):
    x = jnp.array([-0.23, 0.07, 0.31, 1.37])  # away from band edges

    def f(x):
        return jnp.concatenate([g(x) for g in _all_ops(mode)])

    check_grads(jax.jit(f), (x,), order=1, modes=("fwd", "rev"))
    check_grads(jax.jit(f), (x,), order=2, modes=("fwd",))


def test_gradients_wrt_bounds_and_softness():
    x = jnp.array([-0.23, 0.07, 0.31])
    f = lambda a, b, s: sj.clip(x, a, b, s, "c2")
    check_grads(jax.jit(f), (-0.25, 0.25, 0.1), order=1, modes=("rev",), eps=1e-6)
    g = jax.jit(jax.grad(lambda s: jnp.sum(sj.round(x, s))))(0.1)
    assert np.isfinite(g) and g != 0


# --- hypothesis properties --------------------------------------------------------

_FLOATS = st.lists(st.floats(-3, 3, allow_nan=False), min_size=12, max_size=12)


@jax.jit
def _clip_all_modes(x, a, b, s):
    return jnp.stack([sj.clip(x, a, b, s, m) for m in SOFT_MODES])


@given(_FLOATS, st.floats(-2, 2), st.floats(0, 2), st.floats(0.01, 1.0))
def test_clip_within_bounds_and_monotone(xs, a, width, s):
    b = a + width
    x = np.sort(np.asarray(xs))
    out = np.asarray(_clip_all_modes(x, a, b, s))
    tol = 1e-12
    assert np.all(out >= a - tol) and np.all(out <= b + tol)
    assert np.all(np.diff(out, axis=-1) >= -tol)


@jax.jit
def _abs_sign_all_modes(x, s):
    return jnp.stack([sj.abs(x, s, m) for m in SOFT_MODES]), jnp.stack([sj.sign(x, s, m) for m in SOFT_MODES])


@given(_FLOATS, st.floats(0.01, 1.0))
def test_abs_sign_properties(xs, s):
    x = np.asarray(xs)
    a, sg = map(np.asarray, _abs_sign_all_modes(x, s))
    a_neg, sg_neg = map(np.asarray, _abs_sign_all_modes(-x, s))
    assert np.all(a >= 0) and np.all(a <= np.abs(x) + 1e-15)
    assert np.all(np.abs(sg) <= 1)
    np.testing.assert_allclose(a_neg, a, atol=1e-15)  # even
    np.testing.assert_allclose(sg_neg, -sg, atol=1e-15)  # odd


@jax.jit
def _round_all_modes(x, s):
    return jnp.stack([sj.round(x, s, m) for m in SOFT_MODES])


@given(_FLOATS, st.floats(0.02, 0.2))
def test_round_equivariance(xs, s):
    x = np.asarray(xs)
    base = np.asarray(_round_all_modes(x, s))
    np.testing.assert_allclose(np.asarray(_round_all_modes(x + 1, s)), base + 1, atol=1e-9)
    np.testing.assert_allclose(np.asarray(_round_all_modes(-x, s)), -base, atol=1e-9)


# --- round specifics --------------------------------------------------------------


def test_round_half_integers_fixed():
    x = jnp.array([-1.5, -0.5, 0.5, 2.5])
    for mode in SOFT_MODES:
        np.testing.assert_allclose(sj.round(x, mode=mode), x, atol=1e-12)


@pytest.mark.parametrize("radius, err", [(0, ValueError), (-2, ValueError), (2.5, TypeError)])
def test_round_neighbor_radius_validated(radius, err):
    # P14c: 0 used to give nonsense, negative values returned 0.
    with pytest.raises(err, match="neighbor_radius"):
        sj.round(2.7, neighbor_radius=radius)


def test_round_c0_identity_documented():
    # P14a: c0 is the identity at the default softness (ramps of width 10s tile
    # exactly when 10s is an integer), and only rounds below softness 0.1.
    x = jnp.linspace(-2, 2, 41) + 0.013
    for s in (0.1, 0.2, 0.3):
        np.testing.assert_allclose(sj.round(x, s, "c0"), x, atol=1e-12)
    assert float(jnp.max(jnp.abs(sj.round(x, 0.37, "c0") - x))) < 0.05
    assert float(sj.round(0.1, 0.05, "c0")) == 0.0
    np.testing.assert_allclose(sj.round(0.3, 0.05, "c0"), 0.1, atol=1e-15)


def test_round_window_enlarged_for_piecewise_modes():
    # P14b: the truncated window used to collapse the result towards 0.
    for mode in ("c0", "c1", "c2", "_c1_pnorm", "_c2_pnorm"):
        np.testing.assert_allclose(sj.round(2.5, softness=100, mode=mode), 2.5, atol=1e-9)
        np.testing.assert_allclose(sj.round(2.3, softness=100, mode=mode), 2.3, atol=1e-5)
    # smooth is not enlarged (unbounded tails): the documented truncation remains
    assert float(sj.round(2.3, softness=100)) < 0.1
    # a traced softness cannot size the window either
    assert float(jax.jit(lambda s: sj.round(2.3, s, "c1"))(100.0)) < 0.1


def test_round_non_finite():
    x = jnp.array([jnp.inf, -jnp.inf, jnp.nan, 0.3])
    for mode in ("smooth", "c1"):
        out = sj.round(x, mode=mode)
        assert out[0] == jnp.inf and out[1] == -jnp.inf and np.isnan(out[2])
        g = jax.grad(lambda v, mode=mode: jnp.sum(sj.round(v, mode=mode)[:2]))(x)
        assert np.all(np.isfinite(g[:2]))


def test_round_array_softness_broadcasts():
    x = jnp.array([[0.3, 0.3, 0.3], [1.2, 1.2, 1.2]])
    s = jnp.array([0.05, 0.1, 0.2])
    out = sj.round(x, softness=s, mode="c1")
    expected = [[float(sj.round(x[i, j], s[j], "c1")) for j in range(3)] for i in range(2)]
    np.testing.assert_allclose(out, expected, rtol=1e-15)
    np.testing.assert_allclose(jax.jit(lambda x, s: sj.round(x, s, "c1"))(x, s), out, rtol=1e-15)


# --- clip specifics ---------------------------------------------------------------


def test_clip_open_bounds():
    x = jnp.array([-3.0, 0.0, 3.0])
    np.testing.assert_array_equal(sj.clip(x, None, 1.0, mode="hard"), jnp.clip(x, None, 1.0))
    np.testing.assert_allclose(sj.clip(x, None, 1.0, 1e-4), [-3.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(sj.clip(x, -1.0, None, 1e-4), [-1.0, 0.0, 3.0], atol=1e-12)
    np.testing.assert_array_equal(sj.clip(x, None, None), x)


def test_clip_array_bounds_broadcast():
    x = jnp.linspace(-2, 2, 6).reshape(2, 3)
    a = jnp.array([-1.0, 0.0, -0.5])
    out = sj.clip(x, a, 1.0, 1e-4, "c1")
    np.testing.assert_allclose(out, jnp.clip(x, a, 1.0), atol=1e-12)


# --- errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda m: sj.heaviside(1.0, mode=m),
        lambda m: sj.sign(1.0, mode=m),
        lambda m: sj.abs(1.0, mode=m),
        lambda m: sj.relu(1.0, mode=m),
        lambda m: sj.clip(1.0, 0.0, 2.0, mode=m),
        lambda m: sj.round(1.0, mode=m),
    ],
)
def test_unknown_mode(call):
    with pytest.raises(ValueError, match=r"Invalid mode: 'soft'.*'hard'.*'c2'"):
        call("soft")


def test_bad_softness_and_shapes():
    with pytest.raises(ValueError, match="softness must be positive"):
        sj.heaviside(1.0, softness=0.0)
    with pytest.raises(ValueError, match="softness must be positive"):
        sj.round(1.0, softness=-1.0, mode="c1")
    with pytest.raises(ValueError, match="clip: x, a and b are not broadcast-compatible"):
        sj.clip(jnp.ones(3), jnp.zeros(4), 1.0)
    with pytest.raises(ValueError, match=r"b\.shape=\(2,\)"):
        sj.clip(jnp.ones(3), 0.0, jnp.ones(2), mode="hard")
