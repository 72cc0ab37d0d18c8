"""Permutahedron projection and ``method="fast_soft_sort"`` (issue 4)."""

import functools

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from jax.test_util import check_grads

import softjax as sj
from softjax._src.kernels.isotonic import pav_blocks
from softjax._src.kernels.permutahedron import project_permutahedron

MODES = ("smooth", "c0", "c1", "c2")
X = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3])


# --------------------------------------------------------------------------- #
# Independent reference: sequential PAV with block values found by bisection.
# --------------------------------------------------------------------------- #
def _psi(t, mode):
    return {"c0": t, "smooth": t, "c1": t * np.abs(t), "c2": t**3}[mode]


def _block_value(z, w, mode):
    if mode == "c0":
        return np.mean(z - w)
    if mode == "smooth":
        lse = lambda v: v.max() + np.log(np.sum(np.exp(v - v.max())))
        return lse(z) - lse(w)
    lo, hi = z.min() - 1e3, z.max() + 1e3  # sum psi(z - g) - sum w decreases in g
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _psi(z - mid, mode).sum() > w.sum() else (lo, mid)
    return 0.5 * (lo + hi)


def _reference(z, w, mode):
    perm = np.argsort(-z, kind="stable")
    zeta, omega = z[perm], np.sort(w)[::-1]
    blocks = []  # [start, stop, value]
    for i in range(len(z)):
        blocks.append([i, i + 1, _block_value(zeta[i : i + 1], omega[i : i + 1], mode)])
        while len(blocks) > 1 and blocks[-2][2] < blocks[-1][2]:
            a, b = blocks[-2][0], blocks[-1][1]
            blocks[-2:] = [[a, b, _block_value(zeta[a:b], omega[a:b], mode)]]
    v = np.concatenate([np.full(b - a, g) for a, b, g in blocks])
    out = np.empty(len(z))
    out[perm] = _psi(zeta - v, mode)
    return out


@functools.cache
def _proj(mode):
    return jax.jit(lambda z, w: project_permutahedron(z, w, mode))


# --------------------------------------------------------------------------- #
# Reference values.
# --------------------------------------------------------------------------- #
SPEC_PROJ = {
    "c0": [0.783333, 0.1, 0.616667, 0.3],
    "c1": [0.83875, 0.1, 0.56125, 0.3],
    "c2": [0.894215, 0.1, 0.505785, 0.3],
    "smooth": [0.799733, 0.1, 0.633067, 0.3],
}


@pytest.mark.parametrize("mode", MODES)
def test_projection_reference_values(mode):
    z = jnp.array([0.3, -0.2, 0.25, 0.1]) / 0.3
    w = jnp.array([0.9, 0.1, 0.5, 0.3])
    y = np.asarray(_proj(mode)(z, w))
    np.testing.assert_allclose(y, SPEC_PROJ[mode], atol=1e-6)  # references have 6 decimals
    np.testing.assert_allclose(y, _reference(np.asarray(z), np.asarray(w), mode), atol=1e-9)
    if mode == "c0":  # exact fractions: 47/60 and 37/60
        np.testing.assert_allclose(y, [47 / 60, 0.1, 37 / 60, 0.3], atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_projection_matches_sequential_reference(mode):
    # Rows are independent problems: a few lengths (one compilation each), many
    # rows per length, scales from 0.1 to 30, ties in the scores and the polytope.
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 24):
        rows = 12
        z = rng.normal(size=(rows, n)) * 10 ** rng.uniform(-1, 1.5, size=(rows, 1))
        w = rng.normal(size=(rows, n))
        z[::3] = np.round(z[::3])  # ties in the scores
        w[::4] = np.round(w[::4])  # ties in the polytope
        y = np.asarray(project_permutahedron(jnp.asarray(z), jnp.asarray(w), mode))
        ref = np.stack([_reference(z[i], w[i], mode) for i in range(rows)])
        np.testing.assert_allclose(y, ref, atol=1e-9, rtol=1e-9)


