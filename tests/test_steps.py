"""Tests for the scalar relaxations ``sigmoidal`` and ``softrelu``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from jax.test_util import check_grads

import softjax as sj

MODES = ["smooth", "c0", "c1", "c2", "_c1_pnorm", "_c2_pnorm"]
X = np.array([-0.3, -0.1, 0.0, 0.05, 0.2])

# Reference vectors (float64, softness 0.1).
SIGMOIDAL_REF = {
    "smooth": [0.047425873178, 0.26894142137, 0.5, 0.622459331202, 0.880797077978],
    "c0": [0.2, 0.4, 0.5, 0.55, 0.7],
    "c1": [0.104, 0.352, 0.5, 0.57475, 0.784],
    "c2": [0.05792, 0.31744, 0.5, 0.593126875, 0.83692],
}
SOFTRELU_REF = {
    "smooth": [0.004858735157, 0.031326168752, 0.069314718056, 0.097407698418, 0.212692801104],
    "c0": [0.02, 0.08, 0.125, 0.15125, 0.245],
    "c1": [0.0072, 0.0512, 0.09375, 0.120621875, 0.22295],
    "c2": [0.003104, 0.037376, 0.078125, 0.105460953125, 0.213689],
}
GATED_REF = {
    "smooth": [-0.014227761953, -0.026894142137, 0.0, 0.03112296656, 0.176159415596],
    "c0": [-0.06, -0.04, 0.0, 0.0275, 0.14],
}


@pytest.mark.parametrize("mode", list(SIGMOIDAL_REF))
def test_sigmoidal_reference(mode):
    np.testing.assert_allclose(sj.sigmoidal(X, mode=mode), SIGMOIDAL_REF[mode], rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", list(SOFTRELU_REF))
def test_softrelu_reference(mode):
    np.testing.assert_allclose(sj.softrelu(X, mode=mode), SOFTRELU_REF[mode], rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", list(GATED_REF))
def test_softrelu_gated_reference(mode):
    got = sj.softrelu(X, mode=mode, gated=True)
    np.testing.assert_allclose(got, GATED_REF[mode], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "mode, factor", [("smooth", np.log(2)), ("c0", 1.25), ("c1", 0.9375), ("c2", 0.78125)]
)
def test_softrelu_at_zero(mode, factor):
    for s in (0.1, 0.7):
        np.testing.assert_allclose(sj.softrelu(0.0, softness=s, mode=mode), factor * s, rtol=1e-15)


def _pnorm_c1_reference(u):
    return (u + np.sqrt(2 - u**2)) ** 2 / 4


def _pnorm_c2_reference(u):
    # The hyperbolic Cardano form, evaluated in NumPy.
    a = 0.75 * u**2
    big = a > 1e-12
    a_safe = np.where(big, a, 1.0)
    r = np.sqrt(a_safe / 3)
    t = np.where(big, -2 * r * np.sinh(np.arcsinh(-1.5 / (2 * a_safe * r)) / 3), 0.5 ** (1 / 3))
    return np.clip((t + u / 2) ** 3, 0, 1)


def test_private_pnorm_modes_match_closed_forms():
    u = np.linspace(-0.999, 0.999, 401)
    x = u * 5 * 0.1
    np.testing.assert_allclose(sj.sigmoidal(x, mode="_c1_pnorm"), _pnorm_c1_reference(u), atol=1e-12)
    np.testing.assert_allclose(sj.sigmoidal(x, mode="_c2_pnorm"), _pnorm_c2_reference(u), atol=1e-12)
    # Defining equations of the two-element p-norm projections.
    p1 = np.asarray(sj.sigmoidal(x, mode="_c1_pnorm"))
    np.testing.assert_allclose(np.sqrt(p1) - np.sqrt(1 - p1), u, atol=1e-9)
    mid = np.abs(u) < 0.9  # cube roots are ill-conditioned near P = 0, 1
    p2 = np.asarray(sj.sigmoidal(x[mid], mode="_c2_pnorm"))
    np.testing.assert_allclose(np.cbrt(p2) - np.cbrt(1 - p2), u[mid], atol=1e-9)


def test_private_pnorm_last_ulp_clipped():
    # Values are clipped to [0, 1] (the last ulp can overshoot).
    for mode in ("_c1_pnorm", "_c2_pnorm"):
        y = sj.sigmoidal(jnp.linspace(-0.6, 0.6, 1001), mode=mode)
        assert float(jnp.min(y)) >= 0.0 and float(jnp.max(y)) <= 1.0
    assert float(sj.sigmoidal(-0.5, mode="_c2_pnorm")) >= 0.0


@pytest.mark.parametrize("mode", MODES)
def test_softrelu_derivative_is_sigmoidal(mode):
    xs = jnp.linspace(-0.8, 0.8, 41) + 0.0123
    d = jax.vmap(jax.grad(lambda x: sj.softrelu(x, mode=mode)))(xs)
    np.testing.assert_allclose(d, sj.sigmoidal(xs, mode=mode), atol=1e-12)
    # symmetric steps: R(x) - R(-x) = x; gated: x * S(x)
    np.testing.assert_allclose(sj.softrelu(xs, mode=mode) - sj.softrelu(-xs, mode=mode), xs, atol=1e-12)
    np.testing.assert_allclose(
        sj.softrelu(xs, mode=mode, gated=True), xs * sj.sigmoidal(xs, mode=mode), atol=1e-15
    )


@pytest.mark.parametrize("mode", MODES[1:])
def test_piecewise_band(mode):
    s = 0.125  # exact binary: x = +-5s gives u = +-1 exactly
    x = jnp.array([-1.0, -0.6251, 0.6251, 1.0])
    np.testing.assert_array_equal(sj.sigmoidal(x, s, mode), [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(sj.softrelu(x, s, mode), [0.0, 0.0, 0.6251, 1.0])
    assert float(sj.sigmoidal(-0.625, s, mode)) == 0.0  # u = -1: polynomial piece, P(-1) = 0
    assert float(sj.sigmoidal(0.625, s, mode)) == 1.0


@pytest.mark.parametrize("mode, left", [("c0", 1 / (10 * 0.125)), ("c1", 0.0), ("c2", 0.0)])
def test_band_edge_gradients(mode, left):
    s = 0.125
    g = jax.grad(lambda x: sj.sigmoidal(x, s, mode))
    np.testing.assert_allclose(g(-0.625), left, atol=1e-12)  # u = -1 belongs to the polynomial
    assert float(g(0.625)) == 0.0  # u = +1 belongs to the constant piece
    assert float(jax.grad(lambda x: sj.softrelu(x, s, mode))(0.625)) == 1.0


@jax.jit
def _all_modes(x, s):
    return jnp.stack([sj.sigmoidal(x, s, m) for m in MODES] + [sj.softrelu(x, s, m) for m in MODES])


@given(
    st.lists(st.floats(-2, 2, allow_nan=False), min_size=16, max_size=16),
    st.floats(0.01, 3.0),
)
def test_sigmoidal_monotone_and_bounded(xs, s):
    xs = np.sort(np.asarray(xs))
    for dtype in (np.float64, np.float32):
        out = np.asarray(_all_modes(xs.astype(dtype), s))
        assert out.dtype == dtype
        steps, relus = out[: len(MODES)], out[len(MODES) :]
        # Monotone up to rounding: polynomial evaluation in float32 may step
        # back by an ulp or two between adjacent inputs.
        ulps = 8 * np.finfo(dtype).eps
        assert np.all((steps >= 0) & (steps <= 1))
        assert np.all(np.diff(steps, axis=-1) >= -ulps)
        assert np.all(relus >= 0)
        assert np.all(np.diff(relus, axis=-1) >= -ulps * np.maximum(np.abs(relus[..., 1:]), 1))


@pytest.mark.parametrize("mode", MODES)
def test_check_grads_interior(mode):
    xs = jnp.array([-0.37, -0.11, 0.013, 0.29])

    def f(x, s):  # all three relaxations at once: one check per mode
        return jnp.stack(
            [sj.sigmoidal(x, s, mode), sj.softrelu(x, s, mode), sj.softrelu(x, s, mode, gated=True)]
        )

    # first order in x and softness (softness may carry gradients), both modes;
    # second order forward (reverse-mode Hessians are checked for finiteness
    # below; a rev-over-rev check_grads per mode would triple the test time).
    check_grads(jax.jit(f), (xs, 0.1), order=1, modes=("fwd", "rev"), eps=1e-6)
    check_grads(jax.jit(lambda x: f(x, 0.1)), (xs,), order=2, modes=("fwd",))


_GRID = np.concatenate([np.logspace(-12, 0, 40), -np.logspace(-12, 0, 40), [0.0, 0.5, -0.5, 1e6, -1e6]])


@jax.jit
def _derivatives_all_modes(x):
    # Values, gradients and Hessians of both helpers in every mode (one compile per dtype).
    outs = []
    for mode in MODES:
        fs = [lambda z, m=mode: sj.sigmoidal(z, 0.1, m)]
        fs += [lambda z, m=mode, g=g: sj.softrelu(z, 0.1, m, g) for g in (False, True)]
        for f in fs:
            outs += [jax.vmap(f)(x), jax.vmap(jax.grad(f))(x), jax.vmap(jax.hessian(f))(x)]
    return jnp.stack(outs)


@jax.jit
def _first_derivatives_all_modes(x):
    outs = []
    for mode in MODES:
        for f in (lambda z, m=mode: sj.sigmoidal(z, 0.1, m), lambda z, m=mode: sj.softrelu(z, 0.1, m)):
            outs += [jax.vmap(f)(x), jax.vmap(jax.grad(f))(x)]
    return jnp.stack(outs)


def test_hessians_finite_all_modes():
    # float32 Hessians of the p-norm modes used to overflow, and _c2_pnorm's
    # non-gated Hessian was NaN outside the band (both fixed in steps.py).
    # float32 is the harder case; float64 is covered by test_check_grads_interior.
    out = _derivatives_all_modes(jnp.asarray(_GRID, dtype=jnp.float32))
    assert out.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(out, np.float64)))


def test_bfloat16_finite():
    out = _first_derivatives_all_modes(jnp.asarray(_GRID, dtype=jnp.bfloat16))
    assert out.dtype == jnp.bfloat16
    assert np.all(np.isfinite(np.asarray(out, np.float64)))


@pytest.mark.parametrize("mode", MODES)
def test_nan_propagates(mode):
    x = jnp.array([jnp.nan, 0.0])
    assert np.isnan(sj.sigmoidal(x, mode=mode)[0])
    assert np.isnan(sj.softrelu(x, mode=mode)[0])
    assert np.isnan(sj.softrelu(x, mode=mode, gated=True)[0])
    assert np.isfinite(sj.sigmoidal(x, mode=mode)[1])


def test_python_scalars_lists_and_ints():
    assert float(sj.sigmoidal(0.0, mode="c1")) == 0.5
    np.testing.assert_allclose(sj.sigmoidal([-0.3, 0.2], mode="c1"), [0.104, 0.784], atol=1e-12)
    y = sj.softrelu(jnp.array([-1, 0, 1]), mode="c0")
    assert y.dtype == jnp.float64
    np.testing.assert_allclose(y, [0.0, 0.125, 1.0], atol=1e-15)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), [0.1, 0.0]])
def test_softness_validation(bad):
    with pytest.raises(ValueError, match="softness must be positive"):
        sj.sigmoidal(1.0, softness=bad)
    with pytest.raises(ValueError, match="softness must be positive"):
        sj.softrelu(1.0, softness=jnp.asarray(bad))
    # a concrete (closed-over) softness is validated under jit too
    with pytest.raises(ValueError, match="softness must be positive"):
        jax.jit(lambda x: sj.sigmoidal(x, softness=bad))(1.0)


def test_softness_type_error():
    with pytest.raises(TypeError, match="softness"):
        sj.sigmoidal(1.0, softness="big")


def test_array_softness_eager_equals_jit():
    # Per-element softness works outside jit and matches jit.
    x = jnp.array([-0.3, 0.1, 0.2])
    s = jnp.array([0.1, 0.5, 1.0])
    eager = sj.sigmoidal(x, softness=s, mode="c1")
    traced = jax.jit(lambda x, s: sj.sigmoidal(x, softness=s, mode="c1"))(x, s)
    expected = [float(sj.sigmoidal(xi, si, "c1")) for xi, si in zip(x, s, strict=True)]
    np.testing.assert_allclose(eager, expected, rtol=1e-14)
    np.testing.assert_array_equal(eager, traced)
    np.testing.assert_allclose(
        sj.softrelu(x, softness=s),
        [float(sj.softrelu(xi, si)) for xi, si in zip(x, s, strict=True)],
        rtol=1e-14,
    )


def test_traced_softness_is_not_validated():
    # Documented: a traced softness cannot be checked; 0 gives NaN at x = 0.
    out = jax.jit(lambda s: sj.sigmoidal(0.0, softness=s))(0.0)
    assert np.isnan(out)


def test_mode_errors():
    with pytest.raises(ValueError, match="Invalid mode: 'hard'"):
        sj.sigmoidal(1.0, mode="hard")
    with pytest.raises(ValueError, match="Invalid mode: 'foo'"):
        sj.sigmoidal(1.0, mode="foo")
    with pytest.raises(ValueError, match="Unknown mode 'hard' for softrelu"):
        sj.softrelu(1.0, mode="hard")
    with pytest.raises(ValueError, match="Unknown mode 'C1' for softrelu"):
        sj.softrelu(1.0, mode="C1")


def test_soft_tends_to_hard():
    x = jnp.array([-0.3, -0.01, 0.01, 0.2])
    for mode in MODES:
        np.testing.assert_allclose(sj.sigmoidal(x, 1e-4, mode), [0, 0, 1, 1], atol=1e-12)
        np.testing.assert_allclose(sj.softrelu(x, 1e-4, mode), jax.nn.relu(x), atol=1e-12)
