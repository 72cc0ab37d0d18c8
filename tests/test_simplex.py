"""Tests for the simplex projection kernel, including finite second derivatives."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
from jax.test_util import check_grads

from softjax._src.kernels import simplex
from softjax._src.kernels.simplex import project_simplex
from softjax._src.steps import sigmoidal

MODES = ("smooth", "c0", "c1", "c2")
SPARSE = ("c0", "c1", "c2")
ALPHA = {"c0": 1, "c1": 2, "c2": 3}

# Reference point: x = [0.3, -0.2, 0.25, 0.1, -1.0], s = 0.2.
REF_Z = np.array([0.3, -0.2, 0.25, 0.1, -1.0]) / 0.2
REFERENCE = {
    "smooth": [0.448376, 0.036805, 0.349196, 0.164948, 0.000674],
    "c0": [0.625, 0.0, 0.375, 0.0, 0.0],
    "c1": [0.673993, 0.0, 0.326007, 0.0, 0.0],
    "c2": [0.726617, 0.0, 0.273383, 0.0, 0.0],
}

# A generic point: several entries in and out of every support, none near a
# support change (checked in `_margin`), so finite differences are valid.
GENERIC_Z = np.array([1.3, 0.2, 0.9, -0.4, 0.55, -2.0, 0.75])


def proj(z, mode, log=False):
    # Eager on purpose, and rows of length 7 wherever possible: op-by-op
    # executables are then shared by all modes and tests, which compiles far
    # less than one XLA program per (test, mode, transformation).
    return project_simplex(z, mode, log=log)


def _masked(out):
    """Log outputs with their -inf entries (exact zeros of y) replaced by 0."""
    return jnp.where(jnp.isfinite(out), out, 0.0)


def numpy_reference(z, mode):
    """Generic float64 solve: softmax, or bisection on θ for Σ (z - θ)_+^α = 1."""
    z = np.asarray(z, np.float64)
    if mode == "smooth":
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    alpha = ALPHA[mode]
    hi = z.max(-1, keepdims=True)
    lo = hi - 1.0  # the max entry alone already gives Σ >= 1 here
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        too_big = (np.maximum(z - mid, 0.0) ** alpha).sum(-1, keepdims=True) > 1.0
        lo, hi = np.where(too_big, mid, lo), np.where(too_big, hi, mid)
    t = np.maximum(z - 0.5 * (lo + hi), 0.0) ** alpha
    return t / t.sum(-1, keepdims=True)


def _margin(z, mode):
    """Smallest |z_i - θ| (distance to a support change) of a 1-D row."""
    y = numpy_reference(z, mode)
    i = int(np.argmax(y))
    theta = z[i] - y[i] ** (1.0 / ALPHA[mode])
    return np.min(np.abs(z - theta))


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("mode", MODES)
def test_reference_values(mode):
    y = proj(jnp.asarray(REF_Z), mode)
    assert y.dtype == jnp.float64
    np.testing.assert_allclose(y, REFERENCE[mode], atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_matches_generic_solver_batched(mode):
    rng = np.random.default_rng(1)
    rows = [rng.standard_normal(7) * s for s in (0.05, 0.3, 1.0, 3.0, 30.0)]
    rows.append(np.array([0.4, 0.4, 0.4, -0.1, -0.1, 0.4, 0.2]))  # ties in the support
    z = np.stack(rows).reshape(2, 3, 7)
    np.testing.assert_allclose(proj(jnp.asarray(z), mode), numpy_reference(z, mode), atol=1e-10, rtol=0)


@pytest.mark.parametrize("recipe", ["newton", "sorted"])
@pytest.mark.parametrize("mode", MODES)
def test_float32_matches_float64_large_n(mode, recipe, monkeypatch):
    # n = 4096: Newton's method, or the partial-sort path (top 256, then 1024
    # entries; a batch with any larger support falls back to the full sort).
    # Near-tied long rows are also where prefix sums lose float32 digits.
    if recipe == "sorted":
        monkeypatch.setattr(simplex, "NEWTON_MIN_N", 10**9)
    elif mode == "smooth":
        pytest.skip("softmax has no threshold")
    rng = np.random.default_rng(2)
    n = 4096
    sparse = [rng.standard_normal(n), np.linspace(0.0, -30.0, n), 3 * rng.standard_normal(n) + 1000.0]
    dense = [
        np.r_[0.0, -1.0 + 1e-3 * rng.standard_normal(n - 1)],
        np.r_[0.0, -0.1 + 1e-4 * rng.standard_normal(n - 1)] * 10 + 1000.0,
        1e-3 * rng.standard_normal(n),  # everything in the support
    ]
    for rows in ([*sparse, sparse[0][::-1]], sparse[:1] + dense):
        z = np.stack(rows).astype(np.float32)
        y32 = proj(jnp.asarray(z), mode)
        assert y32.dtype == jnp.float32
        y64 = numpy_reference(z.astype(np.float64), mode)
        np.testing.assert_allclose(y32, y64, atol=1e-6, rtol=0)
        np.testing.assert_allclose(jnp.sum(y32, -1), 1.0, atol=2e-6)
        if mode != "smooth":
            assert (np.sum(y64 > 0, -1).max() > 256) == (rows[1] is dense[0])
    if mode == "c0":  # under vmap the partial-sort cond becomes a select: same values
        np.testing.assert_allclose(jax.vmap(lambda r: proj(r, mode))(jnp.asarray(z)), y32, atol=1e-7)


@pytest.fixture
def sorted_recipe_only(monkeypatch):
    """Rows of every length take the sort-based recipe (Newton's method off)."""
    monkeypatch.setattr(simplex, "NEWTON_MIN_N", 10**9)


def _newton_rows(n, rng):
    normal = rng.standard_normal(n)
    return [
        normal,
        normal * 30.0,  # a support of one or two entries
        normal * 1e-3,  # everything in the support
        np.round(normal * 4) / 4,  # ties, some at the top
        np.zeros(n),  # constant
        np.linspace(0.0, -3.0, n),
        np.sign(normal) * np.logspace(-3, 3, n),  # mixed magnitudes
        np.where(np.arange(n) % 3 == 0, -np.inf, normal),  # masked entries
    ]


@pytest.mark.parametrize("mode", SPARSE)
def test_newton_path_matches_sorted_recipe(mode, monkeypatch):
    # Rows of NEWTON_MIN_N or more entries take Newton's method; the sorted
    # recipe is the reference, and also what runs when Newton has not
    # converged (forced here with one allowed iteration).
    rng = np.random.default_rng(7)
    for n, dtype, atol in ((simplex.NEWTON_MIN_N, np.float64, 1e-12), (1024, np.float32, 3e-7)):
        z = jnp.asarray(np.stack(_newton_rows(n, rng)), dtype)
        newton = proj(z, mode)
        with monkeypatch.context() as m:
            m.setattr(simplex, "NEWTON_MIN_N", 10**9)
            reference = proj(z, mode)
        with monkeypatch.context() as m:
            m.setattr(simplex, "_NEWTON_STEPS", 1)
            fallback = proj(z, mode)
        np.testing.assert_allclose(newton, reference, atol=atol, rtol=0)
        np.testing.assert_allclose(fallback, reference, atol=atol, rtol=0)
        np.testing.assert_allclose(jnp.sum(newton, -1), 1.0, atol=10 * atol)
        _theta, converged = jax.jit(simplex._newton_thresholds, static_argnums=1)(
            z - jnp.max(z, -1, keepdims=True), mode
        )
        assert bool(converged)
        # A NaN row is NaN and does not hold back the others.
        with_nan = z.at[0, 3].set(jnp.nan)
        out = proj(with_nan, mode)
        assert bool(jnp.all(jnp.isnan(out[0])))
        np.testing.assert_allclose(out[1:], newton[1:], atol=atol, rtol=0)


@pytest.mark.parametrize("mode", SPARSE)
def test_partial_sort_levels_are_exact(mode, sorted_recipe_only):
    # n = 1024 tries the top 64, then the top 256 entries, then the full sort,
    # whichever is the first to hold every row's support: one batch per level.
    n = 1024
    alpha = ALPHA[mode]

    def row(support):  # equally spaced scores whose projection has ~`support` entries
        spacing = ((alpha + 1) / support ** (alpha + 1)) ** (1 / alpha)
        return -spacing * np.arange(n)[np.random.default_rng(support).permutation(n)]

    for supports in ((30,), (30, 150), (30, 150, 600)):
        z = jnp.asarray(np.stack([row(k) for k in supports]))
        y = proj(z, mode)
        np.testing.assert_allclose(y, numpy_reference(np.asarray(z), mode), atol=1e-12)
        np.testing.assert_allclose(jax.vmap(lambda r: proj(r, mode))(z), y, atol=1e-12)
        assert abs(int(np.sum(np.asarray(y)[-1] > 0)) - supports[-1]) < supports[-1] // 4


def test_invalid_arguments():
    for bad in ("hard", "c3", "", None):
        with pytest.raises(ValueError, match=r"Invalid mode: .*'smooth', 'c0', 'c1', 'c2'"):
            project_simplex(jnp.ones(3), bad)
    with pytest.raises(ValueError, match="at least one axis"):
        project_simplex(jnp.float32(1.0), "c0")


def test_dtypes_and_empty_axis():
    assert project_simplex(jnp.arange(7), "c1").dtype == jnp.result_type(float)
    assert project_simplex(jnp.ones(7, jnp.float32), "c2").dtype == jnp.float32
    assert project_simplex(jnp.ones((2, 0)), "c0").shape == (2, 0)


@pytest.mark.parametrize("mode", MODES)
def test_two_element_matches_sigmoidal(mode):
    # sigmoidal(x, s) is component 2 of the projection of
    # [0, x] at softness s (smooth) or 5s (c0, and the p-norm steps for c1/c2).
    s = 0.1
    x = jnp.linspace(-0.7, 0.7, 57)
    step_mode = {"smooth": "smooth", "c0": "c0", "c1": "_c1_pnorm", "c2": "_c2_pnorm"}[mode]
    scale = s if mode == "smooth" else 5 * s
    y = proj(jnp.stack([jnp.zeros_like(x), x], -1) / scale, mode)
    np.testing.assert_allclose(y[:, 1], sigmoidal(x, softness=s, mode=step_mode), atol=1e-12, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_log_probabilities(mode):
    z = jnp.stack([jnp.asarray(GENERIC_Z), jnp.array([0.0, -1000.0, 3.0, 2.9, -2.0, 2.5, 3.0])])
    y, logy = proj(z, mode), proj(z, mode, log=True)
    if mode == "smooth":
        np.testing.assert_allclose(logy, jax.nn.log_softmax(z), rtol=1e-14)
        assert np.all(np.isfinite(logy))  # no underflow to -inf where y underflows
        assert y[1, 1] == 0
    else:
        np.testing.assert_array_equal(np.isneginf(logy), y == 0)
        assert np.any(y == 0) and not np.any(np.isnan(logy))
    pos = np.asarray(y) > 0
    np.testing.assert_allclose(np.asarray(logy)[pos], np.log(np.asarray(y)[pos]), rtol=1e-12)


# ------------------------------------------------------------ derivatives


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_formula(mode):
    z = jnp.asarray(GENERIC_Z)
    y = proj(z, mode)
    jf, jr = jax.jit(lambda z: (jax.jacfwd(proj)(z, mode), jax.jacrev(proj)(z, mode)))(z)
    if mode == "smooth":
        expected = jnp.diag(y) - jnp.outer(y, y)
    else:
        alpha = ALPHA[mode]
        w = jnp.where(y > 0, y ** ((alpha - 1) / alpha), 0.0)  # t^(α-1) since y = t^α
        expected = alpha * (jnp.diag(w) - jnp.outer(w, w) / jnp.sum(w))
        assert 2 <= int(np.sum(y > 0)) < 7
    np.testing.assert_allclose(jf, expected, atol=1e-12)
    np.testing.assert_allclose(jr, expected, atol=1e-12)
    np.testing.assert_allclose(jf, jf.T, atol=1e-12)


@pytest.mark.parametrize("mode", SPARSE)  # smooth is jax.nn.softmax / log_softmax
def test_check_grads(mode):
    z = jnp.asarray(GENERIC_Z)
    assert _margin(GENERIC_Z, mode) > 0.05  # finite differences stay on one piece
    weights = jnp.linspace(-1.0, 2.0, z.shape[-1])

    def f(z):
        return jnp.concatenate([proj(z, mode) * weights, _masked(proj(z, mode, log=True)) * weights])

    # Orders 1 and 2 forward (fwd-over-fwd), order 1 reverse; fwd-over-rev and
    # rev-over-rev are compared with finite differences in the next test.
    check_grads(f, (z,), order=2, modes=("fwd",), eps=1e-4, atol=1e-5, rtol=1e-5)
    check_grads(f, (z,), order=1, modes=("rev",), eps=1e-4, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", SPARSE)
def test_second_order_finite_and_consistent(mode):
    # No root is differentiated, so second derivatives stay finite:
    # f(x) = Σ_i i·y_i (plus the same on log y) at the reference x (extended to
    # length 7). Row 0 (softness 0.5) has a one-element support, where
    # reverse-over-reverse through a root gives NaN; row 1 (softness 3) a
    # multi-element one.
    x = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3, -0.9, 1.1])
    xs = jnp.stack([x / 0.5, x / 3.0])
    idx = jnp.arange(1.0, 8.0)

    def f(z):
        return jnp.sum(idx * proj(z, mode)) + jnp.sum(idx * _masked(proj(z, mode, log=True)))

    # Higher-order transforms are cheaper to compile as one program than op by op.
    eps = 1e-6
    steps = eps * jnp.eye(14).reshape(14, 2, 7)

    @jax.jit  # one program: far cheaper to compile than op-by-op higher-order transforms
    def derivatives(xs):
        grad = jax.grad(f)
        fd = (jax.vmap(grad)(xs + steps) - jax.vmap(grad)(xs - steps)) / (2 * eps)
        fd = jnp.moveaxis(fd, 0, -1).reshape(2, 7, 2, 7)
        return fd, [jax.hessian(f)(xs), jax.jacrev(grad)(xs)]  # fwd-over-rev, rev-over-rev

    fd, hessians = derivatives(xs)
    for h in hessians:
        assert np.all(np.isfinite(h))
        np.testing.assert_allclose(h, fd, atol=1e-6)
    assert np.abs(fd[1, :, 1, :]).max() > 0.1  # the multi-element row is really curved
    np.testing.assert_array_equal(proj(xs[0], mode), jax.nn.one_hot(1, 7))


# ---------------------------------------------------- edge cases, float32


def _edge_rows_float32():
    rng = np.random.default_rng(3)
    inf, nan = np.inf, np.nan
    return np.stack(
        [
            np.full(7, 0.7),  # ties
            np.full(7, 1e7),  # ties at a huge magnitude
            rng.standard_normal(7) * 1e6,
            rng.standard_normal(7) * 1e7,
            rng.standard_normal(7) * 1e-7,
            rng.standard_normal(7),
            [-inf, 0.5, 0.0, -inf, 0.2, 0.45, -0.3],  # -inf entries get probability 0
            [nan, 1.0, 0.5, 0.0, 0.2, 0.1, -1.0],  # NaN row stays NaN, others unaffected
        ]
    ).astype(np.float32)


@pytest.mark.parametrize("mode", MODES)
def test_float32_edge_rows(mode):
    z = jnp.asarray(_edge_rows_float32())
    ok = slice(0, 7)
    y, logy = proj(z, mode), proj(z, mode, log=True)
    assert y.dtype == logy.dtype == jnp.float32
    assert np.all(np.isfinite(y[ok])) and np.all(y[ok] >= 0)
    np.testing.assert_allclose(jnp.sum(y[ok], -1), 1.0, atol=1e-6)
    np.testing.assert_allclose(y[:2], 1 / 7, atol=1e-7)  # all-equal rows are uniform
    assert np.all(np.isnan(y[7])) and np.all(np.isnan(logy[7]))
    assert not np.any(np.isnan(logy[ok]))
    inf_row, finite = np.asarray(z[6]), np.isfinite(np.asarray(z[6]))
    np.testing.assert_array_equal(y[6][~finite], 0.0)
    np.testing.assert_allclose(y[6][finite], proj(jnp.asarray(inf_row[finite]), mode), atol=1e-7)

    weights = jnp.linspace(-1.0, 1.0, 7, dtype=jnp.float32)

    def f(z):
        return jnp.sum((proj(z, mode) + _masked(proj(z, mode, log=True))) * weights)

    g = jax.grad(f)(z)
    assert g.dtype == jnp.float32 and np.all(np.isfinite(g[ok]))
    np.testing.assert_array_equal(g[6][~finite], 0.0)
    if mode != "smooth":  # second order: rows with huge ties, huge spread, -inf entries
        h = jax.jit(jax.vmap(jax.hessian(f)))(z[jnp.array([1, 3, 6])])
        assert h.dtype == jnp.float32 and np.all(np.isfinite(h))


@pytest.mark.parametrize("mode", MODES)
def test_tiny_rows_float32(mode):
    def first(z):
        return proj(z, mode)[0]

    one = jnp.array([42.0], jnp.float32)
    np.testing.assert_array_equal(proj(one, mode), [1.0])
    np.testing.assert_array_equal(proj(one, mode, log=True), [0.0])
    np.testing.assert_array_equal(jax.grad(first)(one), [0.0])
    np.testing.assert_allclose(proj(jnp.array([0.3, 0.3], jnp.float32), mode), [0.5, 0.5])
    pair = jnp.array([0.1, -0.02], jnp.float32)
    y, g = proj(pair, mode), jax.grad(first)(pair)
    assert y.dtype == g.dtype == jnp.float32
    assert 0.5 < y[0] < 1 and g[0] > 0
    np.testing.assert_allclose(g[1], -g[0], rtol=1e-6)


# ----------------------------------------------------- invariants (hypothesis)

# One row length keeps compilation cheap; n = 1 and 2 are covered above.
_rows = hnp.arrays(np.float64, 7, elements=st.floats(-50, 50, allow_nan=False))
_scales = st.sampled_from([1e-3, 0.1, 1.0, 10.0, 1e3])


@given(z=_rows, scale=_scales, mode=st.sampled_from(MODES))
def test_output_on_simplex(z, scale, mode):
    for dtype, tol in ((jnp.float64, 1e-12), (jnp.float32, 2e-6)):
        y = np.asarray(proj(jnp.asarray(z * scale, dtype), mode))
        assert np.all(np.isfinite(y)) and np.all(y >= 0)
        np.testing.assert_allclose(y.sum(), 1.0, atol=tol)


@given(z=_rows, shift=st.floats(-100, 100), mode=st.sampled_from(MODES), seed=st.integers(0, 2**16))
def test_translation_invariance_and_permutation_equivariance(z, shift, mode, seed):
    z = jnp.asarray(z)
    y = proj(z, mode)
    np.testing.assert_allclose(proj(z + shift, mode), y, atol=1e-9)
    perm = np.random.default_rng(seed).permutation(z.shape[0])
    np.testing.assert_allclose(proj(z[perm], mode), y[perm], atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_hard_limit_is_one_hot_argmax(mode):
    z = jnp.array([[0.3, -0.2, 0.31, 0.1, 0.0, -1.0, 0.29], [2.0, 1.0, -1.0, 1.9, 0.0, 1.5, 1.95]])
    onehot = jax.nn.one_hot(jnp.argmax(z, -1), 7, dtype=z.dtype)
    errors = [float(jnp.abs(proj(lam * z, mode) - onehot).max()) for lam in (1.0, 10.0, 1e2, 1e4)]
    assert all(a >= b for a, b in itertools.pairwise(errors))
    assert errors[0] > 0.1 and errors[-1] < 1e-12


# -------------------------------------------------- transformations, memory


@pytest.mark.parametrize("mode", MODES)
def test_jit_vmap_and_batching(mode):
    z = jax.random.normal(jax.random.key(0), (2, 3, 7))
    batched = proj(z, mode)
    jitted = jax.jit(jax.vmap(lambda r: project_simplex(r, mode)))
    np.testing.assert_allclose(jitted(z), batched, atol=1e-14)


@pytest.mark.parametrize("mode", SPARSE)
def test_no_quadratic_intermediates(mode):
    for n in (97, 1500):  # full sort; Newton's method with the partial sort as fallback
        w = jnp.arange(float(n))
        f = jax.jit(jax.value_and_grad(lambda z, w=w: jnp.sum(project_simplex(z, mode) @ w)))
        text = f.lower(jnp.zeros((3, n))).as_text()
        assert f"{n}x{n}" not in text and "tensor<3x" in text
