"""Invariants of the soft axis-wise operators (hypothesis), log-prob outputs,
the hard limit as softness -> 0, and memory of the fused value operators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

import softjax as sj
from axiswise_cases import MODES

METHODS = ("softsort", "neuralsort")
# Two row lengths only: every new shape recompiles each eager operation.
rows = arrays(np.float64, st.sampled_from([2, 6]), elements=st.floats(-100, 100, width=64))


@given(
    x=rows,
    method=st.sampled_from(METHODS),
    mode=st.sampled_from(MODES),
    softness=st.sampled_from([0.05, 0.3, 2.0]),
)
def test_soft_index_rows_are_distributions(x, method, mode, softness):
    for out in (
        sj.argsort(x, softness=softness, mode=mode, method=method),
        sj.argmax(x, softness=softness, mode=mode, method=method),
        sj.argquantile(x, 0.4, softness=softness, mode=mode, method=method),
        sj.top_k(x, 2, softness=softness, mode=mode, method=method)[1],
    ):
        assert np.all(out >= 0)
        np.testing.assert_allclose(np.sum(out, -1), 1.0, rtol=1e-9)


@given(x=rows, method=st.sampled_from(METHODS), mode=st.sampled_from(MODES))
def test_rank_in_range_and_values_in_hull(x, method, mode):
    n = x.shape[0]
    r = sj.rank(x, mode=mode, method=method)
    assert np.all(r >= 1 - 1e-9) and np.all(r <= n + 1e-9)
    for v in (
        sj.sort(x, mode=mode, method=method),
        sj.max(x, mode=mode, method=method),
        sj.median(x, mode=mode, method=method),
    ):
        assert np.all(v >= x.min() - 1e-9) and np.all(v <= x.max() + 1e-9)


@given(x=rows, perm_seed=st.integers(0, 1000), method=st.sampled_from(METHODS), mode=st.sampled_from(MODES))
def test_permutation_equivariance(x, perm_seed, method, mode):
    perm = np.random.default_rng(perm_seed).permutation(x.shape[0])
    np.testing.assert_allclose(
        sj.sort(x[perm], mode=mode, method=method), sj.sort(x, mode=mode, method=method), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(
        sj.rank(x[perm], mode=mode, method=method),
        sj.rank(x, mode=mode, method=method)[perm],
        rtol=1e-9,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        sj.argmax(x[perm], mode=mode, method=method),
        sj.argmax(x, mode=mode, method=method)[perm],
        rtol=1e-9,
        atol=1e-12,
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", MODES)
def test_hard_limit(method, mode):
    x = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3, -1.2])
    s = 1e-4
    np.testing.assert_allclose(sj.sort(x, softness=s, mode=mode, method=method), jnp.sort(x), atol=1e-6)
    np.testing.assert_allclose(
        sj.rank(x, softness=s, mode=mode, method=method), sj.rank(x, mode="hard"), atol=1e-6
    )
    np.testing.assert_allclose(
        sj.argsort(x, softness=s, mode=mode, method=method), sj.argsort(x, mode="hard"), atol=1e-6
    )
    np.testing.assert_allclose(
        sj.quantile(x, 0.3, softness=s, mode=mode, method=method), jnp.quantile(x, 0.3), atol=1e-6
    )
    np.testing.assert_allclose(
        sj.top_k(x, 3, softness=s, mode=mode, method=method)[0], jax.lax.top_k(x, 3)[0], atol=1e-6
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["smooth", "c0"])
def test_log_probs_exponentiate_back(method, mode):
    x = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3])
    for fn in (
        lambda **k: sj.argsort(x, **k),
        lambda **k: sj.argmax(x, **k),
        lambda **k: sj.argquantile(x, 0.3, **k),
        lambda **k: sj.top_k(x, 2, **k)[1],
    ):
        probs = fn(mode=mode, method=method)
        logs = fn(mode=mode, method=method, return_log_probs=True)
        np.testing.assert_allclose(jnp.exp(logs), probs, rtol=1e-9, atol=1e-14)
        eps = fn(mode=mode, method=method, return_log_probs=True, log_prob_eps=1e-3)
        assert np.all(np.isfinite(eps))
        clipped = jnp.clip(probs, 1e-3, 1.0)
        np.testing.assert_allclose(jnp.exp(eps), clipped / clipped.sum(-1, keepdims=True), rtol=1e-9)
    # gradients of log-prob outputs stay finite (no 0 * inf)
    g = jax.grad(
        lambda x: sj.argmax(x, mode=mode, method=method, return_log_probs=True, log_prob_eps=1e-3).sum()
    )(x)
    assert np.all(np.isfinite(g))


def test_top_k_values_independent_of_log_probs():
    x = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3])
    f = lambda x, lp: sj.top_k(x, 2, return_log_probs=lp)[0].sum()
    np.testing.assert_allclose(f(x, True), f(x, False), rtol=1e-14)
    np.testing.assert_allclose(jax.grad(f)(x, True), jax.grad(f)(x, False), rtol=1e-12)


def test_neuralsort_rank_never_zero():
    # columns that receive no mass get their hard rank, never 0
    x = jax.random.normal(jax.random.key(0), (300,), dtype=jnp.float32)
    for mode in ("c0", "smooth"):
        r = sj.rank(x, mode=mode)
        assert float(r.min()) >= 1.0 and float(r.max()) <= 300.0


@pytest.mark.parametrize("method", METHODS)
def test_fused_sort_memory_is_linear(method):
    # value+grad of sort never materialises n x n (rows are chunked)
    n = 4096
    f = jax.jit(jax.value_and_grad(lambda x: sj.sort(x, method=method).sum()))
    compiled = f.lower(jnp.zeros((n,), jnp.float32)).compile()
    mem = compiled.memory_analysis()
    total = mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
    assert total < 64 * n * 128 * 4, total  # far below the n^2 = 64 MiB of one matrix
