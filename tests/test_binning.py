"""Soft searchsorted, digitize, histogram, bincount and one_hot (_src.searching, _src.binning)."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj
from softjax._src import searching

SOFT_MODES = ["smooth", "c0", "c1", "c2"]
SMOOTH_MODES = ["smooth", "c1", "c2"]


def assert_bits_equal(actual, expected):
    """Same dtype, shape and bit patterns (NaN payloads aside)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, (
        actual.dtype,
        expected.dtype,
        actual.shape,
        expected.shape,
    )
    view = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[actual.dtype.itemsize]
    nan = np.isnan(actual) & np.isnan(expected) if actual.dtype.kind == "f" else False
    differ = (actual.view(view) != expected.view(view)) & ~nan
    assert not differ.any(), (actual[differ], expected[differ])


def _sorted_with_ties(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = np.sort(np.round(rng.normal(size=n) * 4) / 2)  # many ties
    return jnp.asarray(a, dtype)


_EDGE_V = [-np.inf, np.inf, np.nan, 0.0, -0.0, 0.5, 1.0, -1.0, 1e30, -1e30, 2.25, 3.0]


# --- hard mode == jax.numpy, bit for bit ------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.bfloat16, jnp.int32])
def test_hard_search_matches_jax(dtype):
    is_int = jnp.issubdtype(dtype, jnp.integer)
    a = _sorted_with_ties(40, jnp.float64)
    a = a.astype(dtype) if not is_int else jnp.round(a).astype(dtype)
    v = np.array(_EDGE_V if not is_int else [-3, 0, 1, 2, 7, 100], np.float64)
    v = jnp.asarray(np.concatenate([v, np.asarray(a[::3], np.float64)])).astype(dtype).reshape(2, -1)
    for side in ("left", "right"):
        assert_bits_equal(sj.searchsorted(a, v, side, mode="hard"), jnp.searchsorted(a, v, side=side))
    for right in (False, True):
        for bins in (a, a[::-1]):
            assert_bits_equal(sj.digitize(v, bins, right, mode="hard"), jnp.digitize(v, bins, right=right))
    assert_bits_equal(sj.digitize(v, a[:0], mode="hard"), jnp.digitize(v, a[:0]))


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.bfloat16])
def test_hard_histogram_matches_jax(dtype):
    rng = np.random.default_rng(1)
    x = jnp.asarray(np.round(rng.normal(size=200) * 8) / 8, dtype)  # samples on the edges
    w = jnp.asarray(rng.uniform(size=200), dtype)
    edges = jnp.asarray([-2.0, -1.0, 0.0, 0.5, 2.0], dtype)
    for kw in (
        {},
        {"bins": 7},
        {"bins": 4, "range": (-1.0, 1.0)},
        {"bins": edges},
        {"bins": 5, "weights": w},
        {"bins": 6, "range": (-1.0, 1.0), "density": True},
        {"bins": 3, "range": (0.5, 0.5)},
    ):
        ours, theirs = sj.histogram(x, mode="hard", **kw), jnp.histogram(x, **kw)
        assert_bits_equal(ours[0], theirs[0])
        assert_bits_equal(ours[1], theirs[1])


