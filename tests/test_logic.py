"""Tests for the fuzzy logical operators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
from jax.test_util import check_grads

import softjax as sj

A = np.array([0.1, 0.5, 0.9])
B = np.array([0.9, 0.2, 0.4])
M = np.stack([A, B])


# --- reference vectors (float64) -----------------------------------------------------

REFERENCE = [
    (lambda: sj.logical_and(A, B), [0.09, 0.1, 0.36]),
    (lambda: sj.logical_and(A, B, use_geometric_mean=True), [0.3, 0.316227766017, 0.6]),
    (lambda: sj.logical_or(A, B), [0.91, 0.6, 0.94]),
    (lambda: sj.logical_or(A, B, use_geometric_mean=True), [0.7, 0.367544467966, 0.755051025722]),
    (lambda: sj.logical_xor(A, B), [0.8119, 0.46, 0.5584]),
    (lambda: sj.logical_xor(A, B, use_geometric_mean=True), [0.7, 0.498685027204, 0.539432456927]),
    (lambda: sj.logical_not(A), [0.9, 0.5, 0.1]),
    (lambda: sj.all(M), [0.045, 0.072]),
    (lambda: sj.any(M), [0.955, 0.952]),
    (lambda: sj.all(M, use_geometric_mean=True), [0.355689330449, 0.41601676461]),
]


@pytest.mark.parametrize("case", range(len(REFERENCE)))
def test_reference_vectors(case):
    fn, expected = REFERENCE[case]
    got = fn()
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_closed_forms():
    x, y = jnp.asarray(A), jnp.asarray(B)
    np.testing.assert_array_equal(sj.logical_and(x, y), x * y)
    np.testing.assert_array_equal(sj.logical_or(x, y), 1 - (1 - x) * (1 - y))
    a, b = x * (1 - y), (1 - x) * y
    np.testing.assert_array_equal(sj.logical_xor(x, y), 1 - (1 - a) * (1 - b))
    # and/or are the two-element all/any (also in geometric mode)
    for geo in (False, True):
        np.testing.assert_allclose(
            sj.logical_and(x, y, geo), sj.all(jnp.stack([x, y], -1), use_geometric_mean=geo), rtol=1e-15
        )
        np.testing.assert_allclose(
            sj.logical_or(x, y, geo), sj.any(jnp.stack([x, y], -1), use_geometric_mean=geo), rtol=1e-15
        )
    np.testing.assert_allclose(sj.any(M, use_geometric_mean=True), 1 - sj.all(1 - M, use_geometric_mean=True))


def test_geometric_epsilon():
    np.testing.assert_allclose(sj.all(jnp.array([0.0, 1.0]), use_geometric_mean=True), 1e-5, rtol=1e-12)
    np.testing.assert_allclose(
        sj.all(jnp.array([0.0, 1.0]), epsilon=1e-4, use_geometric_mean=True), 1e-2, rtol=1e-12
    )
    # epsilon is ignored in product mode
    assert float(sj.all(jnp.array([0.0, 1.0]), epsilon=0.5)) == 0.0


# --- shapes, axes, broadcasting, dtypes ----------------------------------------------


@pytest.mark.parametrize("op", ["logical_and", "logical_or", "logical_xor"])
@pytest.mark.parametrize("geo", [False, True])
def test_binary_ops_broadcast(op, geo):
    # Operands broadcast (they are not stacked, which fails on these shapes).
    f = getattr(sj, op)
    x = jnp.linspace(0, 1, 6).reshape(3, 2)
    for y in (jnp.array([0.25, 0.75]), 0.3, jnp.array([[0.25, 0.75]])):
        got = f(x, y, geo)
        assert got.shape == (3, 2)
        yb = jnp.broadcast_to(jnp.asarray(y, float), (3, 2))
        np.testing.assert_allclose(got, f(x, yb, geo), rtol=1e-15)
        np.testing.assert_allclose(f(y, x, geo).shape, (3, 2))


@pytest.mark.parametrize("op", ["logical_and", "logical_or", "logical_xor"])
def test_binary_shape_error(op):
    with pytest.raises(ValueError, match=rf"{op}: x and y are not broadcast-compatible"):
        getattr(sj, op)(jnp.ones((3, 2)), jnp.ones(3))


def test_boolean_inputs_give_floats():
    # all() and friends of bools return floats, not integers.
    b = jnp.array([[True, False], [True, True]])
    for out in (
        sj.all(b),
        sj.any(b),
        sj.logical_not(b),
        sj.logical_and(b, b),
        sj.logical_or(b, b),
        sj.logical_xor(b, b),
        sj.all(b, use_geometric_mean=True),
    ):
        assert out.dtype == jnp.float64
    np.testing.assert_array_equal(sj.all(b), [0.0, 1.0])
    np.testing.assert_array_equal(sj.any(jnp.array([0, 1, 0])), 1.0)


def test_float32_preserved():
    x = jnp.array([[0.1, 0.5], [0.9, 0.2]], jnp.float32)
    for out in (sj.all(x), sj.any(x, use_geometric_mean=True), sj.logical_not(x), sj.logical_xor(x, x, True)):
        assert out.dtype == jnp.float32


def test_axes():
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 3, 4)))
    assert sj.all(x).shape == (2, 3)  # default axis=-1
    np.testing.assert_allclose(sj.all(x, axis=0), jnp.prod(x, axis=0), rtol=1e-15)
    np.testing.assert_allclose(sj.all(x, axis=-2), jnp.prod(x, axis=1), rtol=1e-15)
    np.testing.assert_allclose(sj.all(x, axis=None), jnp.prod(x), rtol=1e-15)
    np.testing.assert_allclose(sj.any(x, axis=(0, 2)), 1 - jnp.prod(1 - x, axis=(0, 2)), rtol=1e-15)
    np.testing.assert_allclose(
        sj.all(x, axis=None, use_geometric_mean=True), jnp.exp(jnp.mean(jnp.log(x))), rtol=1e-14
    )
    with pytest.raises(ValueError, match="axis 3 is out of bounds for array of dimension 3"):
        sj.all(x, axis=3)
    with pytest.raises(ValueError, match="axis -4 is out of bounds"):
        sj.any(x, axis=-4)
    with pytest.raises(ValueError, match="repeated"):
        sj.all(x, axis=(0, -3))
    with pytest.raises(TypeError, match="axis must be an integer"):
        sj.all(x, axis=1.5)


def test_nan_propagates():
    x = jnp.array([jnp.nan, 0.5])
    for geo in (False, True):
        assert np.isnan(sj.all(x, use_geometric_mean=geo))
        assert np.isnan(sj.any(x, use_geometric_mean=geo))
        assert np.isnan(sj.logical_and(x, 0.5, geo)[0])
        assert np.isnan(sj.logical_xor(x, 0.5, geo)[0])


# --- hypothesis -----------------------------------------------------------------------

_BOOLS = hnp.arrays(np.bool_, (4, 3))


@jax.jit
def _logic_table(x, y, geo_x):
    return (
        sj.logical_not(x),
        sj.logical_and(x, y),
        sj.logical_or(x, y),
        sj.logical_xor(x, y),
        sj.all(x),
        sj.any(x),
        sj.all(x, axis=0),
        sj.any(x, axis=None),
        sj.logical_and(x, y, True),
        sj.logical_or(x, y, True),
        sj.logical_xor(x, y, True),
        sj.all(geo_x, use_geometric_mean=True),
        sj.any(geo_x, use_geometric_mean=True),
    )


@given(_BOOLS, _BOOLS)
def test_logic_matches_numpy_on_booleans(xb, yb):
    x, y = xb.astype(float), yb.astype(float)
    out = [np.asarray(o) for o in _logic_table(x, y, x)]
    expected = [
        ~xb,
        xb & yb,
        xb | yb,
        xb ^ yb,
        xb.all(-1),
        xb.any(-1),
        xb.all(0),
        xb.any(),
        xb & yb,
        xb | yb,
        xb ^ yb,
        xb.all(-1),
        xb.any(-1),
    ]
    for got, want in zip(out[:8], expected[:8], strict=True):
        np.testing.assert_array_equal(got, want.astype(float))
    # geometric mode is off by at most eps^(1/n) on hard inputs: rounding recovers them
    for got, want in zip(out[8:], expected[8:], strict=True):
        np.testing.assert_array_equal(np.round(got), want.astype(float))


_PROBS = hnp.arrays(np.float64, (4, 3), elements=st.floats(0, 1))


@given(_PROBS, _PROBS)
def test_softbool_in_unit_interval(x, y):
    for out in _logic_table(x, y, x):
        o = np.asarray(out)
        assert np.all((o >= 0) & (o <= 1 + 1e-15))


# --- transforms -----------------------------------------------------------------------


def _fns():
    return [
        lambda x, y: sj.logical_not(x),
        lambda x, y: sj.logical_and(x, y),
        lambda x, y: sj.logical_or(x, y, True),
        lambda x, y: sj.logical_xor(x, y),
        lambda x, y: sj.logical_xor(x, y, True),
        lambda x, y: sj.all(jnp.stack([x, y, x * y]), axis=0),
        lambda x, y: sj.any(jnp.stack([x, y]), axis=0, use_geometric_mean=True),
    ]


@jax.jit
def _transforms(x, y):
    outs = []
    for f in _fns():
        outs += [jax.vmap(f)(x, y), *jax.vmap(jax.grad(f, argnums=(0, 1)))(x, y)]
        outs.append(jax.jvp(f, (x, y), (jnp.ones_like(x), jnp.ones_like(y)))[1])
        outs.append(jax.vmap(jax.hessian(f))(x, y))
    return jnp.stack(outs)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.bfloat16])
def test_transforms_finite(dtype):
    x = jnp.asarray([0.0, 1.0, 0.5, 1e-12, 0.3], dtype)
    y = jnp.asarray([0.0, 1.0, 0.25, 0.0, 1.0], dtype)
    out = _transforms(x, y)
    assert out.dtype == dtype
    # the geometric mode's log(max(x, eps)) has a finite (zero) gradient at 0
    assert np.all(np.isfinite(np.asarray(out, np.float64)))


def test_check_grads():
    x = jnp.array([0.2, 0.5, 0.7])
    y = jnp.array([0.9, 0.35, 0.1])

    def f(x, y):
        return jnp.stack([g(x, y) for g in _fns()])

    check_grads(jax.jit(f), (x, y), order=2, modes=("fwd", "rev"))
