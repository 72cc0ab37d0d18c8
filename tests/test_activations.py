"""Soft relu6, hard_tanh, hard_sigmoid, hard_silu (softjax._src.activations)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj

SOFT_MODES = ["smooth", "c0", "c1", "c2", "_c1_pnorm", "_c2_pnorm"]
# name: (soft operator, jax.nn twin, its two kinks)
OPS = {
    "relu6": (sj.relu6, jax.nn.relu6, (0.0, 6.0)),
    "hard_tanh": (sj.hard_tanh, jax.nn.hard_tanh, (-1.0, 1.0)),
    "hard_sigmoid": (sj.hard_sigmoid, jax.nn.hard_sigmoid, (-3.0, 3.0)),
    "hard_silu": (sj.hard_silu, jax.nn.hard_silu, (-3.0, 3.0)),
}
RANGES = {"relu6": (0.0, 6.0), "hard_tanh": (-1.0, 1.0), "hard_sigmoid": (0.0, 1.0)}
F32_MAX = float(jnp.finfo(jnp.float32).max)


def assert_bits_equal(actual, expected):
    """Same dtype, shape and bit patterns (so -0.0 != 0.0; NaN payloads aside)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    view = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[actual.dtype.itemsize]
    nan = np.isnan(actual) & np.isnan(expected) if actual.dtype.kind == "f" else False
    differ = (actual.view(view) != expected.view(view)) & ~nan
    assert not differ.any(), (actual[differ], expected[differ])


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.bfloat16, jnp.int32])
def test_hard_matches_jax_nn(dtype):
    if jnp.issubdtype(dtype, jnp.integer):
        x = jnp.array([-7, -3, -1, 0, 1, 3, 6, 9], dtype)
    else:
        top = 0.9 * float(jnp.finfo(dtype).max)
        x = jnp.array(
            [-0.0, 0.0, -1.0, 1.0, -3.0, 3.0, 6.0, 2.5, -2.5, 7.0, top, -top, 1e-30, np.nan, np.inf, -np.inf],
            dtype,
        )
    for ours, theirs, _ in OPS.values():
        assert_bits_equal(ours(x, mode="hard"), theirs(x))
        assert_bits_equal(ours(2, mode="hard"), theirs(2))
        ours(0.5, softness=-1.0, mode="hard")  # hard mode never touches softness


@jax.jit
def _all(x, s):
    return {
        name: jnp.stack([op(x, softness=s, mode=m) for m in SOFT_MODES]) for name, (op, _, _) in OPS.items()
    }


def test_soft_properties():
    x = jnp.linspace(-9.0, 9.0, 1801)
    for s in (1e-5, 0.1, 0.6):
        out = _all(x, s)
        for name, (_, hard, (lo, hi)) in OPS.items():
            y = np.asarray(out[name])
            if name in RANGES:  # clippings: monotone, within the range
                assert np.all(np.diff(y, axis=-1) >= -1e-12), name
                ymin, ymax = RANGES[name]
                assert np.all(y >= ymin - 1e-12) and np.all(y <= ymax + 1e-12), name
            # exact away from the kinks (piecewise modes, outside the bands +-5s)
            far = np.asarray((jnp.abs(x - lo) >= 5 * s) & (jnp.abs(x - hi) >= 5 * s))
            np.testing.assert_allclose(
                y[1:4][:, far], np.broadcast_to(hard(x)[far], y[1:4][:, far].shape), atol=1e-12, err_msg=name
            )
            if s == 1e-5:
                np.testing.assert_allclose(y, np.broadcast_to(hard(x), y.shape), atol=1e-4, err_msg=name)
        np.testing.assert_allclose(out["hard_silu"], x * out["hard_sigmoid"], atol=1e-15)
        np.testing.assert_allclose(out["hard_tanh"], -out["hard_tanh"][:, ::-1], atol=1e-12)  # odd


def test_smooth_closed_form():
    x, s = jnp.linspace(-2.0, 8.0, 41), 0.3

    def relu(v):
        return s * jax.nn.softplus(v / s)

    np.testing.assert_allclose(sj.relu6(x, softness=s), relu(x) - relu(x - 6.0), atol=1e-12)
    np.testing.assert_allclose(sj.hard_sigmoid(x, softness=s), (relu(x + 3) - relu(x - 3)) / 6, atol=1e-12)


def test_dtypes():
    for op, _, _ in OPS.values():
        assert jax.eval_shape(lambda op=op: op(jnp.ones(3, jnp.float32))).dtype == jnp.float32
        assert jax.eval_shape(lambda op=op: op(jnp.ones(3, jnp.bfloat16))).dtype == jnp.bfloat16
        assert jax.eval_shape(lambda op=op: op(jnp.ones((2, 3), jnp.int32))).dtype == jnp.float64
        with pytest.raises(ValueError, match="Invalid mode"):
            op(1.0, mode="soft")
        with pytest.raises(TypeError):
            op(1.0, 0.1)  # softness is keyword-only


@pytest.mark.parametrize("mode", ["smooth", "c0", "c1", "c2"])
def test_extreme_inputs_float32(mode):
    x = jnp.array([3e38, -3e38, 0.9 * F32_MAX, -2.9, 1.0, -1e-30], jnp.float32)

    @jax.jit
    def run(x):
        return [
            (
                op(x, softness=s, mode=mode),
                jax.grad(lambda v, op=op, s=s: jnp.sum(op(v, softness=s, mode=mode)))(x),
            )
            for op, _, _ in OPS.values()
            for s in (1e-6, 0.1, 1e3)
        ]

    for value, grad in run(x):
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("mode", ["smooth", "c2"])
def test_check_grads_and_transforms(mode):
    x = jnp.array([-3.4, -2.1, -0.93, 0.2, 1.3, 2.8, 5.7, 6.9])  # off the band edges at s = 0.2

    def f(x, s):
        return jnp.concatenate([op(x, softness=s, mode=mode) for op, _, _ in OPS.values()])

    check_grads(jax.jit(f), (x, 0.2), order=1, modes=("fwd", "rev"), eps=1e-6)
    check_grads(jax.jit(f), (x, 0.2), order=2, modes=("fwd",), eps=1e-5)
    eager = f(x, 0.2)
    jitted, vmapped = jax.jit(lambda x: (f(x, 0.2), jax.vmap(lambda v: f(v[None], 0.2))(x)))(x)
    np.testing.assert_allclose(jitted, eager, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(vmapped.T.ravel(), eager, rtol=1e-14, atol=1e-14)
