"""Soft count_nonzero, isin, allclose, array_equal and select (softjax._src.counting)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from jax.test_util import check_grads

import softjax as sj

SOFT_MODES = ["smooth", "c0", "c1", "c2"]
SMOOTH_MODES = ["smooth", "c1", "c2"]
INF, NAN = np.inf, np.nan


def assert_bits_equal(actual, expected):
    """Same dtype, shape and bit patterns (NaN payloads aside)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, (
        actual.dtype,
        expected.dtype,
        actual.shape,
        expected.shape,
    )
    if actual.dtype == bool:
        np.testing.assert_array_equal(actual, expected)
        return
    view = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[actual.dtype.itemsize]
    nan = np.isnan(actual) & np.isnan(expected) if actual.dtype.kind == "f" else False
    differ = (actual.view(view) != expected.view(view)) & ~nan
    assert not differ.any(), (actual[differ], expected[differ])


def _edge(dtype):
    """A (3, 6) array with ties, zeros of both signs, infinities and NaN (ints: no non-finite)."""
    rng = np.random.default_rng(0)
    base = np.round(rng.normal(size=(3, 6)) * 2) / 2  # many ties and zeros
    if jnp.issubdtype(dtype, jnp.integer):
        return jnp.asarray(np.round(base * 2), dtype)
    base[0, :4] = [0.0, -0.0, INF, -INF]
    base[1, 0] = NAN
    return jnp.asarray(base, dtype)


# --- hard mode == jax.numpy, bit for bit ------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.bfloat16, jnp.int32, jnp.bool_])
def test_hard_matches_jax(dtype):
    a = _edge(jnp.int32).astype(dtype) if dtype == jnp.bool_ else _edge(dtype)
    b = a[::-1]
    empty = jnp.zeros((0, 3), a.dtype)
    for axis in (None, 0, 1, -1, (0, 1)):
        for keepdims in (False, True):
            assert_bits_equal(
                sj.count_nonzero(a, axis, keepdims, mode="hard"), jnp.count_nonzero(a, axis, keepdims)
            )
    assert_bits_equal(sj.count_nonzero(empty, 0, mode="hard"), jnp.count_nonzero(empty, 0))
    t = jnp.concatenate([a[1, :3], jnp.zeros(1, a.dtype)])
    for invert in (False, True):
        assert_bits_equal(sj.isin(a, t, invert=invert, mode="hard"), jnp.isin(a, t, invert=invert))
        assert_bits_equal(sj.isin(a, t[:0], False, invert, mode="hard"), jnp.isin(a, t[:0], invert=invert))
    assert_bits_equal(sj.isin(empty, t, mode="hard"), jnp.isin(empty, t))
    for x, y in ((a, a), (a, b), (a, a[0]), (a, a + 1e-6), (empty, empty[:, :1]), (a[:1, 3], a[:1, 3])):
        for equal_nan in (False, True):
            assert_bits_equal(
                sj.allclose(x, y, 1e-3, 0.1, equal_nan, mode="hard"),
                jnp.allclose(x, y, 1e-3, 0.1, equal_nan),
            )
            assert_bits_equal(sj.array_equal(x, y, equal_nan, mode="hard"), jnp.array_equal(x, y, equal_nan))


def test_hard_select_is_jnp_select():
    rng = np.random.default_rng(1)
    conds = [jnp.asarray(rng.uniform(size=(2, 5)) < p) for p in (0.3, 0.5, 0.7)]
    for choices, default in (
        ([jnp.arange(5), 10 * jnp.arange(5), -jnp.arange(5)], 7),  # ints stay ints
        ([jnp.float32(1.5), jnp.full((2, 5), -0.0, jnp.float32), jnp.ones(5, jnp.bfloat16)], 0),
        ([jnp.full(5, INF), jnp.full(5, NAN), jnp.linspace(-1, 1, 5)], jnp.float64(-0.0)),
    ):
        assert_bits_equal(sj.select(conds, choices, default), jnp.select(conds, choices, default))
        # Float 0/1 conditions: the same values (in the promoted float dtype).
        soft = sj.select([c.astype(jnp.float64) for c in conds], choices, default)
        np.testing.assert_array_equal(soft, jnp.select(conds, choices, default))
        assert soft.dtype == jnp.float64