FSS_TABLE = {  # reference ranks, softness 0.3
    "smooth": [3.743411, 1, 5, 2, 3.307031],
    "c0": [3.718190, 1, 5, 2, 3.281810],
    "c1": [3.907501, 1, 5, 2, 3.092499],
    "c2": [4, 1, 5, 2, 3],
}


@pytest.mark.parametrize("mode", MODES)
def test_operators_table_values(mode):
    kw = dict(softness=0.3, mode=mode, method="fast_soft_sort")
    np.testing.assert_allclose(sj.sort(X, **kw), [-0.5, 0.2, 0.3, 0.9, 1.7], atol=1e-12)
    np.testing.assert_allclose(sj.rank(X, **kw), FSS_TABLE[mode], atol=1e-6)
    np.testing.assert_allclose(sj.sort(X, descending=True, **kw), [1.7, 0.9, 0.3, 0.2, -0.5], atol=1e-12)


def test_operators_read_values_off_sort():
    kw = dict(softness=0.3, method="fast_soft_sort")
    np.testing.assert_allclose(sj.quantile(X, 0.3, **kw), 0.22, atol=1e-9)
    np.testing.assert_allclose(sj.percentile(X, 30.0, **kw), 0.22, atol=1e-9)
    np.testing.assert_allclose(sj.median(X, **kw), 0.3, atol=1e-9)
    np.testing.assert_allclose(sj.max(X, **kw), 1.7, atol=1e-9)
    np.testing.assert_allclose(sj.min(X, **kw), -0.5, atol=1e-9)
    values, index = sj.top_k(X, 2, **kw)
    np.testing.assert_allclose(values, [1.7, 0.9], atol=1e-9)
    assert index is None
    one = jnp.array([42.0])
    assert float(sj.sort(one, method="fast_soft_sort")[0]) == 42.0
    assert float(sj.rank(one, method="fast_soft_sort")[0]) == 1.0


def test_unnormalized_rank_and_sort_match_reference():
    # standardize=False: the raw values are the polytope / the scores.
    x = np.asarray(X)
    n = len(x)
    for mode in MODES:
        r = sj.rank(X, softness=0.5, mode=mode, method="fast_soft_sort", standardize=False)
        ref = _reference(-x / 0.5, (np.arange(n) + 1) / (n - 1), mode) * (n - 1)
        np.testing.assert_allclose(r, ref, atol=1e-9)
        s = sj.sort(X, softness=4.0, mode=mode, method="fast_soft_sort", standardize=False)
        ref = _reference(np.arange(n) / (n - 1) / 4.0, x, mode)
        np.testing.assert_allclose(s, ref, atol=1e-9)


# --------------------------------------------------------------------------- #
# Limits and invariants.
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("mode", MODES)
def test_hard_limit(mode):
    x = jax.random.normal(jax.random.key(1), (2, 40))
    kw = dict(axis=-1, softness=1e-4, mode=mode, method="fast_soft_sort")
    np.testing.assert_allclose(sj.sort(x, **kw), jnp.sort(x, axis=-1), atol=1e-9)
    hard = sj.rank(x, axis=-1, mode="hard")
    np.testing.assert_allclose(sj.rank(x, **kw), hard, atol=1e-9)


@pytest.mark.parametrize("dtype", [jnp.float32, pytest.param(jnp.float64, marks=pytest.mark.slow)])
def test_rank_in_range_and_sort_sorted(dtype):
    x = jax.random.normal(jax.random.key(2), (3, 64), dtype) * 3
    n = x.shape[-1]
    for mode in MODES:
        for s in (0.01, 0.3, 3.0, 100.0):
            kw = dict(axis=-1, softness=s, mode=mode, method="fast_soft_sort")
            r = np.asarray(sj.rank(x, **kw))
            assert r.dtype == dtype
            assert r.min() >= 1 and r.max() <= n
            if mode != "smooth":  # the permutahedron preserves the sum
                np.testing.assert_allclose(r.sum(-1), n * (n + 1) / 2, rtol=1e-4)
            y = np.asarray(sj.sort(x, **kw))
            assert np.all(np.diff(y, axis=-1) >= -1e-5 * (1 + np.abs(y[..., 1:])))
            assert y.min() >= float(x.min()) - 1e-3 and y.max() <= float(x.max()) + 1e-3


