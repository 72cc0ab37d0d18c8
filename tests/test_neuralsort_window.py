"""NeuralSort's windowed sparse rows (``kernels/neuralsort_window.py``) against the dense rows."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softjax as sj
from softjax._src.kernels import neuralsort_window
from softjax._src.kernels.neuralsort import descending_coefficients, neuralsort_rows
from softjax._src.kernels.squash import standardize_and_squash
from softjax._src.methods import neuralsort

SPARSE = ("c0", "c1", "c2")


def _inputs(n, seed, dtype=jnp.float64, ties=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, n))
    if ties:
        x = np.round(x * 32) / 32  # ties of a few entries
    x = jnp.asarray(x, dtype)
    return x, standardize_and_squash(x).values


def _dense_values(x, xhat, softness, mode, descending, gated=True):
    """The dense construction: every row of P (n x n), then P x."""
    a = neuralsort._pairwise(xhat, softness, mode)
    coef = descending_coefficients(xhat.shape[-1], xhat.dtype) * (1 if descending else -1)
    p = jax.vmap(lambda xh, a_row: neuralsort_rows(coef, xh, a_row, softness, mode))(xhat, a)
    p = p if gated else jax.lax.stop_gradient(p)
    return jnp.einsum("bkn,bn->bk", p, x)


def _windowed(x, xhat, softness, mode, descending, width=neuralsort_window.WIDTHS[0], gated=True):
    rows, _ = neuralsort._banded(xhat, softness, mode)
    coef = descending_coefficients(xhat.shape[-1], xhat.dtype) * (1 if descending else -1)
    return neuralsort_window.sorted_values(x, rows, coef, softness, mode, width, gated)


@pytest.mark.parametrize("mode", SPARSE)
@pytest.mark.parametrize(
    ("n", "softness", "descending", "ties"), [(1024, 0.1, True, False), (1100, 0.03, False, True)]
)
def test_windowed_rows_equal_dense_float64(mode, n, softness, descending, ties):
    x, xhat = _inputs(n, 1, ties=ties)
    values, ok = jax.jit(lambda x, xh: _windowed(x, xh, softness, mode, descending))(x, xhat)
    assert np.all(np.asarray(ok)), "the window path was not taken: the comparison would test nothing"
    dense = _dense_values(x, xhat, softness, mode, descending)
    np.testing.assert_allclose(values, dense, rtol=1e-10, atol=1e-10 * float(jnp.max(jnp.abs(x))))


@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("mode", SPARSE)
def test_windowed_gradients_equal_dense(mode, gated):
    n, softness = 1024, 0.1
    x, _ = _inputs(n, 2)
    w = jnp.cos(jnp.arange(n, dtype=x.dtype))

    def loss(values_fn):
        def f(x):
            xhat = standardize_and_squash(x).values
            return jnp.sum(w * values_fn(x, xhat))

        return jax.jit(jax.grad(f))

    got = loss(lambda x, xh: _windowed(x, xh, softness, mode, True, gated=gated)[0])(x)
    ref = loss(lambda x, xh: _dense_values(x, xh, softness, mode, True, gated=gated))(x)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-10 * float(jnp.max(jnp.abs(ref))))


def test_certificate_fails_when_the_support_outgrows_the_window():
    # Softness 10: supports span far more than 256 positions.
    x, xhat = _inputs(1024, 3)
    _, ok = _windowed(x, xhat, 10.0, "c1", True)
    assert not np.any(np.asarray(ok))


@pytest.mark.parametrize("softness", [0.01, 0.1, 10.0])
def test_public_sort_equals_dense_whichever_path(softness):
    # 10.0 fails every window and runs the dense rows; the others take windows.
    x, xhat = _inputs(1024, 4)
    got = sj.sort(x, axis=-1, method="neuralsort", mode="c2", softness=softness)
    ref = _dense_values(x, xhat, softness, "c2", False, gated=False)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10 * float(jnp.max(jnp.abs(x))))


@pytest.mark.parametrize("mode", SPARSE)
def test_float32_within_the_dense_rounding(mode):
    x, xhat = _inputs(1024, 5, dtype=jnp.float32)
    values, ok = jax.jit(lambda x, xh: _windowed(x, xh, 0.1, mode, True))(x, xhat)
    assert np.all(np.asarray(ok))
    dense32 = _dense_values(x, xhat, 0.1, mode, True)
    x64, xhat64 = x.astype(jnp.float64), xhat.astype(jnp.float64)
    exact = _dense_values(x64, xhat64, 0.1, mode, True)
    dense_err = float(jnp.max(jnp.abs(dense32 - exact)))
    window_err = float(jnp.max(jnp.abs(values - exact)))
    # Both carry the float32 rounding of A (about eps * n / softness in the
    # scores); the windowed rows are no worse than the dense ones.
    assert window_err <= 2 * dense_err + 1e-6, (window_err, dense_err)


def test_vmap_jvp_and_nan():
    x, _ = _inputs(1024, 6)

    def f(v):
        return sj.sort(v, axis=-1, method="neuralsort", mode="c1")

    batched = jax.vmap(f)(x)
    np.testing.assert_allclose(batched, f(x), rtol=1e-12, atol=1e-12)
    _, tangent = jax.jvp(f, (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(tangent, 1.0, atol=1e-8)  # shift equivariance
    poisoned = x.at[0, 3].set(jnp.nan)
    out = f(poisoned)
    assert np.all(np.isnan(out[0])) and np.all(np.isfinite(out[1]))


def _method_rank(xhat, softness, mode, descending):
    return neuralsort.rank(None, xhat, softness=softness, mode=mode, descending=descending, options=None)


@pytest.mark.parametrize("mode", SPARSE)
@pytest.mark.parametrize("descending", [True, False])
def test_windowed_rank_equals_dense(monkeypatch, mode, descending):
    _, xhat = _inputs(1024, 7, ties=True)
    rows, _ = neuralsort._banded(xhat, 0.1, mode)
    coef = descending_coefficients(1024, xhat.dtype) * (1 if descending else -1)
    _, _, ok = neuralsort_window.rank_sums(rows, coef, 0.1, mode, 256)
    assert np.all(np.asarray(ok)), "the window path was not taken"
    got = _method_rank(xhat, 0.1, mode, descending)
    monkeypatch.setattr(neuralsort_window, "MIN_N", 10**9)  # the dense rows
    ref = _method_rank(xhat, 0.1, mode, descending)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("mode", ["c0", "c2"])
def test_windowed_rank_gradient_equals_dense(monkeypatch, mode):
    _, xhat = _inputs(1024, 8)
    w = jnp.sin(jnp.arange(1024.0))

    def grad():
        return jax.grad(lambda v: jnp.sum(w * _method_rank(v, 0.1, mode, True)))(xhat)

    got = grad()
    monkeypatch.setattr(neuralsort_window, "MIN_N", 10**9)
    ref = grad()
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-9 * float(jnp.max(jnp.abs(ref))))


@pytest.mark.parametrize("mode", ("smooth", *SPARSE))
def test_top_k_values_on_windows_equal_the_row_contraction(monkeypatch, mode):
    # k >= 16 at n >= 1024: the values are the first k positions of the
    # windowed sort (only those k rows); the reference contracts the k dense
    # rows with x, as the index's rows. Gradients through x and the rows alike.
    from softjax._src import topk

    x, _ = _inputs(1024, 9, ties=True)
    w = jnp.cos(jnp.arange(64.0))

    def values_and_grad():
        f = lambda v: sj.top_k(v, 64, method="neuralsort", mode=mode)[0]
        return f(x), jax.grad(lambda v: jnp.sum(w * f(v)))(x)

    calls = []
    original = neuralsort_window.sorted_values
    monkeypatch.setattr(
        neuralsort_window, "sorted_values", lambda *a, **k: calls.append(a[2].shape) or original(*a, **k)
    )
    got, got_grad = values_and_grad()
    assert calls and all(shape == (64,) for shape in calls), calls  # k windows per row, not n
    monkeypatch.setattr(topk, "VALUES_FROM_SORT_MIN_K", 10**9)
    ref, ref_grad = values_and_grad()
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got_grad, ref_grad, rtol=1e-8, atol=1e-9 * float(jnp.max(jnp.abs(ref_grad))))
    # The index is the same rows' SoftIndex, whichever path the values take.
    np.testing.assert_allclose(
        jnp.einsum("bkn,bn->bk", sj.top_k(x, 64, method="neuralsort", mode=mode)[1], x),
        ref,
        rtol=1e-10,
        atol=1e-10,
    )