def test_hard_bincount_matches_jax():
    rng = np.random.default_rng(2)
    xi = jnp.asarray(rng.integers(-3, 12, size=60), jnp.int32)
    w = jnp.asarray(rng.uniform(size=60), jnp.float32)
    for length in (0, 1, 10):
        assert_bits_equal(sj.bincount(xi, length=length, mode="hard"), jnp.bincount(xi, length=length))
        assert_bits_equal(sj.bincount(xi, w, length=length, mode="hard"), jnp.bincount(xi, w, length=length))
        for fdtype in (jnp.float32, jnp.float64, jnp.bfloat16):
            xf = xi.astype(fdtype)  # integer-valued floats: jnp.bincount of the ints, as floats
            expected = jnp.bincount(xi, length=length).astype(fdtype)
            assert_bits_equal(sj.bincount(xf, length=length, mode="hard"), expected)
            wf = w.astype(fdtype)
            assert_bits_equal(
                sj.bincount(xf, wf, length=length, mode="hard"), jnp.bincount(xi, wf, length=length)
            )
    # Reals are rounded half to even (jnp.round); infinities go to bin 0 / are dropped.
    xr = jnp.array([0.5, 1.5, 2.4999, -0.7, jnp.inf, -jnp.inf, 1e30, 2.6])
    np.testing.assert_array_equal(sj.bincount(xr, length=4, mode="hard"), [3.0, 0.0, 2.0, 1.0])
    assert np.all(np.isnan(sj.bincount(jnp.array([1.0, jnp.nan]), length=3, mode="hard")))