def test_rank_is_soft_where_sort_is_hard():
    # Softness scales differ: at softness 0.1 and n = 100, sort is exactly the hard sort while rank is soft.
    x = jax.random.normal(jax.random.key(3), (100,))
    kw = dict(softness=0.1, method="fast_soft_sort")
    np.testing.assert_allclose(sj.sort(x, **kw), jnp.sort(x), atol=1e-9)
    assert np.abs(np.asarray(sj.rank(x, **kw)) - np.asarray(sj.rank(x, mode="hard"))).max() > 0.1


# Fixed lengths: every new shape would recompile the projection.
@given(
    hnp.arrays(np.float64, 9, elements=st.floats(-100, 100), unique=True),
    st.sampled_from(MODES),
    st.randoms(use_true_random=False),
)
def test_rank_permutation_equivariant(x, mode, rnd):
    perm = np.arange(len(x))
    rnd.shuffle(perm)
    kw = dict(softness=0.7, mode=mode, method="fast_soft_sort")
    r = np.asarray(sj.rank(jnp.asarray(x), **kw))
    r_perm = np.asarray(sj.rank(jnp.asarray(x[perm]), **kw))
    np.testing.assert_allclose(r_perm, r[perm], atol=1e-9)


@given(hnp.arrays(np.float64, 9, elements=st.floats(-1e3, 1e3)), st.sampled_from(MODES), st.floats(1e-3, 1e3))
def test_sort_monotone_and_rank_bounded(x, mode, softness):
    kw = dict(softness=softness, mode=mode, method="fast_soft_sort")
    y = np.asarray(sj.sort(jnp.asarray(x), **kw))
    assert np.all(np.diff(y) >= -1e-9 * (1 + np.abs(y).max()))
    r = np.asarray(sj.rank(jnp.asarray(x), **kw))
    assert r.min() >= 1 and r.max() <= len(x)


# --------------------------------------------------------------------------- #
# Derivatives.
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("mode", MODES)
def test_check_grads_projection(mode):
    z = jnp.array([[0.3, -0.2, 0.25, 0.1, 0.7], [1.0, 0.4, -0.3, 0.2, 0.35]]) / 0.3
    w = jnp.array([[0.9, 0.1, 0.5, 0.3, 0.45], [0.2, -0.4, 0.8, 0.1, 0.15]])
    check_grads(_proj(mode), (z, w), order=2, modes=("fwd", "rev"), eps=1e-6)


@pytest.mark.parametrize(
    "mode", [pytest.param(m, marks=[] if m == "c1" else [pytest.mark.slow]) for m in MODES]
)
def test_second_order_transforms_agree(mode):
    def f(x):
        r = sj.rank(x, softness=0.5, mode=mode, method="fast_soft_sort")
        s = sj.sort(x, softness=3.0, mode=mode, method="fast_soft_sort")
        return jnp.sum(jnp.arange(1.0, 6.0) * (r**2 + s**3))

    hess = jax.jit(jax.hessian(f))(X)
    np.testing.assert_allclose(jax.jit(jax.jacrev(jax.grad(f)))(X), hess, atol=1e-9)
    np.testing.assert_allclose(jax.jit(jax.jacfwd(jax.grad(f)))(X), hess, atol=1e-9)
    jf = jax.jit(jax.jacfwd(lambda x: sj.rank(x, softness=0.5, mode=mode, method="fast_soft_sort")))(X)
    jr = jax.jit(jax.jacrev(lambda x: sj.rank(x, softness=0.5, mode=mode, method="fast_soft_sort")))(X)
    np.testing.assert_allclose(jf, jr, atol=1e-12)
    assert np.all(np.isfinite(hess))