def test_hard_never_touches_softness():
    a = jnp.array([0.0, 1.0])
    sj.count_nonzero(a, softness=-1.0, mode="hard")
    sj.isin(a, a, softness=0.0, mode="hard")
    sj.allclose(a, a, softness="x", mode="hard")
    sj.array_equal(a, a, softness=jnp.nan, mode="hard")


# --- soft modes: definitions and limits ----------------------------------------------


@jax.jit
def _soft_outputs(a, t, b, s):
    out = {}
    for m in SOFT_MODES:
        out[m] = (
            sj.count_nonzero(a, axis=1, softness=s, mode=m),
            sj.isin(a, t, softness=s, mode=m),
            sj.isin(a, t, invert=True, softness=s, mode=m),
            sj.allclose(a, b, 1e-3, 0.01, softness=s, mode=m),
            sj.array_equal(a, b, softness=s, mode=m),
            sj.allclose(a, b, 1e-3, 0.01, softness=s, mode=m, use_geometric_mean=True),
            sj.array_equal(a, a, softness=s, mode=m),
        )
    return out


def test_soft_definitions():
    rng = np.random.default_rng(2)
    a = jnp.asarray(np.round(rng.normal(size=(3, 5)) * 4) / 8)  # ties and exact zeros
    t = jnp.asarray([0.0, 0.25, -0.5, 1.1])
    b = a + jnp.asarray(rng.normal(size=(3, 5)) * 0.05)
    for s in (0.05, 0.7):
        out = _soft_outputs(a, t, b, s)
        for m in SOFT_MODES:
            count, member, outside, close, equal, close_g, same = out[m]
            np.testing.assert_allclose(count, jnp.sum(sj.not_equal(a, 0.0, s, m), axis=1), rtol=1e-14)
            eq = sj.equal(a[..., None], t, s, m)
            np.testing.assert_allclose(member, 1 - jnp.prod(1 - eq, axis=-1), rtol=1e-14, atol=1e-15)
            np.testing.assert_allclose(outside, 1 - member, rtol=1e-14, atol=1e-15)
            c = sj.isclose(a, b, s, 1e-3, 0.01, m)
            np.testing.assert_allclose(close, jnp.prod(c), rtol=1e-13)
            np.testing.assert_allclose(close_g, sj.all(c, axis=None, use_geometric_mean=True), rtol=1e-13)
            np.testing.assert_allclose(equal, jnp.prod(sj.equal(a, b, s, m)), rtol=1e-13)
            assert same == 1.0  # exact ties are exactly 1
            for p in (member, close, equal, close_g):
                assert np.all((p >= 0) & (p <= 1))
            assert np.all((count >= 0) & (count <= a.shape[1]))
    # the hard limit, away from the soft bands
    near = _soft_outputs(a, t, b, 1e-6)
    hard = (
        jnp.count_nonzero(a, axis=1),
        jnp.isin(a, t),
        jnp.isin(a, t, invert=True),
        jnp.allclose(a, b, 1e-3, 0.01),
        jnp.array_equal(a, b),
        jnp.allclose(a, b, 1e-3, 0.01),
        True,
    )
    for m in SOFT_MODES:
        for i, (soft, h) in enumerate(zip(near[m], hard, strict=True)):
            if i != 5:  # the geometric mean of k misses in n is 1e-10 ** (k / n), not 0
                np.testing.assert_allclose(soft, np.asarray(h, np.float64), atol=1e-9)
    # shape mismatch is unequal, empty arrays are equal / close, as in jnp
    assert sj.array_equal(a, a[:2]) == 0.0 and sj.array_equal(a, a[:2]).dtype == jnp.float64
    assert sj.allclose(jnp.zeros(0), jnp.zeros(0), use_geometric_mean=True) == 1.0
    assert sj.array_equal(jnp.zeros((0, 2)), jnp.zeros((0, 2))) == 1.0
    assert sj.isin(a, jnp.zeros(0)).tolist() == np.zeros((3, 5)).tolist()


