"""NeuralSort in ``mode="smooth"`` on long rows: the interpolated ``A``
(``kernels/smooth_abs_sum.py``) and the softmax rows on certified windows,
against the dense construction."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj
from softjax._src.kernels import neuralsort_window
from softjax._src.kernels.neuralsort import descending_coefficients, neuralsort_rows
from softjax._src.kernels.smooth_abs_sum import smooth_abs_sum
from softjax._src.kernels.squash import standardize_and_squash
from softjax._src.methods import neuralsort


def _row(n, seed, dtype=jnp.float64, ties=False, batch=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, n))
    if ties:
        x = np.round(x * 32) / 32
    x = jnp.asarray(x, dtype)
    return x, standardize_and_squash(x).values


def _dense_a(v, softness):
    d = v[None, :] - v[:, None]
    return jnp.sum(d * jnp.tanh(d / (2 * softness)), axis=1)


def _dense_values(x, xhat, softness, descending=True, gated=True):
    a = neuralsort._dense_pairwise(xhat, softness, "smooth")
    coef = descending_coefficients(xhat.shape[-1], xhat.dtype) * (1 if descending else -1)
    p = jax.vmap(lambda xh, a_row: neuralsort_rows(coef, xh, a_row, softness, "smooth"))(xhat, a)
    p = p if gated else jax.lax.stop_gradient(p)
    return jnp.einsum("bkn,bn->bk", p, x)


def _window_certified(x, xhat, softness, descending=True):
    rows, rows_ok = neuralsort._interpolated(xhat, softness)
    coef = descending_coefficients(xhat.shape[-1], xhat.dtype) * (1 if descending else -1)
    width = neuralsort_window.smooth_widths(xhat.shape[-1], xhat.dtype)[0]
    _, ok = neuralsort_window.sorted_values(x, rows, coef, softness, "smooth", width, True)
    return bool(np.all(np.asarray(ok & rows_ok)))


@pytest.mark.parametrize(("n", "softness"), [(7, 0.3), (1024, 0.1), (3000, 1.0)])
def test_interpolated_a_equals_the_pairwise_sum(n, softness):
    _, xhat = _row(n, 0)
    v = xhat[0]
    a, ok = jax.jit(smooth_abs_sum)(v, softness)
    assert bool(ok)
    scale = n * float(jnp.max(v) - jnp.min(v))
    np.testing.assert_allclose(a, _dense_a(v, softness), rtol=0, atol=1e-14 * scale)
    # Derivatives in the entries and in the softness (jvp rule against autodiff of the dense sum).
    w = jnp.cos(jnp.arange(n, dtype=v.dtype))
    got = jax.grad(lambda v, s: jnp.sum(w * smooth_abs_sum(v, s)[0]), argnums=(0, 1))(v, softness)
    ref = jax.grad(lambda v, s: jnp.sum(w * _dense_a(v, s)), argnums=(0, 1))(v, softness)
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-11, atol=1e-12 * float(jnp.max(jnp.abs(r))))


def test_interpolated_a_second_order_and_uncertified_softness():
    _, xhat = _row(12, 1)
    v = xhat[0]
    check_grads(lambda v: smooth_abs_sum(v, 0.4)[0], (v,), order=2, modes=("fwd", "rev"))
    # Degree 192 cannot resolve a kernel 100 times narrower than the row.
    assert not bool(smooth_abs_sum(v, 0.001)[1])
    # A constant row: every distance is 0.
    a, ok = smooth_abs_sum(jnp.full((9,), 0.25), 0.1)
    assert bool(ok) and float(jnp.max(jnp.abs(a))) < 1e-12


@pytest.mark.parametrize(("n", "descending", "ties"), [(1024, True, False), (1100, False, True)])
def test_public_sort_on_windows_equals_dense_float64(n, descending, ties):
    x, xhat = _row(n, 2, ties=ties)
    assert _window_certified(x, xhat, 0.1, descending), "the window path would not be taken"
    got = jax.jit(lambda x: sj.sort(x, axis=-1, method="neuralsort", descending=descending))(x)
    ref = _dense_values(x, xhat, 0.1, descending, gated=False)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10 * float(jnp.max(jnp.abs(x))))


@pytest.mark.parametrize("gated", [True, False])
def test_sort_gradient_on_windows_equals_dense(gated):
    n = 1024
    x, _ = _row(n, 3)
    w = jnp.sin(jnp.arange(n, dtype=x.dtype))

    def grad(values):
        return jax.jit(jax.grad(lambda x: jnp.sum(w * values(x, standardize_and_squash(x).values))))(x)

    got = grad(lambda x, _: sj.sort(x, axis=-1, method="neuralsort", gated_grad=gated))
    ref = grad(lambda x, xh: _dense_values(x, xh, 0.1, False, gated=gated))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-10 * float(jnp.max(jnp.abs(ref))))


@pytest.mark.parametrize("softness", [0.003, 10.0])
def test_outside_the_certified_range_the_dense_rows_run(softness):
    # 0.003: the interpolation is not certified (dense A); 10: every window
    # fails (the mass spans the row). Both must still equal the dense rows.
    x, xhat = _row(1024, 4)
    assert not _window_certified(x, xhat, softness)
    got = sj.sort(x, axis=-1, method="neuralsort", softness=softness)
    ref = _dense_values(x, xhat, softness, False, gated=False)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10 * float(jnp.max(jnp.abs(x))))


def test_rank_on_windows_equals_dense(monkeypatch):
    _, xhat = _row(1024, 5, ties=True)
    w = jnp.cos(jnp.arange(1024.0))

    def rank_and_grad():
        def f(v):
            return neuralsort.rank(None, v, softness=0.1, mode="smooth", descending=True, options=None)

        return f(xhat), jax.grad(lambda v: jnp.sum(w * f(v)))(xhat)

    got, got_grad = rank_and_grad()
    monkeypatch.setattr(neuralsort_window, "MIN_N", 10**9)  # the dense rows
    monkeypatch.setattr(neuralsort, "SMOOTH_INTERPOLATED_MIN_N", 10**9)  # and the dense A
    ref, ref_grad = rank_and_grad()
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(got_grad, ref_grad, rtol=1e-8, atol=1e-9 * float(jnp.max(jnp.abs(ref_grad))))


def test_quantile_and_argmax_use_the_interpolated_a(monkeypatch):
    x, _ = _row(1024, 7)
    got_q = sj.quantile(x, 0.3, axis=-1)
    got_arg = sj.argmax(x, axis=-1, method="neuralsort")
    monkeypatch.setattr(neuralsort, "SMOOTH_INTERPOLATED_MIN_N", 10**9)
    np.testing.assert_allclose(got_q, sj.quantile(x, 0.3, axis=-1), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(got_arg, sj.argmax(x, axis=-1, method="neuralsort"), rtol=1e-9, atol=1e-13)


def test_float32_within_the_dense_rounding():
    x, xhat = _row(4096, 8, dtype=jnp.float32)
    assert _window_certified(x, xhat, 0.1)
    got = jax.jit(lambda x: sj.sort(x, axis=-1, method="neuralsort", descending=True))(x)
    dense32 = _dense_values(x, xhat, 0.1)
    x64 = x.astype(jnp.float64)
    exact = _dense_values(x64, standardize_and_squash(x64).values, 0.1)
    dense_err = float(jnp.max(jnp.abs(dense32 - exact)))
    window_err = float(jnp.max(jnp.abs(got - exact)))
    # Both carry the float32 rounding of A (about eps n L / s in the scores).
    assert window_err <= 3 * dense_err, (window_err, dense_err)


def test_vmap_jvp_and_nan():
    x, _ = _row(1024, 9)

    def f(v):
        return sj.sort(v, axis=-1)

    np.testing.assert_allclose(jax.vmap(f)(x), f(x), rtol=1e-12, atol=1e-12)
    _, tangent = jax.jvp(f, (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(tangent, 1.0, atol=1e-8)  # shift equivariance
    poisoned = x.at[0, 3].set(jnp.nan)
    out = f(poisoned)
    assert np.all(np.isnan(out[0])) and np.all(np.isfinite(out[1]))