def test_block_averaging_jacobian():
    # Sorted: zeta = [1, 0.5, 0], omega = [1, 0.9, 0], zeta - omega = [0, -0.4, 0]: the
    # last two pool, i.e. elements 2 and 1. c0's Jacobian averages over that block.
    z = jnp.array([1.0, 0.0, 0.5])
    w = jnp.array([0.0, 0.9, 1.0])
    expected = np.zeros((3, 3))  # a singleton block returns its omega: zero derivative
    expected[np.ix_([1, 2], [1, 2])] = [[0.5, -0.5], [-0.5, 0.5]]
    for jac in (jax.jacfwd, jax.jacrev):
        np.testing.assert_allclose(jac(lambda z: project_permutahedron(z, w, "c0"))(z), expected, atol=1e-12)
    start, _ = pav_blocks(jnp.array([1.0, 0.5, 0.0]), jnp.array([1.0, 0.9, 0.0]), "c0")
    np.testing.assert_array_equal(start, [0, 1, 1])


# --------------------------------------------------------------------------- #
# float32 robustness, transforms, errors.
# --------------------------------------------------------------------------- #
# Rows of one batch share a compilation: normal, ties, constant, 1e6 magnitudes
# at n = 6, then n = 1 and n = 2.
F32_CASES = {
    "n6": jnp.stack(
        [
            jax.random.normal(jax.random.key(4), (6,), jnp.float32),
            jnp.array([1.0, 1.0, 2.0, 2.0, 2.0, -1.0], jnp.float32),
            jnp.full((6,), 3.0, jnp.float32),
            jnp.array([1e6, -1e6, 3e6, 2.0, 5e5, 1e6], jnp.float32),
        ]
    ),
    "n1": jnp.array([[0.5], [-3e6]], jnp.float32),
    "n2": jnp.array([[0.5, -0.25], [1.0, 1.0]], jnp.float32),
}


@functools.cache
def _f32_check(mode):
    def run(x):
        outs = []
        for op in (sj.sort, sj.rank):
            f = lambda x, op=op: jnp.sum(jnp.sin(op(x, softness=0.1, mode=mode, method="fast_soft_sort")))
            outs += [op(x, softness=0.1, mode=mode, method="fast_soft_sort"), *jax.value_and_grad(f)(x)]
        return outs

    return jax.jit(jax.vmap(run))


@pytest.mark.parametrize("case", sorted(F32_CASES))
def test_float32_finite(case):
    x = F32_CASES[case]
    for mode in MODES:
        for out in _f32_check(mode)(x):
            assert out.dtype == jnp.float32
            assert np.all(np.isfinite(out)), (case, mode)


def test_nan_propagates_without_crash():
    x = jnp.array([0.3, jnp.nan, -1.0, 2.0])
    for mode in MODES:
        y = project_permutahedron(x, jnp.array([0.1, 0.2, 0.3, 0.4]), mode)
        assert np.isnan(np.asarray(y)).any()


def test_jit_vmap_and_batching_agree():
    x = jax.random.normal(jax.random.key(5), (4, 3, 9))

    def variants(x):  # batched, vmapped twice, and along axis 0: one compilation
        outs = []
        for mode in MODES:
            f = lambda v, mode=mode: sj.rank(v, axis=-1, softness=0.4, mode=mode, method="fast_soft_sort")
            moved = sj.rank(jnp.moveaxis(x, -1, 0), axis=0, softness=0.4, mode=mode, method="fast_soft_sort")
            outs.append((f(x), jax.vmap(f)(x), jax.vmap(jax.vmap(f))(x), jnp.moveaxis(moved, 0, -1)))
        return outs

    for batched, *others in jax.jit(variants)(x):
        for other in others:
            np.testing.assert_allclose(other, batched, atol=1e-12)
    eager = sj.rank(x, axis=-1, softness=0.4, mode="c1", method="fast_soft_sort")
    np.testing.assert_allclose(eager, jax.jit(variants)(x)[2][0], atol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="same shape"):
        project_permutahedron(jnp.ones(3), jnp.ones(4), "c0")
    with pytest.raises(ValueError, match="mode"):
        project_permutahedron(jnp.ones(3), jnp.ones(3), "hard")
    with pytest.raises(ValueError, match="mode"):
        sj.sort(X, mode="c3", method="fast_soft_sort")


