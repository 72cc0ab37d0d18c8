"""Soft bitonic sorting network: kernel layout, padding fix, method protocol, autodiff."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jax.test_util import check_grads

from softjax._src.kernels import sorting_network as K
from softjax._src.methods import sorting_network as M
from softjax._src.steps import sigmoidal

X5 = np.array([0.2, 1.7, -0.5, 0.9, 0.3])


def hard_step(d):
    return jnp.where(d > 0, 1.0, jnp.where(d < 0, 0.0, 0.5)).astype(d.dtype)


def smooth(s=0.3, mode="smooth"):
    return functools.partial(sigmoidal, softness=s, mode=mode)


def standardize(x):
    """Spec §1.1, with the §1.2 inverse (local copy: only the numbers matter here)."""
    mu = x.mean(-1, keepdims=True)
    sd = jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-6)

    def unsquash(y):
        c = max(1e-10, 10 * float(jnp.finfo(y.dtype).eps))
        y = jnp.clip(y, c, 1 - c)
        return jnp.log(y / (1 - y)) * sd + mu

    return jax.nn.sigmoid((x - mu) / sd), unsquash


def kw(softness=0.3, mode="smooth"):
    return dict(softness=softness, mode=mode, options={})


def reference_network(x, softness, n):
    """Literal spec §7.2/§7.3 in NumPy, one position at a time, own sigma per
    position; slots >= n are +inf padding (hard comparators)."""
    size = len(x)
    v, P, pad = x.astype(float).copy(), np.eye(size), np.arange(size) >= n
    m = size.bit_length() - 1
    for phase in range(m):
        for sub in range(phase + 1):
            d = 2 ** (phase - sub)
            nv, nP, npad = v.copy(), P.copy(), pad.copy()
            for i in range(size):
                p = i ^ d
                asc = (i & 2 ** (phase + 1)) == 0
                gets_min = (asc and i < p) or (not asc and i > p)
                if pad[i] and pad[p]:
                    continue
                if pad[i] or pad[p]:
                    mix = float((gets_min and pad[i]) or (not gets_min and pad[p]))
                else:
                    sig = 1 / (1 + np.exp(-(v[i] - v[p]) / softness))
                    mix = sig if gets_min else 1 - sig
                nv[i] = (1 - mix) * v[i] + mix * v[p]
                nP[i] = (1 - mix) * P[i] + mix * P[p]
                if mix == 1:
                    npad[i] = pad[p]
            v, P, pad = nv, nP, npad
    return v[:n], P[:n, :n]


# --- layout ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 100])
def test_hard_step_is_exact_sort(n):
    rng = np.random.default_rng(n)
    x = jnp.asarray(np.stack([rng.integers(0, 4, n), rng.normal(size=n)]).astype(float))
    np.testing.assert_array_equal(K.soft_sort_values(x, hard_step), jnp.sort(x, -1))
    P = K.soft_permutation(x, hard_step)
    # ties mix with weight 1/2, so compare via values; distinct values give one-hots
    np.testing.assert_array_equal(P[1] @ x[1], jnp.sort(x[1]))
    assert set(np.unique(P[1])) <= {0.0, 1.0}


@pytest.mark.parametrize("n", [5, 8, 11])
def test_matches_literal_spec_network(n):
    x = np.random.default_rng(0).normal(size=n)
    size = K.network_size(n)
    v_ref, P_ref = reference_network(np.pad(x, (0, size - n)), 0.4, n)
    np.testing.assert_allclose(K.soft_sort_values(jnp.asarray(x), smooth(0.4)), v_ref, atol=1e-12)
    np.testing.assert_allclose(K.soft_permutation(jnp.asarray(x), smooth(0.4)), P_ref, atol=1e-12)


def test_network_size_and_errors():
    assert [K.network_size(n) for n in (1, 2, 3, 4, 5, 16, 17)] == [2, 2, 4, 4, 8, 16, 32]
    with pytest.raises(ValueError, match="at least one element"):
        K.network_size(0)
    assert len(K._schedule(16384).shift) == 105  # log2N (log2N + 1) / 2


@pytest.mark.parametrize("n", [5, 8])
def test_doubly_stochastic_and_values_equal_Px(n):
    x = jax.random.normal(jax.random.key(n), (2, 3, n))
    P = K.soft_permutation(x, smooth(0.5))
    assert P.shape == (2, 3, n, n) and bool(jnp.all(P >= 0))
    np.testing.assert_allclose(P.sum(-1), 1, atol=1e-14)
    np.testing.assert_allclose(P.sum(-2), 1, atol=1e-14)
    values = K.soft_sort_values(x, smooth(0.5))
    np.testing.assert_allclose(values, (P @ x[..., None])[..., 0], atol=1e-13)
    np.testing.assert_allclose(values.sum(-1), x.sum(-1), atol=1e-13)  # mass conservation


def test_rows_equal_full_matrix_rows_and_nested_checkpointing(monkeypatch):
    x = jax.random.normal(jax.random.key(3), (2, 7))
    P = K.soft_permutation(x, smooth())
    rows = jax.jit(lambda x, r: K.soft_permutation_rows(x, smooth(), r))
    np.testing.assert_allclose(rows(x, jnp.array([6, 0, 3])), P[:, [6, 0, 3]], atol=1e-14)
    np.testing.assert_allclose(rows(x, jnp.array([2, 2, 5])), P[:, [2, 2, 5]], atol=1e-14)

    def loss(x):
        return (K.soft_permutation(x, smooth()) * jnp.arange(49.0).reshape(7, 7)).sum()

    g_flat = jax.grad(loss)(x)
    monkeypatch.setattr(K, "_NESTED_CHECKPOINT_ELEMENTS", 0)
    np.testing.assert_allclose(K.soft_permutation(x, smooth()), P, atol=1e-14)
    np.testing.assert_allclose(jax.grad(loss)(x), g_flat, atol=1e-12)


# --- padding fix (pitfall 8) and the prior reference values -----------------------


def test_no_padding_leak():
    for dtype in (jnp.float32, jnp.float64):
        one = jnp.array([42.0], dtype)
        assert K.soft_sort_values(one, smooth()).tolist() == [42.0]
        xh, unsquash = standardize(one)
        assert M.sort(one, xh, descending=False, gated=True, unsquash=unsquash, **kw())[0] == 42
        assert M.rank(one, xh, descending=True, **kw()).tolist() == [1.0]
        assert M.argmax(xh, log=False, **kw()).tolist() == [1.0]
    x = jnp.arange(5.0)
    xh, unsquash = standardize(x)
    top = M.sort(x, xh, descending=True, gated=True, unsquash=unsquash, **kw(0.1))[0]
    assert 3 < top <= 4
    assert K.soft_sort_values(x, smooth(0.1))[-1] <= 4  # raw (standardize=False)
    P = K.soft_permutation(jax.random.normal(jax.random.key(0), (9,)), smooth(1.0))
    np.testing.assert_allclose(P.sum(-1), 1, atol=1e-15)
    np.testing.assert_allclose(P.sum(-2), 1, atol=1e-15)


def test_prior_leaky_padding_emulation_reproduces_spec_values():
    """Pad with 1.0 in squashed space and renormalise rows (the prior §7.4)."""
    x = jnp.asarray(X5)
    xh, unsquash = standardize(x)
    padded = jnp.concatenate([xh, jnp.ones(3)])
    values = unsquash(K.soft_sort_values(padded, smooth())[:5])
    np.testing.assert_allclose(
        values, [0.710683, 0.712557, 0.797219, 0.797251, 1.361670], atol=1e-6
    )
    np.testing.assert_allclose(0.8 * values[1] + 0.2 * values[2], 0.729490, atol=1e-6)
    np.testing.assert_allclose(values[2], 0.797219, atol=1e-6)
    P = K.soft_permutation(padded, smooth())[:5, :5]
    P = P / jnp.maximum(P.sum(-1, keepdims=True), 1e-10)
    Pt = P[::-1].T  # descending=True (rank's default)
    Pt = Pt / jnp.maximum(Pt.sum(-1, keepdims=True), 1e-10)
    np.testing.assert_allclose(
        Pt @ jnp.arange(1.0, 6.0), [3.146454, 2.903997, 3.365971, 3.191464, 2.220225], atol=1e-6
    )


def test_fixed_reference_values():
    x = jnp.asarray(X5)
    xh, unsquash = standardize(x)
    sort = M.sort(x, xh, descending=False, gated=True, unsquash=unsquash, **kw())
    np.testing.assert_allclose(sort, [0.440371, 0.440579, 0.495519, 0.503976, 0.654254], atol=1e-6)
    rank = M.rank(x, xh, descending=True, **kw())
    np.testing.assert_allclose(rank, [3.112224, 2.719866, 3.384740, 3.190386, 2.592785], atol=1e-6)
    sort = M.sort(x, xh, descending=False, gated=True, unsquash=unsquash, **kw(0.1))
    np.testing.assert_allclose(sort, [-0.235216, 0.180146, 0.354156, 0.779442, 1.522425], atol=1e-6)
    argmax = M.argmax(xh, log=False, **kw(0.1))
    np.testing.assert_allclose(argmax, [0.019836, 0.873445, 0.002940, 0.081390, 0.022388], atol=1e-6)


# --- method protocol ----------------------------------------------------------------


def test_method_outputs_are_consistent():
    xh = jax.random.uniform(jax.random.key(1), (2, 6))
    args = kw(0.2)
    asc = M.argsort(xh, descending=False, log=False, **args)
    desc = M.argsort(xh, descending=True, log=False, **args)
    np.testing.assert_allclose(desc, asc[..., ::-1, :], atol=1e-14)
    np.testing.assert_allclose(M.argmax(xh, log=False, **args), desc[..., 0, :], atol=1e-14)
    np.testing.assert_allclose(M.top_k(xh, 3, log=False, **args), desc[..., :3, :], atol=1e-14)
    k = jnp.int32(1)
    r1, r2 = M.quantile_rows(xh, k, k + 1, log=False, interpolating=True, **args)
    np.testing.assert_allclose(r1, asc[..., 1, :], atol=1e-14)
    np.testing.assert_allclose(r2, asc[..., 2, :], atol=1e-14)
    r1, _ = M.quantile_rows(xh, jnp.int32(4), jnp.int32(5), log=False, interpolating=False, **args)
    np.testing.assert_allclose(r1, asc[..., 4, :], atol=1e-14)
    ident = lambda y: y  # noqa: E731
    s_asc = M.sort(xh, xh, descending=False, gated=True, unsquash=ident, **args)
    s_desc = M.sort(xh, xh, descending=True, gated=False, unsquash=ident, **args)
    np.testing.assert_allclose(s_desc, s_asc[..., ::-1], atol=0)
    np.testing.assert_allclose(s_asc, (asc @ xh[..., None])[..., 0], atol=1e-14)
    r_desc = M.rank(xh, xh, descending=True, **args)
    r_asc = M.rank(xh, xh, descending=False, **args)
    np.testing.assert_allclose(r_asc, jnp.einsum("...ji,j->...i", asc, jnp.arange(1.0, 7)), atol=1e-13)
    np.testing.assert_allclose(r_desc, 7 - r_asc, atol=1e-13)


def test_log_outputs():
    xh = jnp.array([0.1, 0.9, 0.5, 0.52, 0.3])
    args = kw(0.01, "c0")  # sparse: exact zeros
    p = M.argsort(xh, descending=True, log=False, **args)
    logp = M.argsort(xh, descending=True, log=True, **args)
    assert bool(jnp.any(p == 0)) and bool(jnp.all(jnp.isneginf(logp) == (p == 0)))
    np.testing.assert_allclose(jnp.exp(logp), p, atol=1e-15)

    def loss(x):
        lp = M.argmax(x, log=True, **args)
        return jnp.where(jnp.isfinite(lp), lp, 0.0).sum()

    assert bool(jnp.all(jnp.isfinite(jax.grad(loss)(xh))))


# --- soft -> hard ---------------------------------------------------------------------


def test_soft_tends_to_hard():
    x = jax.random.normal(jax.random.key(5), (11,))
    errors = [float(jnp.abs(K.soft_sort_values(x, smooth(s)) - jnp.sort(x)).max()) for s in (0.1, 1e-2, 1e-4)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-12
    P = K.soft_permutation(x, smooth(1e-4, "c1"))
    np.testing.assert_array_equal(P, jax.nn.one_hot(jnp.argsort(x), 11))


# --- autodiff -------------------------------------------------------------------------


def _weights(n):
    return jnp.arange(1.0, n + 1) ** 1.5


def test_check_grads():
    x = jnp.asarray(X5)
    # values through the custom_jvp, including a traced (closed-over) softness
    f = jax.jit(lambda s, x: K.soft_sort_values(x, smooth(s)) @ _weights(5))
    check_grads(f, (0.4, x), order=2, modes=("fwd", "rev"), eps=1e-5)
    # rows: weights output of the custom_jvp + row propagation (power of two, c2)
    g = jax.jit(lambda x: (K.soft_permutation_rows(x, smooth(0.5, "c2"), jnp.array([3, 1])) @ x).sum())
    check_grads(g, (x[:4],), order=2, modes=("fwd", "rev"), eps=1e-5)
    h = jax.jit(lambda s, x: M.rank(x, x, softness=s, mode="smooth", descending=True, options={}) @ x)
    check_grads(h, (0.4, x), order=1, modes=("fwd", "rev"), eps=1e-5)


def test_custom_rule_matches_plain_autodiff():
    """The custom_jvp (values and weights) against autodiff of the plain sweep."""
    x = jnp.asarray(X5)
    sched = K._schedule(5)

    def plain(s, x):
        values, rec = K._sweep(K._pad(x, 8), smooth(s), (), sched, ("W",))
        return values[:5], rec["W"]

    def custom(s, x):
        return K._network(K._pad(x, 8), smooth(s), sched, with_weights=True)

    for fn in (jax.jacfwd, jax.jacrev):
        jac_p = fn(plain, argnums=(0, 1))(0.4, x)
        jac_c = fn(custom, argnums=(0, 1))(0.4, x)
        for a, b in zip(jax.tree.leaves(jac_p), jax.tree.leaves(jac_c)):
            np.testing.assert_allclose(a, b, atol=1e-12)
    loss = lambda f: lambda s, x: f(s, x)[0] @ _weights(5)  # noqa: E731
    hess_p = jax.hessian(loss(plain), argnums=(0, 1))(0.4, x)
    hess_c = jax.hessian(loss(custom), argnums=(0, 1))(0.4, x)
    for a, b in zip(jax.tree.leaves(hess_p), jax.tree.leaves(hess_c)):
        np.testing.assert_allclose(a, b, atol=1e-11)


def test_transformations():
    x = jax.random.normal(jax.random.key(7), (3, 6))
    f = lambda x: K.soft_sort_values(x, smooth())  # noqa: E731
    np.testing.assert_allclose(jax.vmap(f)(x), f(x), atol=1e-15)
    np.testing.assert_allclose(jax.jit(f)(x), f(x), atol=1e-15)
    np.testing.assert_allclose(jax.jacfwd(f)(x[0]), jax.jacrev(f)(x[0]), atol=1e-13)
    loss = lambda x: f(x) @ _weights(6)  # noqa: E731
    H = jax.hessian(loss)(x[0])
    assert H.shape == (6, 6) and bool(jnp.all(jnp.isfinite(H)))
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    rows = lambda x: K.soft_permutation_rows(x, smooth(), jnp.array([5]))  # noqa: E731
    np.testing.assert_allclose(jax.vmap(rows)(x), rows(x), atol=1e-15)
    np.testing.assert_allclose(jax.jacfwd(rows)(x[0]), jax.jacrev(rows)(x[0]), atol=1e-13)


@pytest.mark.parametrize("mode", ["smooth", "c0", "c1", "c2"])
def test_float32_finite_values_and_grads(mode):
    @jax.jit
    def value_and_grads(x):
        def loss(x):
            args = kw(0.1, mode)
            s = M.sort(x, x, descending=False, gated=True, unsquash=lambda y: y, **args)
            a = M.argmax(x, log=False, **args)
            r = M.rank(x, x, descending=True, **args)
            return s @ jnp.sin(x) + a @ jnp.cos(x) + r @ x

        return jax.value_and_grad(loss)(x)

    cases = {
        6: [
            np.random.default_rng(0).normal(size=6),
            [1.0, 1.0, 2.0, 2.0, 1.0, 2.0],  # ties
            [3.0] * 6,  # constant
            np.random.default_rng(1).normal(size=6) * 1e6,
        ],
        1: [[0.7]],
        2: [[0.1, -0.4], [2.0, 2.0]],
    }
    for values in cases.values():
        for v in values:
            value, grad = value_and_grads(jnp.asarray(v, jnp.float32))
            assert value.dtype == jnp.float32 and grad.dtype == jnp.float32
            assert bool(jnp.isfinite(value)) and bool(jnp.all(jnp.isfinite(grad))), (mode, v)
    value, grad = value_and_grads(jnp.array([0.1, jnp.nan, 0.3, 0.2, 0.5, 0.0], jnp.float32))
    assert bool(jnp.isnan(value))  # NaN in -> NaN out, no crash


# --- invariants ---------------------------------------------------------------------


_invariants = jax.jit(
    lambda x: (
        K.soft_sort_values(x, smooth(0.2)),
        M.rank(x, x, descending=True, **kw(0.2)),
        M.argmax(x, log=False, **kw(0.2)),
    )
)


@given(hnp.arrays(np.float64, 7, elements=st.floats(-100, 100)))
def test_invariants(x):
    values, ranks, argmax = _invariants(jnp.asarray(x))
    assert np.all(values >= x.min() - 1e-9) and np.all(values <= x.max() + 1e-9)
    np.testing.assert_allclose(values.sum(), x.sum(), atol=1e-9)
    assert np.all(ranks >= 1 - 1e-12) and np.all(ranks <= 7 + 1e-12)
    np.testing.assert_allclose(ranks.sum(), 28, atol=1e-9)
    np.testing.assert_allclose(argmax.sum(), 1, atol=1e-12)


# --- memory (pitfall 11) ----------------------------------------------------------------


def test_argmax_reverse_memory_is_small():
    n = 1024
    x = jnp.zeros((n,), jnp.float32)
    loss = lambda x: M.argmax(x, log=False, **kw(0.1)) @ jnp.arange(n, dtype=x.dtype)  # noqa: E731
    stats = jax.jit(jax.value_and_grad(loss)).lower(x).compile().memory_analysis()
    if stats is None:
        pytest.skip("memory analysis unavailable on this backend")
    assert stats.temp_size_in_bytes < 8e6  # prior implementation: 475 MB
