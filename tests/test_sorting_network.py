"""Soft bitonic sorting network: kernel layout, padding fix, method protocol, autodiff.

Compilation dominates the run time, so the tests share a few jitted helpers
(softness is a traced argument) and reuse the same shapes.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
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


def kw(softness=0.3, mode="smooth"):
    return dict(softness=softness, mode=mode, options={})


def standardize(x):
    """Standardize-and-squash and its inverse (local copy; only the numbers matter here)."""
    mu = x.mean(-1, keepdims=True)
    sd = jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-6)

    def unsquash(y):
        c = max(1e-10, 10 * float(jnp.finfo(y.dtype).eps))
        y = jnp.clip(y, c, 1 - c)
        return jnp.log(y / (1 - y)) * sd + mu

    return jax.nn.sigmoid((x - mu) / sd), unsquash


def reference_network(x, softness, n):
    """Literal bitonic network in NumPy, one position at a time with its own
    sigma; slots >= n are +inf padding (hard comparators)."""
    size = len(x)
    v, P, pad = x.astype(float).copy(), np.eye(size), np.arange(size) >= n
    for phase in range(size.bit_length() - 1):
        for sub in range(phase + 1):
            d = 2 ** (phase - sub)
            nv, nP = v.copy(), P.copy()
            npad = pad.copy()
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
                npad[i] = pad[p] if mix == 1 else pad[i]
            v, P, pad = nv, nP, npad
    return v[:n], P[:n, :n]


_hard_values = jax.jit(lambda x: K.soft_sort_values(x, hard_step))
_hard_permutation = jax.jit(lambda x: K.soft_permutation(x, hard_step))


@jax.jit
def _soft(x, s):
    return K.soft_sort_values(x, smooth(s)), K.soft_permutation(x, smooth(s))


@jax.jit
def _method_outputs(x, s):
    """What the public operators would compute with standardize=True."""
    xh, unsquash = standardize(x)
    sort = M.sort(x, xh, descending=False, gated=True, unsquash=unsquash, **kw(s))
    return dict(
        sort=sort,
        max=sort[..., -1],  # descending is a flip (test_method_outputs_are_consistent)
        rank=M.rank(x, xh, descending=True, **kw(s)),
        argmax=M.argmax(xh, log=False, **kw(s)),
    )


# --- layout ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9, 100])
def test_hard_step_is_exact_sort(n):
    rng = np.random.default_rng(n)
    x = jnp.asarray(np.stack([rng.integers(0, 4, n), rng.normal(size=n)]).astype(float))
    np.testing.assert_array_equal(_hard_values(x), jnp.sort(x, -1))
    if n in (3, 9):  # the matrix (row propagation) for a few lengths
        P = _hard_permutation(x)
        np.testing.assert_array_equal((P @ x[..., None])[..., 0], jnp.sort(x, -1))
        np.testing.assert_array_equal(P[1], jax.nn.one_hot(jnp.argsort(x[1]), n))  # distinct


@pytest.mark.parametrize("n", [5, 11])
def test_soft_layout_matches_literal_spec(n):
    x = jax.random.normal(jax.random.key(n), (2, 3, n))
    values, P = _soft(x, 0.4)
    size = K.network_size(n)
    for b in np.ndindex(2, 3):
        v_ref, P_ref = reference_network(np.pad(np.asarray(x[b]), (0, size - n)), 0.4, n)
        np.testing.assert_allclose(values[b], v_ref, atol=1e-12)
        np.testing.assert_allclose(P[b], P_ref, atol=1e-12)
    # doubly stochastic without renormalisation, sorted == P x, mass conserved
    assert bool(jnp.all(P >= 0))
    np.testing.assert_allclose(P.sum(-1), 1, atol=1e-14)
    np.testing.assert_allclose(P.sum(-2), 1, atol=1e-14)
    np.testing.assert_allclose(values, (P @ x[..., None])[..., 0], atol=1e-13)
    np.testing.assert_allclose(values.sum(-1), x.sum(-1), atol=1e-13)


def test_soft_tends_to_hard():
    x = jax.random.normal(jax.random.key(11), (2, 3, 11))
    errors = [float(jnp.abs(_soft(x, s)[0] - jnp.sort(x, -1)).max()) for s in (0.1, 1e-2, 1e-5)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-12
    hard = jax.nn.one_hot(jnp.argsort(x, -1), 11)
    np.testing.assert_allclose(_soft(x, 1e-5)[1], hard, atol=1e-12)


def test_network_size_and_errors():
    assert [K.network_size(n) for n in (1, 2, 3, 4, 5, 16, 17)] == [2, 2, 4, 4, 8, 16, 32]
    with pytest.raises(ValueError, match="at least one element"):
        K.network_size(0)
    assert len(K._schedule(16384).shift) == 105  # log2N (log2N + 1) / 2


def test_rows_equal_full_matrix_rows_and_flat_checkpointing(monkeypatch):
    x = jax.random.normal(jax.random.key(3), (2, 7))
    rows = jax.jit(lambda x, r: K.soft_permutation_rows(x, smooth(), r))
    P = _soft(x, 0.3)[1]
    np.testing.assert_allclose(rows(x, jnp.array([6, 0, 3])), P[:, [6, 0, 3]], atol=1e-14)
    np.testing.assert_allclose(rows(x, jnp.array([2, 2, 5])), P[:, [2, 2, 5]], atol=1e-14)

    def value_and_grad(x):
        coef = jnp.arange(49.0).reshape(7, 7)
        return jax.value_and_grad(lambda x: (K.soft_permutation(x, smooth()) * coef).sum())(x)

    value, grad = jax.jit(value_and_grad)(x)  # 7 rows: nested checkpointing
    monkeypatch.setattr(K, "_NESTED_CHECKPOINT_ROWS", 1000)
    value_flat, grad_flat = jax.jit(value_and_grad)(x)
    np.testing.assert_allclose(value_flat, value, atol=1e-12)
    np.testing.assert_allclose(grad_flat, grad, atol=1e-12)


# --- padding as exact +inf and the reference values -----------------------------------


def test_no_padding_leak():
    for dtype in (jnp.float32, jnp.float64):
        out = _method_outputs(jnp.array([42.0], dtype), 0.3)
        assert out["sort"].tolist() == [42.0] and out["max"] == 42
        assert out["rank"].tolist() == [1.0] and out["argmax"].tolist() == [1.0]
    out = _method_outputs(jnp.arange(5.0), 0.1)
    assert 3 < out["max"] <= 4 and out["sort"][0] >= 0
    raw = _soft(jnp.broadcast_to(jnp.arange(5.0), (2, 3, 5)), 0.1)[0]  # standardize=False
    assert raw.min() >= 0 and raw.max() <= 4


def test_prior_leaky_padding_emulation_reproduces_spec_values():
    """Pad with 1.0 in squashed space and renormalise rows (the prior, leaky padding)."""
    x = jnp.asarray(X5)
    xh, unsquash = standardize(x)
    values, P = _soft(jnp.broadcast_to(jnp.concatenate([xh, jnp.ones(3)]), (2, 3, 8)), 0.3)
    values = unsquash(values[0, 0, :5])
    np.testing.assert_allclose(values, [0.710683, 0.712557, 0.797219, 0.797251, 1.361670], atol=1e-6)
    np.testing.assert_allclose(0.8 * values[1] + 0.2 * values[2], 0.729490, atol=1e-6)  # q=0.3
    np.testing.assert_allclose(values[2], 0.797219, atol=1e-6)  # median
    P = P[0, 0, :5, :5]
    P = P / jnp.maximum(P.sum(-1, keepdims=True), 1e-10)
    Pt = P[::-1].T  # descending=True (rank's default)
    Pt = Pt / jnp.maximum(Pt.sum(-1, keepdims=True), 1e-10)
    np.testing.assert_allclose(
        Pt @ jnp.arange(1.0, 6.0), [3.146454, 2.903997, 3.365971, 3.191464, 2.220225], atol=1e-6
    )


def test_fixed_reference_values():
    out = _method_outputs(jnp.asarray(X5), 0.3)
    np.testing.assert_allclose(out["sort"], [0.440371, 0.440579, 0.495519, 0.503976, 0.654254], atol=1e-6)
    np.testing.assert_allclose(out["rank"], [3.112224, 2.719866, 3.384740, 3.190386, 2.592785], atol=1e-6)
    out = _method_outputs(jnp.asarray(X5), 0.1)
    np.testing.assert_allclose(out["sort"], [-0.235216, 0.180146, 0.354156, 0.779442, 1.522425], atol=1e-6)
    np.testing.assert_allclose(out["argmax"], [0.019836, 0.873445, 0.002940, 0.081390, 0.022388], atol=1e-6)


# --- method protocol ----------------------------------------------------------------


@jax.jit
def _all_methods(xh, k):
    args = kw(0.2)
    ident = lambda y: y
    return dict(
        asc=M.argsort(xh, descending=False, log=False, **args),
        desc=M.argsort(xh, descending=True, log=False, **args),
        argmax=M.argmax(xh, log=False, **args),
        q_interp=M.quantile_rows(xh, k, k + 1, log=False, interpolating=True, **args),
        q_single=M.quantile_rows(xh, k + 3, k + 4, log=False, interpolating=False, **args),
        sort_asc=M.sort(xh, xh, descending=False, gated=True, unsquash=ident, **args),
        sort_desc=M.sort(xh, xh, descending=True, gated=False, unsquash=ident, **args),
        rank_asc=M.rank(xh, xh, descending=False, **args),
        rank_desc=M.rank(xh, xh, descending=True, **args),
    )


def test_method_outputs_are_consistent():
    xh = jax.random.uniform(jax.random.key(1), (2, 6))
    o = _all_methods(xh, jnp.int32(1))
    asc, desc = o["asc"], o["desc"]
    np.testing.assert_allclose(desc, asc[..., ::-1, :], atol=1e-14)
    np.testing.assert_allclose(o["argmax"], desc[..., 0, :], atol=1e-14)
    np.testing.assert_allclose(o["q_interp"][0], asc[..., 1, :], atol=1e-14)
    np.testing.assert_allclose(o["q_interp"][1], asc[..., 2, :], atol=1e-14)
    np.testing.assert_allclose(o["q_single"][0], asc[..., 4, :], atol=1e-14)
    np.testing.assert_array_equal(o["sort_desc"], o["sort_asc"][..., ::-1])
    np.testing.assert_allclose(o["sort_asc"], (asc @ xh[..., None])[..., 0], atol=1e-14)
    expected = jnp.einsum("...ji,j->...i", asc, jnp.arange(1.0, 7))
    np.testing.assert_allclose(o["rank_asc"], expected, atol=1e-13)
    np.testing.assert_allclose(o["rank_desc"], 7 - o["rank_asc"], atol=1e-13)


def test_log_outputs():
    xh = jnp.array([0.1, 0.9, 0.5, 0.52, 0.3])

    @jax.jit
    def run(xh):
        args = kw(0.01, "c0")  # sparse: exact zeros
        p = M.argmax(xh, log=False, **args)
        logp = M.argmax(xh, log=True, **args)

        def loss(x):
            lp = M.argmax(x, log=True, **args)
            return jnp.where(jnp.isfinite(lp), lp, 0.0).sum()

        return p, logp, jax.grad(loss)(xh)

    p, logp, grad = run(xh)
    assert bool(jnp.any(p == 0)) and bool(jnp.all(jnp.isneginf(logp) == (p == 0)))
    np.testing.assert_allclose(jnp.exp(logp), p, atol=1e-15)
    assert bool(jnp.all(jnp.isfinite(grad)))


# --- autodiff -------------------------------------------------------------------------


def _weights(n):
    return jnp.arange(1.0, n + 1) ** 1.5


def test_check_grads():
    x = jnp.asarray(X5)
    # values through the custom_jvp, including a traced (closed-over) softness;
    # exact agreement of every derivative with plain autodiff is tested below
    f = jax.jit(lambda s, x: K.soft_sort_values(x, smooth(s)) @ _weights(5))
    check_grads(f, (0.4, x), order=2, modes=("fwd", "rev"), eps=1e-5)
    # one row: the weights output of the custom_jvp plus the row propagation
    g = jax.jit(lambda x: K.soft_permutation_rows(x, smooth(0.5, "c2"), jnp.array([1]))[0] @ x)
    check_grads(g, (x,), order=1, modes=("fwd", "rev"), eps=1e-5)


def test_custom_rule_matches_plain_autodiff():
    """Jacobians (both modes) and Hessian of the custom_jvp network, values and
    weights, against plain autodiff of the same sweep."""
    x = jnp.asarray(X5)
    sched = K._schedule(5)
    coef = jnp.cos(jnp.arange(24.0).reshape(6, 4))  # weights: (layers, pairs)

    def plain(s, x):
        values, rec = K._sweep(K._pad(x, 8), smooth(s), (), sched, ("W",))
        return values[:5], rec["W"]

    def custom(s, x):
        values, weights = K._network(K._pad(x, 8), smooth(s), sched, with_weights=True)
        return values[:5], weights

    def derivatives(f):
        # the Hessian (forward over reverse) also exercises reverse mode
        loss = lambda s, x: f(s, x)[0] @ _weights(5) + (f(s, x)[1] * coef).sum()
        return jax.jacfwd(f, argnums=(0, 1))(0.4, x), jax.hessian(loss, argnums=(0, 1))(0.4, x)

    for a, b in zip(
        jax.tree.leaves(jax.jit(derivatives, static_argnums=0)(plain)),
        jax.tree.leaves(jax.jit(derivatives, static_argnums=0)(custom)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, atol=1e-11)


def test_transformations():
    x = jax.random.normal(jax.random.key(7), (3, 6))
    f = lambda x: K.soft_sort_values(x, smooth())
    rows = lambda x: K.soft_permutation_rows(x, smooth(), jnp.array([5]))

    @jax.jit
    def run(x):
        return (
            jax.vmap(f)(x),
            f(x),
            jax.vmap(rows)(x),
            rows(x),
            jax.jacfwd(rows)(x[0]),
            jax.jacrev(rows)(x[0]),
        )

    out = run(x)
    for a, b in zip(out[::2], out[1::2], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-13)


def _float32_value_and_grads(mode):
    def loss(x):
        args = kw(0.1, mode)
        s = M.sort(x, x, descending=False, gated=True, unsquash=lambda y: y, **args)
        if mode != "smooth":  # the step only enters through the weights
            return (s * jnp.sin(x)).sum()
        r = M.rank(x, x, descending=True, **args)  # row propagation, as argmax
        return (s * jnp.sin(x)).sum() + (r * x).sum()

    return jax.jit(jax.vmap(jax.value_and_grad(loss)))


@pytest.mark.parametrize("mode", ["smooth", "c0", "c1", "c2"])
def test_float32_finite_values_and_grads(mode):
    rng = np.random.default_rng(0)
    rows = [
        rng.normal(size=6),
        [1.0, 1.0, 2.0, 2.0, 1.0, 2.0],  # ties
        [3.0] * 6,  # constant
        rng.normal(size=6) * 1e6,
        [0.1, np.nan, 0.3, 0.2, 0.5, 0.0],
    ]
    batches = [np.array(rows)]
    if mode == "smooth":  # n = 1 and n = 2
        batches += [np.array([[0.7]]), np.array([[0.1, -0.4], [2.0, 2.0]])]
    run = _float32_value_and_grads(mode)
    for batch in batches:
        value, grad = run(jnp.asarray(batch, jnp.float32))
        assert value.dtype == jnp.float32 and grad.dtype == jnp.float32
        finite = ~np.isnan(batch).any(-1)
        assert np.all(np.isfinite(value[finite])), (mode, batch)
        assert np.all(np.isfinite(grad[finite])), (mode, batch)
        assert np.all(np.isnan(value[~finite]))  # NaN in -> NaN out, no crash


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


# --- memory: rows without the N x N matrix ----------------------------------------------


def test_argmax_reverse_memory_is_small():
    n = 1024
    x = jnp.zeros((n,), jnp.float32)
    loss = lambda x: M.argmax(x, log=False, **kw(0.1)) @ jnp.arange(n, dtype=x.dtype)
    stats = jax.jit(jax.value_and_grad(loss)).lower(x).compile().memory_analysis()
    if stats is None:
        pytest.skip("memory analysis unavailable on this backend")
    assert stats.temp_size_in_bytes < 8e6  # prior implementation: 475 MB