def test_hard_one_hot_matches_jax():
    i_int = jnp.array([[-1, 0, 2], [3, 4, 1]], jnp.int32)
    i_float = jnp.array([[-0.4, 0.5, 1.5], [2.49, 3.7, jnp.nan]], jnp.float32)
    for axis in (-1, 0, 1):
        for dtype in (None, jnp.float32, jnp.bfloat16, jnp.int8):
            assert_bits_equal(
                sj.one_hot(i_int, 4, mode="hard", axis=axis, dtype=dtype),
                jax.nn.one_hot(i_int, 4, axis=axis, dtype=dtype),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = jax.nn.one_hot(jnp.round(i_float), 4, axis=axis, dtype=dtype)
            assert_bits_equal(sj.one_hot(i_float, 4, mode="hard", axis=axis, dtype=dtype), expected)


def test_hard_never_touches_softness():
    a = jnp.array([0.0, 1.0])
    sj.searchsorted(a, 0.5, softness=-1.0, mode="hard")
    sj.digitize(0.5, a, softness="x", mode="hard")
    sj.bincount(jnp.array([1]), length=2, softness=0.0, mode="hard")
    sj.one_hot(1, 3, softness=-2.0, mode="hard")
    sj.histogram(a, softness=-1.0, mode="hard")


# --- soft modes ----------------------------------------------------------------------


@jax.jit
def _near_hard(a, v, x, xi):
    out = []
    for m in SOFT_MODES:
        kw = dict(softness=1e-5, mode=m)
        out.append(
            (
                sj.searchsorted(a, v, "left", **kw),
                sj.searchsorted(a, v, "right", **kw),
                sj.digitize(v, a, **kw),
                sj.digitize(v, a[::-1], True, **kw),
                sj.histogram(x, 5, (-1.0, 1.0), **kw)[0],
                sj.bincount(xi, length=6, **kw),
                sj.one_hot(xi, 6, **kw),
            )
        )
    return out


def test_soft_tends_to_hard_away_from_ties():
    rng = np.random.default_rng(3)
    a = jnp.sort(jnp.asarray(rng.normal(size=100)))  # > 64: the windowed path
    v = jnp.asarray(rng.normal(size=(3, 11)) * 2)
    x = jnp.asarray(rng.uniform(-1.3, 1.3, size=50))
    xi = jnp.asarray(rng.uniform(-1, 6.4, size=30))
    hard = (
        jnp.searchsorted(a, v, "left"),
        jnp.searchsorted(a, v, "right"),
        jnp.digitize(v, a),
        jnp.digitize(v, a[::-1], right=True),
        jnp.histogram(x, 5, (-1.0, 1.0))[0],
        sj.bincount(xi, length=6, mode="hard"),
        sj.one_hot(jnp.clip(xi, 0, 5), 6, mode="hard"),  # soft rows stay on the simplex
    )
    for soft in _near_hard(a, v, x, xi):
        for s, h in zip(soft, hard, strict=True):
            np.testing.assert_allclose(s, h, atol=1e-9)


def test_ties_follow_the_comparison_convention():
    a = jnp.array([0.0, 1.0, 1.0, 2.0])
    for m in SOFT_MODES:
        left = sj.searchsorted(a, 1.0, softness=1e-3, mode=m)
        right = sj.searchsorted(a, 1.0, "right", softness=1e-3, mode=m)
        expected_left = 1 + 2 * sj.greater(1.0, 1.0, 1e-3, m)
        np.testing.assert_allclose(left, expected_left, rtol=1e-15)
        assert 1.0 < left < 2.0 < right < 3.0


@jax.jit
def _windowed_and_dense(a, v, s):
    out = []
    for m in SOFT_MODES:
        for side in ("left", "right"):

            def windowed(a, v, m=m, side=side):
                return sj.searchsorted(a, v, side, softness=s, mode=m)

            def dense(a, v, m=m, side=side):
                return searching._dense_count(a, v, side, s, m)

            w = jnp.cos(jnp.arange(v.size, dtype=v.dtype))
            out.append(
                (
                    (windowed(a, v), jax.grad(lambda a, v, f=windowed, w=w: w @ f(a, v), (0, 1))(a, v)),
                    (dense(a, v), jax.grad(lambda a, v, f=dense, w=w: w @ f(a, v), (0, 1))(a, v)),
                )
            )
    return out


@pytest.mark.parametrize("softness", [1e-3, 0.05, 3.0])  # 3.0: bands wider than the window
def test_window_matches_dense(softness):
    rng = np.random.default_rng(4)
    a = jnp.sort(jnp.asarray(np.round(rng.normal(size=300) * 20) / 20))  # ties
    v = jnp.concatenate([jnp.asarray(rng.normal(size=40) * 3), a[::7], jnp.array([-1e300, 1e300])])
    for windowed, dense in _windowed_and_dense(a, v, softness):
        for got, expected in zip(jax.tree.leaves(windowed), jax.tree.leaves(dense), strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_counts_sum_to_the_in_range_number():
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=80))
    w = jnp.asarray(rng.uniform(size=80))
    for m in SOFT_MODES:
        for s in (0.01, 0.3):
            counts, edges = sj.histogram(x, 6, (-1.0, 1.5), weights=w, softness=s, mode=m)
            inside = sj.greater_equal(x, edges[0], s, m) - sj.greater(x, edges[-1], s, m)
            np.testing.assert_allclose(jnp.sum(counts), jnp.sum(w * inside), rtol=1e-13)
            assert np.all(counts >= -1e-15)
            bc = sj.bincount(x * 3, w, length=4, softness=s, mode=m)
            np.testing.assert_allclose(
                jnp.sum(bc), jnp.sum(w * (1 - sj.sigmoidal(x * 3 - 3.5, s, m))), rtol=1e-13
            )
        hard_in = jnp.sum(w * ((x >= -1.0) & (x <= 1.5)))
        np.testing.assert_allclose(
            jnp.sum(sj.histogram(x, 6, (-1.0, 1.5), weights=w, softness=1e-6, mode=m)[0]), hard_in, rtol=1e-12
        )
    density = sj.histogram(x, 4, density=True, mode="c1")[0]
    edges = sj.histogram(x, 4, mode="c1")[1]
    np.testing.assert_allclose(jnp.sum(density * jnp.diff(edges)), 1.0, rtol=1e-13)