def test_select_first_true_wins():
    rng = np.random.default_rng(3)
    c = [jnp.asarray(rng.uniform(size=6)) for _ in range(3)]
    x = [jnp.asarray(rng.normal(size=6)) for _ in range(3)]
    d = jnp.asarray(rng.normal(size=6))
    expected = c[0] * x[0] + (1 - c[0]) * (c[1] * x[1] + (1 - c[1]) * (c[2] * x[2] + (1 - c[2]) * d))
    np.testing.assert_allclose(sj.select(c, x, d), expected, rtol=1e-14)
    # weights c_i prod_{j<i}(1 - c_j) and prod_j (1 - c_j)
    w = [c[0], (1 - c[0]) * c[1], (1 - c[0]) * (1 - c[1]) * c[2], (1 - c[0]) * (1 - c[1]) * (1 - c[2])]
    mixture = sum(wi * xi for wi, xi in zip(w, [*x, d], strict=True))
    np.testing.assert_allclose(sj.select(c, x, d), mixture, rtol=1e-13)
    np.testing.assert_allclose(sum(w), 1.0, rtol=1e-15)
    # a condition that certainly holds hides every later branch, even a non-finite one
    out = sj.select([c[0], jnp.ones(6), c[2]], [x[0], x[1], jnp.full(6, NAN)], default=jnp.inf)
    np.testing.assert_allclose(out, c[0] * x[0] + (1 - c[0]) * x[1], rtol=1e-14)
    g = jax.grad(lambda v: jnp.sum(sj.select([c[0], jnp.ones(6)], [v, x[1]], default=jnp.nan)))(x[0])
    np.testing.assert_allclose(g, c[0], rtol=1e-14)
    # a soft condition blends a NaN branch in: NaN out
    assert np.all(np.isnan(sj.select([c[0]], [jnp.full(6, NAN)])))


@jax.jit
def _non_finite(x, y):
    out = {}
    for m in SOFT_MODES:
        out[m] = {
            "isin_inf": sj.isin(x[:4], jnp.array([INF, 2.0]), mode=m),
            "isin_nan": sj.isin(x, jnp.array([2.0]), mode=m),
            "isin_nan_test": sj.isin(jnp.array([1.0, 2.0]), jnp.array([1.0, NAN]), mode=m),
            "tie": jnp.stack([sj.allclose(x[:2], y[:2], mode=m), sj.array_equal(x[:2], y[:2], mode=m)]),
            "miss": jnp.stack([sj.allclose(x[2:4], y[2:4], mode=m), sj.array_equal(x[2:4], y[2:4], mode=m)]),
            "nan": jnp.stack([sj.allclose(x[4:], y[4:], mode=m), sj.array_equal(x, y, mode=m)]),
            "equal_nan": jnp.stack(
                [
                    sj.allclose(x[5:], y[5:], equal_nan=True, mode=m),
                    sj.array_equal(x[4:5], y[4:5], equal_nan=True, mode=m),
                ]
            ),
            "count": jnp.stack(
                [sj.count_nonzero(jnp.array([INF, -INF, 0.0]), mode=m), sj.count_nonzero(x[3:5], mode=m)]
            ),
        }
    v = jnp.array([INF, -INF, 0.5])
    w = jnp.array([INF, 2.0, 0.45])
    out["grad"] = jax.grad(lambda v: sj.allclose(v, w) + jnp.sum(sj.isin(v, w)) + sj.count_nonzero(v))(v)
    return out


