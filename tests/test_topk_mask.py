"""``sj.top_k_mask`` / ``sj.top_k_mask_st``: soft top-k subset selection."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj
from softjax._src import topk_mask

# From the method declarations (registry.METHODS) and top_k_mask's own threshold.
METHODS = topk_mask.methods()
PERMUTATION_METHODS = topk_mask.permutation_methods()
REAL_K_METHODS = topk_mask.real_k_methods()

MODES = ("smooth", "c0", "c1", "c2")
_RNG = np.random.default_rng(0)
X5 = np.array([0.3, -1.2, 2.0, 0.7, 0.1])


def _khot(x, k, axis):
    x = jnp.moveaxis(jnp.asarray(x), axis, -1)
    idx = jax.lax.top_k(x, k)[1]
    mask = jnp.sum(jax.nn.one_hot(idx, x.shape[-1], dtype=jnp.float64), axis=-2)
    return np.asarray(jnp.moveaxis(mask, -1, axis))


# --------------------------------------------------------------------------- hard mode


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_hard_equals_lax_top_k_khot(axis):
    x = np.round(_RNG.standard_normal((4, 6, 5)) * 2) / 2  # many ties
    n = x.shape[axis]
    for k in (1, 2, n):
        out = sj.top_k_mask(jnp.asarray(x), k, axis=axis, mode="hard")
        assert out.shape == x.shape and out.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(out), _khot(x, k, axis))


def test_hard_ties_lowest_index_wins_and_dtypes():
    out = sj.top_k_mask(jnp.array([1.0, 3.0, 3.0, 3.0], jnp.float32), 2, mode="hard")
    np.testing.assert_array_equal(out, [0.0, 1.0, 1.0, 0.0])
    assert out.dtype == jnp.float32
    assert sj.top_k_mask(jnp.array([1, 5, 2]), 1, mode="hard").dtype == jnp.result_type(float)
    assert sj.top_k_mask(jnp.array([1, 5, 2]), 1).dtype == jnp.result_type(float)
    assert sj.top_k_mask(jnp.ones(3, jnp.bfloat16), 1, mode="hard").dtype == jnp.bfloat16
    flat = sj.top_k_mask(jnp.arange(6.0).reshape(2, 3), 2, axis=None, mode="hard")
    np.testing.assert_array_equal(flat, [[0, 0, 0], [0, 1, 1]])


# --------------------------------------------------------------------------- soft masks


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
def test_sum_is_k_and_entries_in_unit_interval_float32(method, mode):
    x = jnp.asarray(_RNG.standard_normal((3, 7)), jnp.float32)
    softness = jnp.array([0.05, 1.0], jnp.float32)
    for k in (1, 3, 7):
        f = jax.jit(jax.vmap(lambda s, k=k: sj.top_k_mask(x, k, softness=s, mode=mode, method=method)))
        y = f(softness)
        assert y.dtype == jnp.float32 and y.shape == (2, *x.shape)
        assert np.all(np.asarray(y) >= 0) and np.all(np.asarray(y) <= 1)
        # Each row sums to 1 only up to one float32 rounding of its scores:
        # XLA may evaluate the gaps twice (for the normaliser and for the
        # output, in different fusions), and a rounding taken differently
        # moves the gaps by eps * |score|, the cube of a gap (c2) by three
        # times that. The scores reach 1 / softness, or (2n - 2) / softness
        # for neuralsort's (n + 1 - 2r) x̂ - A (3.5e-5 measured at k = 1).
        score_bound = (2 * x.shape[-1] - 2 if method == "neuralsort" else 1) / float(softness.min())
        tol = k * 3 * float(jnp.finfo(jnp.float32).eps) * score_bound
        np.testing.assert_allclose(np.asarray(y, np.float64).sum(-1), k, atol=tol)
    if method in REAL_K_METHODS:
        y = sj.top_k_mask(x, 2.5, mode=mode, method=method)
        np.testing.assert_allclose(np.asarray(y, np.float64).sum(-1), 2.5, atol=1e-6)


def _euclidean_capped_reference(z, k):
    lo, hi = z.min() - 1.0, z.max()
    while hi - lo > 1e-14:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.clip(z - mid, 0, 1).sum() >= k else (lo, mid)
    return np.clip(z - 0.5 * (lo + hi), 0, 1)


@pytest.mark.parametrize("k", [1, 2, 2.7, 5])
def test_fast_soft_sort_c0_matches_euclidean_projection(k):
    x = _RNG.standard_normal((4, 9))
    s = 0.2
    y = sj.top_k_mask(jnp.asarray(x), k, softness=s, mode="c0", standardize=False)
    for row, out in zip(x, np.asarray(y), strict=True):
        np.testing.assert_allclose(out, _euclidean_capped_reference(row / s, k), atol=1e-10)


def test_small_softness_recovers_hard_mask():
    x = jnp.asarray(X5)
    for method in METHODS:
        y = sj.top_k_mask(x, 2, softness=1e-3, method=method, mode="c0")
        np.testing.assert_allclose(y, _khot(X5, 2, -1), atol=1e-3, err_msg=method)


# --------------------------------------------------------------------------- derivatives


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", REAL_K_METHODS)
def test_check_grads_real_k_methods(method, mode):
    x = jnp.asarray(_RNG.standard_normal((2, 6)))
    w = jnp.cos(jnp.arange(12.0)).reshape(2, 6)
    order = 1 if mode == "c0" else 2

    def f(x, k):
        return jnp.sum(w * sj.top_k_mask(x, k, softness=0.3, mode=mode, method=method))

    # Jointly in x and a real-valued k (an integer k is the same kernel with
    # a constant k).
    check_grads(f, (x, 2.4), order=order, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", PERMUTATION_METHODS)
def test_check_grads_permutation_methods(method):
    x = jnp.asarray(_RNG.standard_normal(5))
    w = jnp.cos(jnp.arange(5.0))
    f = jax.jit(lambda x: jnp.sum(w * sj.top_k_mask(x, 2, softness=0.5, mode="smooth", method=method)))
    check_grads(f, (x,), order=1, modes=("fwd", "rev"), atol=1e-4, rtol=1e-4)


def test_k_derivative_moves_mass_consistently():
    x = jnp.asarray(_RNG.standard_normal(6))
    for method in REAL_K_METHODS:
        d = jax.jit(jax.jacfwd(lambda k, m=method: sj.top_k_mask(x, k, method=m)))(2.5)
        np.testing.assert_allclose(jnp.sum(d), 1.0, atol=1e-10)
        assert np.all(np.asarray(d) >= -1e-12)


def test_transforms_jit_vmap_jvp_hessian():
    x = jnp.asarray(_RNG.standard_normal((3, 5)))
    f = jax.jit(lambda x, k: sj.top_k_mask(x, k, softness=0.5))
    np.testing.assert_allclose(f(x, 2.0), sj.top_k_mask(x, 2.0, softness=0.5), atol=1e-12)
    per_k = jax.vmap(lambda k: sj.top_k_mask(x, k, method="threshold"))(jnp.array([1.0, 2.5, 4.0]))
    np.testing.assert_allclose(per_k.sum(-1), [[1.0] * 3, [2.5] * 3, [4.0] * 3], atol=1e-9)
    rows = jax.vmap(lambda r: sj.top_k_mask(r, 2, method="softsort"))(x)
    np.testing.assert_allclose(rows, sj.top_k_mask(x, 2, method="softsort"), atol=1e-12)
    _, tangent = jax.jvp(lambda x: sj.top_k_mask(x, 2, mode="c1"), (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(tangent, 0.0, atol=1e-9)  # shift invariance
    h = jax.jit(jax.hessian(lambda v: sj.top_k_mask(v, 2, mode="c2", method="threshold")[0]))(x[0])
    assert h.shape == (5, 5) and np.all(np.isfinite(h))
    np.testing.assert_allclose(h, h.T, atol=1e-8)


# --------------------------------------------------------------------------- hostile inputs


def _hostile_rows(dtype):
    top = 0.9 * float(jnp.finfo(dtype).max)
    return [
        np.array([1.0, 1.0, 1.0, 1.0, 1.0]),
        np.array([1.0, 2.0, 2.0, 0.0, 2.0]),
        X5 * 1e-30,
        np.array([1.0, -1.0, 1.0, -1.0, 0.5]) * top,
        np.linspace(-1.0, 1.0, 5) * top,
    ]


@pytest.mark.filterwarnings("ignore::softjax.OTPrecisionWarning")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("method", METHODS)
def test_hostile_inputs_finite_values_and_gradients(method, dtype):
    x = jnp.asarray(np.stack(_hostile_rows(dtype)), dtype)

    def f(x, s, mode):
        y = sj.top_k_mask(x, 2, softness=s, mode=mode, method=method)
        return jnp.sum(jnp.cos(jnp.arange(y.size)).reshape(y.shape) * y.astype(jnp.float32)), y

    softness = jnp.array([1e-6, 1e3], jnp.float32)
    for mode in ("smooth", "c1"):
        run = jax.jit(
            jax.vmap(jax.value_and_grad(lambda x, s, m=mode: f(x, s, m), has_aux=True), in_axes=(None, 0))
        )
        (_, y), g = run(x, softness)
        assert y.dtype == x.dtype
        arr = np.asarray(y, np.float64)
        assert np.all(np.isfinite(arr)) and np.all((arr >= 0) & (arr <= 1))
        assert np.all(np.isfinite(np.asarray(g, np.float64)))
    for tiny_row in (jnp.asarray([0.7], dtype), jnp.asarray([0.7, 0.7], dtype)):
        y = sj.top_k_mask(tiny_row, 1, method=method)
        np.testing.assert_allclose(np.asarray(y, np.float64).sum(), 1.0, atol=1e-2)


def test_nan_in_nan_out():
    x = jnp.array([[0.1, jnp.nan, 0.3, 0.5], [0.1, 0.2, 0.3, 0.4]])
    for method in METHODS:
        for mode in ("smooth", "c0") if method in REAL_K_METHODS else ("smooth",):
            y = sj.top_k_mask(x, 2, mode=mode, method=method)
            assert np.all(np.isnan(y[0])), (method, mode)
            assert np.all(np.isfinite(y[1]))
        assert np.all(
            np.isnan(sj.top_k_mask(x, 2.5, method=method if method in REAL_K_METHODS else "threshold")[0])
        )


# --------------------------------------------------------------------------- errors


def test_errors():
    x = jnp.asarray(X5)
    for bad in (0, -1, 6, 0.0, 5.5, float("nan"), True, "2", jnp.ones(2)):
        with pytest.raises(ValueError, match="k must be"):
            sj.top_k_mask(x, bad)
    for method in PERMUTATION_METHODS:
        with pytest.raises(ValueError, match="k must be"):
            sj.top_k_mask(x, 2.5, method=method)
        with pytest.raises(ValueError, match=r"k must be .*traced"):
            jax.jit(lambda k, m=method: sj.top_k_mask(x, k, method=m))(2)
    with pytest.raises(ValueError, match="k must be"):
        sj.top_k_mask(x, 2.5, mode="hard")
    with pytest.raises(ValueError, match="k must be"):
        jax.jit(lambda k: sj.top_k_mask(x, k, mode="hard"))(2)
    with pytest.raises(ValueError, match=r"Invalid method: 'bogus'.*'fast_soft_sort'.*'threshold'"):
        sj.top_k_mask(x, 2, method="bogus")
    with pytest.raises(ValueError, match="Invalid mode"):
        sj.top_k_mask(x, 2, mode="soft")
    with pytest.raises(ValueError, match="softness"):
        sj.top_k_mask(x, 2, softness=0.0)
    # an integer-valued float is an integer k
    np.testing.assert_array_equal(sj.top_k_mask(x, 2.0, mode="hard"), _khot(X5, 2, -1))


# --------------------------------------------------------------------------- straight-through


@pytest.mark.parametrize("method", ["fast_soft_sort", "threshold", "softsort"])
def test_st_forward_is_hard_and_gradient_is_soft(method):
    x = jnp.asarray(_RNG.standard_normal((2, 6)), jnp.float32)
    hard = sj.top_k_mask(x, 3, mode="hard")
    st = sj.top_k_mask_st(x, 3, mode="c1", method=method)
    assert st.dtype == hard.dtype
    np.testing.assert_array_equal(np.asarray(st), np.asarray(hard))
    w = jnp.cos(jnp.arange(12.0, dtype=jnp.float32)).reshape(2, 6)
    g_st = jax.grad(lambda x: jnp.sum(w * sj.top_k_mask_st(x, 3, mode="c1", method=method)))(x)
    g_soft = jax.grad(lambda x: jnp.sum(w * sj.top_k_mask(x, 3, mode="c1", method=method)))(x)
    np.testing.assert_array_equal(np.asarray(g_st), np.asarray(g_soft))
    assert sj.straight_through.top_k_mask_st is sj.top_k_mask_st
