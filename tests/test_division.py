"""Soft floor_divide and mod / remainder (softjax._src.division)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj

SOFT_MODES = ["smooth", "c0", "c1", "c2", "_c1_pnorm", "_c2_pnorm"]
OPS = {"floor_divide": jnp.floor_divide, "mod": jnp.mod, "remainder": jnp.remainder}
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


def _pairs(dtype):
    if jnp.issubdtype(dtype, jnp.integer):
        x = jnp.array([-7, -6, -1, 0, 1, 5, 6, 7, 100], dtype)
        return x[:, None], jnp.array([-3, -2, 2, 3], dtype)
    top = 0.9 * float(jnp.finfo(dtype).max)
    x = jnp.array(
        [-7.5, -6.0, -1.0, -0.0, 0.0, 0.5, 2.5, 7.0, 1e-30, -1e-30, top, -top, 2.0**24 + 1, np.inf, np.nan],
        dtype,
    )
    y = jnp.array([-2.0, -0.5, 0.5, 1.5, 3.0, 1e-20, top, 0.0], dtype)
    return x[:, None], y


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.bfloat16, jnp.int32])
def test_hard_matches_jax(dtype):
    x, y = _pairs(dtype)
    for name, theirs in OPS.items():
        assert_bits_equal(getattr(sj, name)(x, y, mode="hard"), theirs(x, y))
    assert_bits_equal(sj.mod(7, 2.5, mode="hard"), jnp.mod(7, 2.5))
    assert_bits_equal(sj.floor_divide(7, -2, mode="hard"), jnp.floor_divide(7, -2))


def test_hard_never_touches_softness():
    for name in OPS:
        getattr(sj, name)(7.0, 2.0, softness=-1.0, mode="hard")


# --- soft modes --------------------------------------------------------------------

# No ratio x / y within 0.02 of an integer (the steps), none at a c1/c2 band
# edge (5 * 0.3 from a step).
_X = np.array([-7.3, -2.2, -0.4, 0.3, 0.7, 2.9, 6.6, 13.1])
_Y = np.array([2.13, -1.93, 0.71, -0.77, 1.33, 3.07, -1.17, 0.47])


@jax.jit
def _all_modes(x, y, s):
    return {
        name: jnp.stack([getattr(sj, name)(x, y, softness=s, mode=m) for m in SOFT_MODES]) for name in OPS
    }


def test_identity_and_mod_is_remainder():
    x, y = jnp.asarray(_X)[:, None], jnp.asarray(_Y)
    for s in (0.05, 0.3, 1.7):
        out = _all_modes(x, y, s)
        # x = floor_divide(x, y) * y + mod(x, y), for either sign of y, every mode.
        np.testing.assert_allclose(
            out["floor_divide"] * y + out["mod"],
            jnp.broadcast_to(x, (8, 8))[None] * jnp.ones((len(SOFT_MODES), 1, 1)),
            atol=1e-12,
        )
        np.testing.assert_array_equal(out["mod"], out["remainder"])


def test_soft_tends_to_hard_and_keeps_the_sign_of_y():
    x, y = jnp.asarray(_X)[:, None], jnp.asarray(_Y)
    out = _all_modes(x, y, 1e-5)
    for name, theirs in OPS.items():
        hard = theirs(x, y)
        np.testing.assert_allclose(out[name], jnp.broadcast_to(hard, out[name].shape), atol=1e-9)
    out = _all_modes(x, y, 0.3)
    assert np.all(np.sign(out["mod"]) == np.sign(y))  # soft sawtooth between 0 and y


def test_floor_divide_is_the_soft_floor_of_the_quotient():
    # y a power of two: x / y is exact, so both routes see the same argument.
    x = jnp.linspace(-5.0, 5.0, 81) + 0.01
    for y in (0.5, -4.0, 1.0):
        for mode in ("smooth", "c1"):
            np.testing.assert_allclose(
                sj.floor_divide(x, y, softness=0.2, mode=mode),
                sj.floor(x / y, softness=0.2, mode=mode),
                atol=1e-12,
            )


def test_at_multiples_of_y_the_sawtooth_is_at_its_midpoint():
    y = jnp.array([2.0, -3.0, 0.5])
    x = 3.0 * y
    for mode in ("smooth", "c2"):
        np.testing.assert_allclose(sj.mod(x, y, mode=mode), y / 2, atol=1e-12)
        np.testing.assert_allclose(sj.floor_divide(x, y, mode=mode), 2.5, atol=1e-12)


def test_dtypes_broadcasting_and_errors():
    i = jnp.array([7, -7], jnp.int32)
    out = jax.eval_shape(lambda: sj.mod(i[:, None], jnp.array([2, 3, 5], jnp.int32)))
    assert out.dtype == jnp.float64 and out.shape == (2, 3)
    assert jax.eval_shape(lambda: sj.floor_divide(jnp.ones(2, jnp.float32), 3.0)).dtype == jnp.float32
    assert jax.eval_shape(lambda: sj.mod(jnp.ones(2, jnp.bfloat16), 3.0)).dtype == jnp.bfloat16
    for name in OPS:
        op = getattr(sj, name)
        with pytest.raises(ValueError, match=f"{name}: x and y are not broadcast-compatible"):
            op(jnp.ones(3), jnp.ones(4))
        with pytest.raises(ValueError, match="Invalid mode"):
            op(1.0, 2.0, mode="soft")
        with pytest.raises(ValueError, match="softness must be positive"):
            op(1.0, 2.0, softness=0.0)
        with pytest.raises(TypeError):
            op(1.0, 2.0, 0.1)  # softness is keyword-only


# --- derivatives and transforms ---------------------------------------------------------


@pytest.mark.parametrize("mode", ["smooth", "c1", "c2"])
def test_check_grads(mode):
    x = jnp.asarray(_X)
    y = jnp.asarray(_Y)

    def f(x, y, s):
        return jnp.concatenate(
            [sj.floor_divide(x, y, softness=s, mode=mode), sj.mod(x, y, softness=s, mode=mode)]
        )

    check_grads(jax.jit(f), (x, y, 0.3), order=1, modes=("fwd", "rev"), eps=1e-6)
    if mode != "c1":  # c1's second derivative jumps at the band edges
        check_grads(jax.jit(lambda x, y: f(x, y, 0.3)), (x, y), order=2, modes=("fwd",), eps=1e-5)


def test_derivatives_match_the_formulas():
    # d mod/dx = 1 - D'(f); d mod/dy = -floor_divide + (x / y) D'(f); D' = d floor / dt.
    x, y, s = jnp.asarray(_X), jnp.asarray(_Y), 0.3

    @jax.jit
    def run(x, y):
        gx = jax.vmap(jax.grad(lambda a, b: sj.mod(a, b, softness=s), 0))(x, y)
        gy = jax.vmap(jax.grad(lambda a, b: sj.mod(a, b, softness=s), 1))(x, y)
        d = jax.vmap(jax.grad(lambda t: sj.floor(t, softness=s)))(x / y)
        return gx, gy, d, sj.floor_divide(x, y, softness=s)

    gx, gy, d, q = run(x, y)
    np.testing.assert_allclose(gx, 1 - d, atol=1e-12)
    np.testing.assert_allclose(gy, -q + x / y * d, atol=1e-10)


def test_jit_vmap_consistency():
    x, y = jnp.asarray(_X), jnp.asarray(_Y)

    def f(x, y):
        return jnp.stack([getattr(sj, n)(x, y, softness=0.3, mode=m) for n in OPS for m in ("smooth", "c2")])

    eager = f(x, y)
    jitted, vmapped = jax.jit(lambda x, y: (f(x, y), jax.vmap(f, out_axes=1)(x, y)))(x, y)
    np.testing.assert_allclose(jitted, eager, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(vmapped, eager, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("mode", ["smooth", "c0", "c1", "c2"])
def test_extreme_operands_float32(mode):
    # Huge dividends, divisors near the maximum and near 1e-30 (the quotient
    # overflows: hard floor_divide is inf, the remainder finite). The
    # remainder's derivative in x stays 1 - D'(f): bounded, also for |y| near
    # the maximum and softness 1e-6 (its tangent is carried in units of y).
    x = jnp.array([3e38, -3e38, 0.9 * F32_MAX, 2.0**25 + 1, 1.0, -0.3], jnp.float32)

    @jax.jit
    def run(x):
        out = []
        for y in (1.5, -0.75, 3e38, 1e-30):
            for s in (1e-6, 0.1, 1e3):

                def f(v, y=y, s=s):
                    return sj.mod(v, y, softness=s, mode=mode)

                out.append((f(x), jax.grad(lambda v, f=f: jnp.sum(f(v)))(x)))
        return out

    for value, grad in run(x):
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    g = jax.jit(jax.grad(lambda y: jnp.sum(sj.mod(jnp.array([0.7, -2.5, 1e3], jnp.float32), y, mode=mode))))
    assert np.isfinite(g(jnp.float32(1e-30))) and np.isfinite(g(jnp.float32(3e38)))


def test_derivative_at_exact_multiples():
    # At (rounded) multiples x = n * y, jnp.remainder's own derivative in y
    # recomputes floor(x / y) and is off by one for about a third of them;
    # the soft remainder's derivative follows the hard quotient and matches
    # finite differences of the (continuous) soft sawtooth.
    y = jnp.linspace(0.05, 3.0, 40) * jnp.where(jnp.arange(40) % 2 == 0, 1.0, -1.0)
    x = (jnp.arange(40) % 23 - 11) * y

    @jax.jit
    def run(x, y):
        def f(b):
            return sj.mod(x, b, softness=0.05, mode="c2")

        h = 1e-7
        return jax.vmap(jax.grad(lambda a, b: sj.mod(a, b, softness=0.05, mode="c2"), 1))(x, y), (
            f(y + h) - f(y - h)
        ) / (2 * h)

    gy, fd = run(x, y)
    np.testing.assert_allclose(gy, fd, rtol=1e-5, atol=1e-5)