def test_non_finite_inputs():
    out = _non_finite(jnp.array([INF, -INF, INF, 1.0, NAN, NAN]), jnp.array([INF, -INF, -INF, INF, 1.0, NAN]))
    for m in SOFT_MODES:
        o = out[m]
        # equal infinities are a tie (1), an infinity against anything else 0; NaN propagates
        np.testing.assert_array_equal(o["isin_inf"][:3], [1.0, 0.0, 1.0])
        assert np.isnan(o["isin_nan"][4]) and np.all(np.isnan(o["isin_nan_test"]))
        np.testing.assert_array_equal(o["tie"], [1.0, 1.0])
        np.testing.assert_array_equal(o["miss"], [0.0, 0.0])
        assert np.all(np.isnan(o["nan"]))
        # equal_nan: NaN pairs equal, NaN against a number unequal
        np.testing.assert_array_equal(o["equal_nan"], [1.0, 0.0])
        # infinities count as nonzero; a NaN makes its count NaN
        assert o["count"][0] == 2.0 and np.isnan(o["count"][1])
    # zero gradient where the result is decided by an infinity; finite elsewhere
    g = out["grad"]
    assert g[0] == 0.0 and g[1] == 0.0 and np.isfinite(g[2]) and g[2] != 0.0


# --- gradients and transforms -------------------------------------------------------


@pytest.mark.parametrize("mode", SMOOTH_MODES)
def test_check_grads(mode):
    # Points away from the piecewise modes' band edges at s = 0.3.
    a = jnp.array([0.07, -0.31, 0.52, 1.13])
    t = jnp.array([0.12, -0.45, 1.0])
    b = jnp.array([0.11, -0.22, 0.61, 1.05])
    c = jnp.array([0.2, 0.7, 0.45, 0.9])

    def f(a, t, b, c, s):
        return jnp.concatenate(
            [
                sj.count_nonzero(a, softness=s, mode=mode)[None],
                sj.isin(a, t, softness=s, mode=mode),
                sj.allclose(a, b, 0.05, 0.01, softness=s, mode=mode)[None],
                sj.allclose(a, b, softness=s, mode=mode, use_geometric_mean=True)[None],
                sj.array_equal(a, b, softness=s, mode=mode)[None],
                sj.select([c, 1 - c**2], [a, b], default=t[0]),
            ]
        )

    check_grads(jax.jit(f), (a, t, b, c, 0.3), order=2, modes=("fwd", "rev"), eps=1e-5)


def test_jit_vmap_consistency():
    a = jnp.array([[0.0, 0.04, -0.3, 1.0], [0.02, 0.0, 0.0, -0.5]])
    t = jnp.array([0.0, 1.0])

    def f(a):
        return jnp.stack(
            [
                sj.count_nonzero(a, softness=0.05, mode="c2"),
                sj.isin(a, t, softness=0.05)[0],
                sj.allclose(a, a[::-1], softness=0.05, mode="c1"),
                sj.array_equal(a, jnp.zeros(4), softness=0.05),
                sj.select([sj.greater(a, 0.0, 0.05)], [a])[2],
            ]
        )

    eager = jnp.stack([f(r) for r in a], axis=1)

    @jax.jit
    def transformed(a):
        grads = jax.vmap(jax.grad(lambda r: jnp.sum(f(r))))(a)
        jvp = jax.vmap(lambda r: jnp.sum(jax.jvp(f, (r,), (jnp.ones_like(r),))[1]))(a)
        return jax.vmap(f, out_axes=1)(a), grads, jvp

    vmapped, grads, jvp = transformed(a)
    np.testing.assert_allclose(vmapped, eager, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(jnp.sum(grads, axis=1), jvp, rtol=1e-12, atol=1e-14)
    # traced softness
    out = jax.jit(lambda s: sj.count_nonzero(a, axis=1, softness=s, mode="c1"))(0.05)
    np.testing.assert_allclose(out, sj.count_nonzero(a, axis=1, softness=0.05, mode="c1"), rtol=1e-14)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float64])