def test_one_hot_rows_on_the_simplex():
    i = jnp.concatenate([jnp.linspace(-3, 8, 111), jnp.array([1e300, -1e300, 2.5])])
    for m in SOFT_MODES:
        for s in (1e-6, 0.1, 0.7, 1e3):
            p = sj.one_hot(i, 6, softness=s, mode=m)
            assert p.shape == (114, 6)
            assert np.all(p >= 0)
            np.testing.assert_allclose(jnp.sum(p, -1), 1.0, atol=1e-14)
    # c0 at softness 0.1 is the linear interpolation between the neighbouring integers.
    x = jnp.linspace(0, 5, 23)
    lin = jnp.maximum(0.0, 1 - jnp.abs(x[:, None] - jnp.arange(6.0)))
    np.testing.assert_allclose(sj.one_hot(x, 6, mode="c0"), lin, atol=1e-14)
    # Its mean is soft round (inside the class range).
    y = jnp.linspace(1.5, 3.5, 17)
    for m in SOFT_MODES:  # (smooth: up to the logistic tails beyond the end cells)
        mean = sj.one_hot(y, 6, softness=0.1, mode=m) @ jnp.arange(6.0)
        np.testing.assert_allclose(mean, sj.round(y, 0.1, m), atol=1e-5 if m == "smooth" else 1e-12)
    # axis and dtype
    p = sj.one_hot(jnp.zeros((2, 3)), 4, axis=1, dtype=jnp.bfloat16)
    assert p.shape == (2, 4, 3) and p.dtype == jnp.bfloat16


def test_bincount_masses_are_round_cells():
    x = jnp.array([-2.0, 0.2, 0.5, 1.0, 2.9, 3.2, 7.0])
    for m in SOFT_MODES:
        out = sj.bincount(x, length=4, softness=0.1, mode=m)
        per = jnp.stack([sj.bincount(x[k : k + 1], length=4, softness=0.1, mode=m) for k in range(7)])
        np.testing.assert_allclose(out, per.sum(0), rtol=1e-14)
        np.testing.assert_allclose(per[:, 1:3].sum(), float(jnp.sum(per[:, 1:3])), rtol=1e-14)
    # half-integers split evenly; negatives count at 0; beyond the last bin dropped
    np.testing.assert_allclose(sj.bincount(jnp.array([1.5]), length=3, mode="c2"), [0, 0.5, 0.5], atol=1e-15)
    np.testing.assert_allclose(sj.bincount(jnp.array([-5.0, 9.0]), length=3, mode="c2"), [1, 0, 0])


def test_dtypes_and_shapes():
    f32, bf16 = jax.ShapeDtypeStruct((3,), jnp.float32), jax.ShapeDtypeStruct((3,), jnp.bfloat16)

    def shape(fn, *args, **kw):
        out = jax.eval_shape(lambda *a: fn(*a, **kw), *args)
        return out if isinstance(out, tuple) else (out,)

    (o,) = shape(sj.searchsorted, f32, jax.ShapeDtypeStruct((2, 5), jnp.float32))
    assert o.shape == (2, 5) and o.dtype == jnp.float32
    assert shape(sj.searchsorted, bf16, bf16)[0].dtype == jnp.bfloat16
    assert shape(sj.searchsorted, jnp.arange(3), jnp.arange(2))[0].dtype == jnp.float64
    assert shape(sj.searchsorted, jnp.zeros(0), f32)[0].shape == (3,)
    assert shape(sj.digitize, f32, jnp.zeros(0, jnp.float32))[0].dtype == jnp.float32
    c, e = shape(sj.histogram, bf16, bins=4)
    assert c.dtype == e.dtype == jnp.bfloat16 and c.shape == (4,) and e.shape == (5,)
    assert shape(sj.bincount, jnp.arange(3), length=5)[0].dtype == jnp.float64
    assert shape(sj.bincount, f32, jnp.ones(3), length=2)[0].dtype == jnp.float64
    assert shape(sj.bincount, bf16, length=2)[0].dtype == jnp.bfloat16
    # JAX's default float (x64 on)
    assert shape(sj.one_hot, jnp.arange(3), num_classes=4)[0].dtype == jnp.float64
    assert shape(sj.one_hot, bf16, num_classes=4, dtype=jnp.float32)[0].shape == (3, 4)