def test_c1_blocks_in_float32_for_long_rows_of_wide_spread():
    # The c1 merge evaluates its block equation from range sums of squared
    # score differences. Taken as differences of prefix sums over the row they
    # cancel once the row's spread is large against a block's (here the
    # float32 solve was off by 0.45 for scores of spread 600 at n = 1024).
    from softjax._src.kernels.isotonic import isotonic_offsets

    rng = np.random.default_rng(0)
    n = 1024
    zeta = -np.sort(-rng.standard_normal((2, n)) / np.array([[0.01], [0.1]]), axis=-1)
    omega = np.broadcast_to((np.arange(n, 0, -1.0)) / (n - 1), zeta.shape)
    ref = isotonic_offsets(jnp.asarray(zeta), jnp.asarray(omega), "c1")
    got = isotonic_offsets(jnp.asarray(zeta, jnp.float32), jnp.asarray(omega, jnp.float32), "c1")
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got, np.float64) ** 2, np.asarray(ref) ** 2, atol=2e-5)


def test_c1_raw_rank_of_a_row_spanning_the_float64_range():
    # Scores from 1e-30 to 1.6e308 (scaled to 2 / eps by the raw bound): the
    # block equations stay exact, so the ranks are finite and sum to n(n+1)/2.
    from finiteness_cases import hostile_rows

    n = 33
    x = jnp.asarray(hostile_rows(n, "float64")[-1])  # sign * geomspace(1e-30, 0.9 max)

    def ranks(v, softness):
        return sj.rank(v, softness=softness, mode="c1", method="fast_soft_sort", standardize=False)

    for softness in (1e-6, 1.0):
        r = ranks(x, softness)
        g = jax.grad(lambda v, s=softness: jnp.sum(jnp.cos(jnp.arange(n)) * ranks(v, s)))(x)
        assert np.all(np.isfinite(r)) and np.all(np.isfinite(g))
        np.testing.assert_allclose(np.sum(r), n * (n + 1) / 2, rtol=1e-9)


def test_local_moments_of_every_range():
    # Every [a, b] (and empty ranges) of rows with ties, about origins in and
    # next to the range, against the direct sums; rows read in place by index.
    from softjax._src.kernels import local_moments

    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 8, 13):
        v = np.sort(rng.standard_normal((2, n)), axis=-1)
        v[:, n // 3 : n // 3 + 2] = v[:, n // 3 : n // 3 + 1]
        table = local_moments.build(jnp.asarray(v), 2)
        a, b = (x.ravel().astype(np.int32) for x in np.meshgrid(np.arange(n), np.arange(n)))
        origin = v[1][np.clip(b + 1, 0, n - 1)] + rng.uniform(-0.1, 0.1, a.shape)
        query = functools.partial(local_moments.moments, table, jnp.int32(1))
        got = jax.vmap(lambda i, j, o, q=query: jnp.stack(q(i, j, o)))(
            jnp.asarray(a), jnp.asarray(b), jnp.asarray(origin)
        )
        j = np.arange(n)
        inside = (j >= a[:, None]) & (j <= b[:, None])
        off = v[1][None, :] - origin[:, None]
        want = np.stack([np.sum(np.where(inside, off**p, 0.0), axis=1) for p in (0, 1, 2)], axis=1)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_pav_splits_batches_beyond_int32_indexing(monkeypatch):
    # c1's flat pass indexes a moment table of about n log2 n entries per row;
    # a batch too large for int32 offsets runs as several passes over slices.
    from softjax._src.kernels import isotonic

    rng = np.random.default_rng(2)
    zeta = jnp.asarray(-np.sort(-rng.standard_normal((5, 9)) * 3, axis=-1))
    omega = jnp.asarray(np.broadcast_to(np.arange(9, 0, -1.0) / 8, (5, 9)))
    whole = isotonic._pav_rows(zeta, omega, "c1")
    assert isotonic._rows_per_pass(5, 9, "c1") == 5
    monkeypatch.setattr(isotonic, "_rows_per_pass", lambda rows, n, mode: 2)
    sliced = isotonic._pav_rows(zeta, omega, "c1")
    for w, s in zip(whole, sliced, strict=True):
        np.testing.assert_array_equal(w, s)