def test_extremes_are_finite(dtype):
    top = 0.9 * float(jnp.finfo(dtype).max)
    x = jnp.asarray([top, -top, 1e-30, 0.0, -1e-30, 1.0, 1e20, -1e20, 1.0], dtype)
    y = x[::-1]

    @jax.jit
    def run(x, y, softness):
        out = []
        for m in SOFT_MODES:

            def outputs(x, y, s, m=m):
                return (
                    sj.isin(x, y, softness=s, mode=m),
                    sj.allclose(x, y, softness=s, mode=m),
                    sj.allclose(x, x, softness=s, mode=m, use_geometric_mean=True),
                    sj.array_equal(x, y, softness=s, mode=m),
                    sj.array_equal(x, x, softness=s, mode=m),
                    sj.count_nonzero(x, softness=s, mode=m),
                    sj.select([sj.greater(x, 0.0, s, m), sj.less(y, 0.0, s, m)], [x, y], default=-x),
                )

            def total(x, y, s):
                return sum(jnp.sum(jnp.tanh(o)) for o in outputs(x, y, s)).astype(jnp.float32)

            value_and_grad = jax.vmap(
                lambda s: (outputs(x, y, s), jax.grad(total, (0, 1))(x, y, s)), in_axes=0
            )
            out.append(value_and_grad(softness))
        return out

    for values, grads in run(x, y, jnp.array([1e-6, 1.0, 1e3], jnp.float32)):
        for v in values:
            assert np.all(np.isfinite(np.asarray(v, np.float64)))
        for soft_bool in values[:5]:
            p = np.asarray(soft_bool, np.float64)
            assert np.all((p >= 0) & (p <= 1))
        assert np.all(np.asarray(values[5], np.float64) <= x.size)
        for g in grads:
            assert np.all(np.isfinite(np.asarray(g, np.float64)))


def test_dtypes_and_shapes():
    f32 = jax.ShapeDtypeStruct((2, 3), jnp.float32)
    bf16 = jax.ShapeDtypeStruct((3,), jnp.bfloat16)

    def shape(fn, *args, **kw):
        return jax.eval_shape(lambda *a: fn(*a, **kw), *args)

    o = shape(sj.count_nonzero, f32, axis=0, keepdims=True)
    assert o.shape == (1, 3) and o.dtype == jnp.float32
    assert shape(sj.count_nonzero, bf16).dtype == jnp.bfloat16
    assert shape(sj.count_nonzero, jnp.arange(3)).dtype == jnp.float64
    assert shape(sj.count_nonzero, f32, mode="hard").dtype == jnp.count_nonzero(jnp.ones(2)).dtype
    o = shape(sj.isin, f32, jax.ShapeDtypeStruct((4, 2), jnp.float32))
    assert o.shape == (2, 3) and o.dtype == jnp.float32
    assert shape(sj.isin, bf16, jnp.arange(2)).dtype == jnp.bfloat16
    assert shape(sj.isin, f32, f32, mode="hard").dtype == jnp.bool_
    o = shape(sj.allclose, f32, jax.ShapeDtypeStruct((3,), jnp.float32))
    assert o.shape == () and o.dtype == jnp.float32
    assert shape(sj.array_equal, bf16, bf16).dtype == jnp.bfloat16
    assert shape(sj.array_equal, jnp.arange(3), jnp.arange(3)).dtype == jnp.float64
    o = shape(sj.select, [f32, bf16], [bf16, f32], default=jnp.float32(0))
    assert o.shape == (2, 3) and o.dtype == jnp.float32


@jax.jit
def _st_and_soft(x, y):
    cases = {
        "count_nonzero": lambda f, x: f(x, mode="c1"),
        "isin": lambda f, x: f(x, y, invert=True, mode="c1"),
        "allclose": lambda f, x: f(x, y, atol=0.02, mode="c1"),
        "array_equal": lambda f, x: f(x, y, mode="c1"),
    }
    out = {}
    for name, call in cases.items():
        st_fn, soft = getattr(sj, f"{name}_st"), getattr(sj, name)
        grads = [jax.grad(lambda t, f=f, call=call: jnp.sum(call(f, t)))(x) for f in (st_fn, soft)]
        out[name] = (call(st_fn, x), *grads)
    return out