def test_nan_propagates():
    a = jnp.array([0.0, 1.0, 2.0])
    big = jnp.linspace(0, 1, 100).at[-1].set(jnp.nan)
    for m in SOFT_MODES:
        out = sj.searchsorted(a, jnp.array([jnp.nan, 0.5]), mode=m)
        assert np.isnan(out[0]) and np.isfinite(out[1])
        assert np.all(np.isnan(sj.searchsorted(big, jnp.array([0.1, 0.2]), mode=m)))
        assert np.all(np.isnan(sj.histogram(jnp.array([jnp.nan, 0.5]), 2, (0.0, 1.0), mode=m)[0]))
        assert np.all(np.isnan(sj.bincount(jnp.array([jnp.nan, 0.5]), length=2, mode=m)))
        p = sj.one_hot(jnp.array([jnp.nan, 0.5]), 3, mode=m)
        assert np.all(np.isnan(p[0])) and np.all(np.isfinite(p[1]))


# --- gradients and transforms -------------------------------------------------------


@pytest.mark.parametrize("mode", SMOOTH_MODES)
def test_check_grads(mode):
    # Points away from the piecewise modes' band edges at s = 0.3 (c1's second
    # derivative jumps there).
    a = jnp.array([-1.1, -0.2, 0.45, 1.3])
    v = jnp.array([-0.7, 0.1, 0.9, 2.9])
    x = jnp.array([0.03, 0.71, 1.42, 2.13, 2.77])
    w = jnp.array([1.0, 0.5, 2.0, 1.5, 0.25])

    def f(a, v, x, w, s):
        return jnp.concatenate(
            [
                sj.searchsorted(a, v, softness=s, mode=mode),
                sj.searchsorted(a, v, "right", softness=s, mode=mode),
                sj.digitize(v, a[::-1], softness=s, mode=mode),
                sj.histogram(x, a + 1.5, weights=w, softness=s, mode=mode)[0],
                sj.bincount(x, w, length=3, softness=s, mode=mode),
                sj.one_hot(x, 3, softness=s, mode=mode).ravel(),
            ]
        )

    check_grads(jax.jit(f), (a, v, x, w, 0.3), order=2, modes=("fwd", "rev"), eps=1e-5)


