"""Soft floor, ceil and trunc (softjax._src.rounding)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj

SOFT_MODES = ["smooth", "c0", "c1", "c2", "_c1_pnorm", "_c2_pnorm"]
OPS = {"floor": (sj.floor, jnp.floor), "ceil": (sj.ceil, jnp.ceil), "trunc": (sj.trunc, jnp.trunc)}
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

_TIES = [
    -2.5,
    -1.5,
    -0.5,
    -0.0,
    0.0,
    0.5,
    1.5,
    2.5,
    -3.0,
    4.0,
    0.3,
    -0.7,
    1e-30,
    -1e-30,
    np.nan,
    np.inf,
    -np.inf,
]


def _hard_inputs(dtype):
    if jnp.issubdtype(dtype, jnp.integer):
        info = jnp.iinfo(dtype)
        return jnp.array([info.min, -7, -1, 0, 1, 6, info.max], dtype)
    top = 0.9 * float(jnp.finfo(dtype).max)
    big = [top, -top, 2.0**24 + 1, -(2.0**24) - 3, 2.0**52 + 0.5, 1e20]
    return jnp.array(_TIES + big, dtype)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.bfloat16, jnp.int32, jnp.int64])
def test_hard_matches_jax(dtype):
    x = _hard_inputs(dtype)
    for ours, theirs in OPS.values():
        assert_bits_equal(ours(x, mode="hard"), theirs(x))
    # Python scalars and lists as jnp takes them.
    assert_bits_equal(sj.floor(2.5, mode="hard"), jnp.floor(2.5))
    assert_bits_equal(sj.trunc([-1.5, 1.5], mode="hard"), jnp.trunc(jnp.asarray([-1.5, 1.5])))


def test_hard_never_touches_softness():
    for op, _ in OPS.values():
        assert float(op(1.5, softness=-1.0, mode="hard")) == float(op(1.5, mode="hard"))
        op(0.3, softness="not a number", mode="hard")


# --- soft modes --------------------------------------------------------------------


def _staircase_reference(x, s, mode, last_passed, n=60):
    """The infinite staircase, steps summed directly: sum_n S(x - n) relative to 0."""
    steps = np.arange(-n, n + 1, dtype=np.float64)
    S = np.asarray(sj.sigmoidal(x[:, None] - steps, s, mode))
    passed = steps <= last_passed  # the steps counted at x = 0
    return np.sum(np.where(passed, S - 1.0, S), axis=-1)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_matches_the_infinite_staircase(mode):
    x = np.linspace(-3.2, 3.2, 57)
    s = 0.2
    # Piecewise modes: exact once the window covers the band; smooth: the
    # logistic tails beyond the window (integral-corrected) are ~1e-10.
    tol = 1e-9 if mode == "smooth" else 1e-12
    floor_ref = _staircase_reference(x, s, mode, 0)
    np.testing.assert_allclose(sj.floor(x, softness=s, mode=mode), floor_ref, atol=tol)
    np.testing.assert_allclose(sj.ceil(x, softness=s, mode=mode), floor_ref + 1, atol=tol)
    trunc_ref = floor_ref + np.asarray(sj.sigmoidal(-x, s, mode))  # no step at 0
    np.testing.assert_allclose(sj.trunc(x, softness=s, mode=mode), trunc_ref, atol=tol)


@jax.jit
def _near_hard(x):
    return jnp.stack([op(x, softness=1e-4, mode=m) for m in SOFT_MODES for op, _ in OPS.values()])


def test_soft_tends_to_hard_away_from_the_steps():
    x = jnp.array([-2.7, -1.2, -0.5, -0.02, 0.03, 0.4, 1.5, 2.61, 1e6 + 0.5, -1e6 - 0.25])
    hard = jnp.stack([h(x) for _, h in OPS.values()] * len(SOFT_MODES))
    np.testing.assert_allclose(_near_hard(x), hard, atol=1e-9)


def test_values_at_the_steps_are_midpoints():
    n = jnp.array([-3.0, -1.0, 0.0, 2.0, 5.0])
    for mode in ("smooth", "c1"):
        np.testing.assert_allclose(sj.floor(n, mode=mode), n - 0.5, atol=1e-12)
        np.testing.assert_allclose(sj.ceil(n, mode=mode), n + 0.5, atol=1e-12)
        # trunc has no step at 0, so at +-1 the neighbourhood is not symmetric.
        m = jnp.array([-3.0, -2.0, 0.0, 2.0, 5.0])
        np.testing.assert_allclose(sj.trunc(m, mode=mode), m - 0.5 * jnp.sign(m), atol=1e-12)


@jax.jit
def _grid_all(x):
    return jnp.stack(
        [
            jnp.stack([op(x, softness=s, mode=m) for op, _ in OPS.values()])
            for m in SOFT_MODES
            for s in (0.03, 0.1, 0.37, 2.0)
        ]
    )


def test_monotone_and_symmetric():
    x = jnp.linspace(-4.0, 4.0, 1601)
    out = np.asarray(_grid_all(x))  # (modes x softness, 3, n)
    assert np.all(np.diff(out, axis=-1) >= -1e-12), "staircases must be non-decreasing"
    floor, ceil, trunc = out[:, 0], out[:, 1], out[:, 2]
    np.testing.assert_allclose(ceil, floor + 1, atol=1e-12)
    np.testing.assert_allclose(ceil, -floor[:, ::-1], atol=1e-12)  # ceil(x) = -floor(-x)
    np.testing.assert_allclose(trunc, -trunc[:, ::-1], atol=1e-12)  # odd


def test_c0_identity_and_large_softness():
    # c0 ramps of width 10s tile exactly when 10s is an integer (as for round).
    x = jnp.linspace(-2, 2, 41) + 0.013
    np.testing.assert_allclose(sj.floor(x, mode="c0"), x - 0.5, atol=1e-12)
    np.testing.assert_allclose(sj.ceil(x, softness=0.3, mode="c0"), x + 0.5, atol=1e-12)
    # Large softness: x - 1/2 (concrete softness enlarges the piecewise window;
    # the integral tail term keeps smooth and traced softness there too).
    for mode in ("smooth", "c1", "c2"):
        np.testing.assert_allclose(sj.floor(x, softness=100.0, mode=mode), x - 0.5, atol=1e-4)
        traced = jax.jit(lambda s, m=mode: sj.floor(x, softness=s, mode=m))(100.0)
        np.testing.assert_allclose(traced, x - 0.5, atol=1e-4)


def test_dtypes_and_shapes():
    i = jnp.array([[-2, 0], [3, 7]], jnp.int32)
    for op, _ in OPS.values():
        out = jax.eval_shape(op, i)
        assert out.dtype == jnp.float64 and out.shape == (2, 2)  # default float under x64
        assert jax.eval_shape(op, jnp.array([0.3], jnp.float32)).dtype == jnp.float32
        assert jax.eval_shape(op, jnp.array([0.3], jnp.bfloat16)).dtype == jnp.bfloat16
        assert jax.eval_shape(op, 0.3).shape == ()


def test_array_softness_broadcasts():
    x = jnp.array([[0.3, 0.3, 0.3], [1.96, 1.96, 1.96]])
    s = jnp.array([0.05, 0.1, 0.2])
    out = sj.floor(x, softness=s, mode="c1")
    expected = [[float(sj.floor(x[i, j], softness=s[j], mode="c1")) for j in range(3)] for i in range(2)]
    np.testing.assert_allclose(out, expected, rtol=1e-15)


def test_non_finite_inputs():
    x = jnp.array([jnp.inf, -jnp.inf, jnp.nan, 0.3])

    @jax.jit
    def run(x):
        return [
            (op(x, mode="c1"), jax.grad(lambda v, op=op: jnp.sum(op(v)[:2]))(x)) for op, _ in OPS.values()
        ]

    for out, g in run(x):
        assert out[0] == jnp.inf and out[1] == -jnp.inf and np.isnan(out[2])
        assert np.all(np.isfinite(g[:2]))


@pytest.mark.parametrize("mode", ["smooth", "c0", "c1", "c2"])
def test_huge_magnitudes_float32(mode):
    x = jnp.array([3e38, -3e38, 0.9 * F32_MAX, 2.0**25 + 4, -(2.0**30), 1.0], jnp.float32)

    @jax.jit
    def run(x):
        return [
            (
                *jax.value_and_grad(lambda v, op=op, s=s: jnp.sum(op(v, softness=s, mode=mode)))(x),
                op(x, softness=s, mode=mode),
            )
            for op, _ in OPS.values()
            for s in (1e-6, 0.1, 1e3)
        ]

    for total, grad, value in run(x):
        assert np.isfinite(total) and np.all(np.isfinite(grad))
        # Beyond 2**25 every float32 is an integer 4 apart: soft = hard exactly.
        np.testing.assert_array_equal(value[:5], x[:5])


# --- transforms ----------------------------------------------------------------------


def test_jit_vmap_grad_consistency():
    x = jnp.array([-2.3, -0.7, 0.0, 0.31, 1.5, 2.8])

    def f(v):
        return jnp.stack([op(v, softness=0.3, mode=m) for op, _ in OPS.values() for m in ("smooth", "c1")])

    eager = f(x)

    @jax.jit
    def transformed(x):
        grads = jax.vmap(jax.grad(lambda v: jnp.sum(f(v))))(x)
        jvp = jax.jvp(f, (x,), (jnp.ones_like(x),))[1]
        return f(x), jax.vmap(f, out_axes=1)(x), grads, jnp.sum(jvp, axis=0)

    jitted, vmapped, grads, jvp = transformed(x)
    np.testing.assert_allclose(jitted, eager, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(vmapped, eager, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(grads, jvp, rtol=1e-12)
    assert np.all(grads > 0)  # increasing staircases


@pytest.mark.parametrize("mode", ["smooth", "c1", "c2"])
def test_check_grads(mode):
    x = jnp.array([-2.3, -0.7, 0.31, 1.37, 2.8])  # away from the band edges at s = 0.3

    def f(x, s):
        return jnp.concatenate([op(x, softness=s, mode=mode) for op, _ in OPS.values()])

    check_grads(jax.jit(f), (x, 0.3), order=1, modes=("fwd", "rev"), eps=1e-6)
    if mode != "c1":  # c1's second derivative jumps at the band edges
        check_grads(jax.jit(f), (x, 0.3), order=2, modes=("fwd",), eps=1e-5)


def test_st_twins_at_huge_magnitudes():
    x = jnp.array([3e38, -2.5, -0.5, 0.5, 1.5, 2.0**24 + 1], jnp.float32)

    @jax.jit
    def run(x):
        out = {}
        for name in OPS:
            st, soft = getattr(sj, f"{name}_st"), getattr(sj, name)
            out[name] = (
                st(x, mode="c1"),
                jax.grad(lambda v, st=st: jnp.sum(st(v, mode="c1")))(x),
                jax.grad(lambda v, soft=soft: jnp.sum(soft(v, mode="c1")))(x),
            )
        return out

    for name, (value, g, g_soft) in run(x).items():
        assert_bits_equal(value, OPS[name][1](x))
        np.testing.assert_array_equal(g, g_soft)


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OPS))
def test_errors(name):
    op = OPS[name][0]
    with pytest.raises(ValueError, match="Invalid mode: 'soft'"):
        op(1.0, mode="soft")
    with pytest.raises(ValueError, match="softness must be positive"):
        op(1.0, softness=0.0)
    with pytest.raises(ValueError, match="neighbor_radius"):
        op(1.0, neighbor_radius=0)
    with pytest.raises(TypeError):
        op(1.0, 0.1)  # softness is keyword-only