def test_st_twins():
    x = jnp.array([0.0, 0.9, 2.0, 3.0, -0.02])
    y = jnp.array([0.0, 1.0, 2.0, 3.05, 0.0])
    hard = {
        "count_nonzero": jnp.count_nonzero(x),
        "isin": jnp.isin(x, y, invert=True),
        "allclose": jnp.allclose(x, y, atol=0.02),
        "array_equal": jnp.array_equal(x, y),
    }
    for name, (value, g_st, g) in _st_and_soft(x, y).items():
        assert value.dtype == jnp.float64  # the hard integer / boolean in the soft float dtype
        np.testing.assert_array_equal(value, np.asarray(hard[name], np.float64))
        np.testing.assert_allclose(g_st, g, rtol=1e-14)
        assert np.abs(g).max() > 1e-3, name


# --- invariants ------------------------------------------------------------------------


_FLOATS = st.floats(-3.0, 3.0, allow_nan=False, width=64)


@jax.jit
def _invariants(a, c, s):
    out = {}
    for m in SOFT_MODES:
        weights = sj.select(list(c), list(jnp.eye(4)[:3]), default=jnp.eye(4)[3])
        out[m] = (
            sj.count_nonzero(a, softness=s, mode=m),
            sj.isin(a, a[::2] + 0.1, softness=s, mode=m),
            sj.allclose(a, a[::-1], softness=s, mode=m),
            weights,
        )
    return out


@given(
    a=st.lists(_FLOATS.map(lambda v: round(v, 1)), min_size=6, max_size=6),
    c=st.lists(st.floats(0.0, 1.0, width=64), min_size=3, max_size=3),
    s=st.floats(1e-3, 10.0),
)
def test_invariants(a, c, s):
    a = jnp.asarray(a)
    c = jnp.asarray(c)[:, None]  # 3 conditions of shape (1,), against one-hot choices (4,)
    for count, member, close, weights in _invariants(a, c, s).values():
        assert -1e-12 <= count <= a.size + 1e-12
        assert np.all((member >= 0) & (member <= 1)) and 0 <= close <= 1
        # select's weights: non-negative, summing to 1
        assert weights.shape == (4,)
        assert np.all(weights >= 0)
        np.testing.assert_allclose(jnp.sum(weights, axis=-1), 1.0, rtol=1e-14)


# --- errors ----------------------------------------------------------------------------


def test_errors():
    a = jnp.array([0.0, 1.0])
    with pytest.raises(ValueError, match="Invalid mode: 'soft'"):
        sj.count_nonzero(a, mode="soft")
    with pytest.raises(ValueError, match="softness must be positive"):
        sj.isin(a, a, softness=0.0)
    with pytest.raises(ValueError, match="softness must be positive"):
        sj.allclose(a, a, softness=-1.0)
    with pytest.raises(TypeError):
        sj.count_nonzero(a, None, False, 0.1)  # softness is keyword-only
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):
        sj.count_nonzero(a, axis=2)
    with pytest.raises(ValueError, match="repeated"):
        sj.count_nonzero(jnp.zeros((2, 2)), axis=(0, -2))
    with pytest.raises(ValueError, match="allclose: a and b are not broadcast-compatible"):
        sj.allclose(a, jnp.ones(3))
    with pytest.raises(TypeError, match="soft modes need real input"):
        sj.array_equal(a + 1j, a)
    with pytest.raises(ValueError, match="same length, got 2 conditions and 1 choices"):
        sj.select([a, a], [a])
    with pytest.raises(ValueError, match="condlist must be non-empty"):
        sj.select([], [])
    with pytest.raises(ValueError, match=r"select: .*choicelist\[0\].* are not broadcast-compatible"):
        sj.select([a], [jnp.ones(3)])