def test_jit_vmap_consistency():
    a = jnp.linspace(-2, 2, 90)
    v = jnp.array([[-2.3, -0.7, 0.0], [0.31, 1.5, 2.8]])

    def f(v):
        return jnp.stack(
            [sj.searchsorted(a, v, softness=0.05, mode=m) for m in ("smooth", "c1")]
            + [sj.one_hot(v, 3, softness=0.3, mode="c2")[..., 1]]
        )

    eager = f(v)

    @jax.jit
    def transformed(v):
        grads = jax.vmap(jax.grad(lambda t: jnp.sum(f(t))))(v)
        jvp = jax.jvp(f, (v,), (jnp.ones_like(v),))[1]
        return f(v), jax.vmap(f, out_axes=1)(v), grads, jnp.sum(jvp, axis=0)

    jitted, vmapped, grads, jvp = transformed(v)
    np.testing.assert_allclose(jitted, eager, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(vmapped, eager, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(grads, jvp, rtol=1e-12, atol=1e-14)
    # traced softness, vmapped over a (batched predicate of the window's fallback)
    batch = jnp.stack([a, 2 * a])
    out = jax.jit(jax.vmap(lambda a, s: sj.searchsorted(a, v, softness=s, mode="c2"), in_axes=(0, None)))(
        batch, 0.05
    )
    np.testing.assert_allclose(out[0], sj.searchsorted(a, v, softness=0.05, mode="c2"), rtol=1e-13)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_extremes_are_finite(dtype):
    top = 0.9 * float(jnp.finfo(dtype).max)
    a = jnp.sort(
        jnp.asarray(np.r_[-top, -1e20, -1.0, -1e-30, 0.0, 1e-30, 1.0, 1e20, top] * np.ones(1), dtype)
    )
    a_big = jnp.sort(jnp.concatenate([a] * 8))  # 72 > 64: windowed path
    v = jnp.asarray([top, -top, 1e-30, 3.0, -1e20], dtype)

    @jax.jit
    def run(a, a_big, v, softness):
        out = []
        for m in SOFT_MODES:

            def total(a, v, a_big, s, m=m):
                return (
                    jnp.sum(sj.searchsorted(a, v, softness=s, mode=m).astype(jnp.float32))
                    + jnp.sum(sj.searchsorted(a_big, v, "right", softness=s, mode=m).astype(jnp.float32))
                    + jnp.sum(sj.digitize(v, a, softness=s, mode=m).astype(jnp.float32))
                    + jnp.sum(sj.histogram(v, a, softness=s, mode=m)[0].astype(jnp.float32))
                    + jnp.sum(sj.histogram(v, 3, (-1.0, 1.0), softness=s, mode=m)[0].astype(jnp.float32))
                    + jnp.sum(sj.bincount(v, length=4, softness=s, mode=m).astype(jnp.float32))
                    + jnp.sum(sj.one_hot(v, 4, softness=s, mode=m) * jnp.arange(4.0))
                )

            grad = jax.value_and_grad(total, argnums=(0, 1, 2))
            out.append(jax.vmap(grad, in_axes=(None, None, None, 0))(a, v, a_big, softness))
        return out

    for value, grads in run(a, a_big, v, jnp.array([1e-6, 1.0, 1e3], jnp.float32)):
        assert np.all(np.isfinite(value))
        for g in grads:
            assert np.all(np.isfinite(np.asarray(g, np.float64)))


def test_st_twins():
    a = jnp.array([0.0, 1.0, 1.0, 2.0, 3.0])
    x = jnp.array([-0.5, 0.5, 1.0, 2.5, 4.0])
    cases = {
        "searchsorted": ((a, x), {}, jnp.searchsorted(a, x)),
        "digitize": ((x, a), {"right": True}, jnp.digitize(x, a, right=True)),
        "bincount": ((x,), {"length": 4}, sj.bincount(x, length=4, mode="hard")),
        "one_hot": ((x, 4), {}, sj.one_hot(x, 4, mode="hard")),
    }
    for name, (args, kw, hard) in cases.items():
        st, soft = getattr(sj, f"{name}_st"), getattr(sj, name)
        value = st(*args, mode="c1", **kw)
        np.testing.assert_array_equal(value, hard)
        g_st = jax.jit(
            jax.grad(lambda t, st=st, args=args, kw=kw: jnp.sum(st(t, *args[1:], mode="c1", **kw)))
        )(args[0])
        g = jax.jit(
            jax.grad(lambda t, soft=soft, args=args, kw=kw: jnp.sum(soft(t, *args[1:], mode="c1", **kw)))
        )(args[0])
        np.testing.assert_allclose(g_st, g, rtol=1e-14)
    counts, edges = sj.histogram_st(x, 3, (0.0, 3.0), mode="c2")
    hard = jnp.histogram(x, 3, (0.0, 3.0))
    assert_bits_equal(counts, hard[0])
    assert_bits_equal(edges, hard[1])


# --- errors ----------------------------------------------------------------------------


def test_errors():
    a = jnp.array([0.0, 1.0])
    with pytest.raises(ValueError, match="Invalid mode: 'soft'"):
        sj.searchsorted(a, 0.5, mode="soft")
    with pytest.raises(ValueError, match="softness must be positive"):
        sj.searchsorted(a, 0.5, softness=0.0)
    with pytest.raises(ValueError, match="Invalid side"):
        sj.searchsorted(a, 0.5, side="middle")
    with pytest.raises(ValueError, match="a must be 1-dimensional"):
        sj.searchsorted(jnp.zeros((2, 2)), 0.5)
    with pytest.raises(TypeError):
        sj.searchsorted(a, 0.5, "left", 0.1)  # softness is keyword-only
    with pytest.raises(ValueError, match="bins must be 1-dimensional"):
        sj.digitize(0.5, jnp.zeros((2, 2)))
    with pytest.raises(TypeError, match="right must be a bool"):
        sj.digitize(0.5, a, "yes")
    with pytest.raises(ValueError, match="bins must be >= 1"):
        sj.histogram(a, 0)
    with pytest.raises(ValueError, match="range must be None"):
        sj.histogram(a, 2, range=(0.0, 1.0, 2.0))
    with pytest.raises(ValueError, match="weights must have the shape of a"):
        sj.histogram(a, 2, weights=jnp.ones(3))
    with pytest.raises(ValueError, match="bins must be an int or a 1-D"):
        sj.histogram(a, jnp.ones((2, 2)))
    with pytest.raises(TypeError, match="length"):
        sj.bincount(a)  # length is required
    with pytest.raises(TypeError, match="length must be an integer"):
        sj.bincount(a, length=2.5)
    with pytest.raises(ValueError, match="length must be >= 0"):
        sj.bincount(a, length=-1)
    with pytest.raises(ValueError, match="x must be 1-dimensional"):
        sj.bincount(jnp.zeros((2, 2)), length=2)
    with pytest.raises(ValueError, match="weights must have the shape of x"):
        sj.bincount(a, jnp.ones(3), length=2)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        sj.one_hot(a, 0)
    with pytest.raises(ValueError, match="axis 3 is out of bounds"):
        sj.one_hot(a, 3, axis=3)
    with pytest.raises(TypeError, match="dtype must be a float dtype"):
        sj.one_hot(a, 3, dtype=jnp.int32)


_EXPLICIT_MESH_SCRIPT = r"""
import jax, jax.numpy as jnp, numpy as np, softjax as sj
from jax.sharding import NamedSharding, PartitionSpec as P

mesh = jax.make_mesh((4,), ("data",))  # AxisType.Explicit, JAX's default
edges, long = jnp.linspace(-1.5, 1.5, 7), jnp.linspace(-3.0, 3.0, 200)
x1 = jax.random.normal(jax.random.key(0), (8, 16))
x = jax.device_put(x1, NamedSharding(mesh, P("data", None)))
ops = {
    "searchsorted hard": lambda x: sj.searchsorted(long, x, mode="hard").astype(x.dtype),
    "searchsorted window": lambda x: sj.searchsorted(long, x, softness=0.1),
    "searchsorted_st": lambda x: sj.searchsorted_st(edges, x, softness=0.1),
    "digitize_st": lambda x: sj.digitize_st(x, edges, softness=0.1, mode="c1"),
    "histogram per row": lambda x: jax.vmap(lambda r: sj.histogram_st(r, edges)[0])(x),
    "histogram of all": lambda x: sj.histogram_st(x, 5, range=(-1.0, 1.0), softness=0.1)[0],
    "bincount per row": lambda x: jax.vmap(lambda r: sj.bincount_st(jnp.abs(r) * 2, length=5))(x),
}
for name, op in ops.items():
    loss = lambda x: jnp.sum(op(x) * jnp.cos(jnp.arange(op(x).size).reshape(op(x).shape)))
    with jax.set_mesh(mesh):
        value, grad = jax.jit(op)(x), jax.jit(jax.grad(loss))(x)
    np.testing.assert_allclose(value, op(x1), rtol=1e-6, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(grad, jax.grad(loss)(x1), rtol=1e-5, atol=1e-5, err_msg=name)
    assert jax.typeof(grad).sharding.spec == P("data", None), name
print("ok", len(ops))
"""


@pytest.mark.full
def test_explicit_mesh_sharded_samples():
    # jnp.searchsorted and jnp.histogram fail on samples sharded over an
    # explicit mesh axis; the hard paths, the windowed soft path and the
    # histogram of every sample must not.
    import os
    import subprocess
    import sys

    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run(
        [sys.executable, "-c", _EXPLICIT_MESH_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok 7"
