"""``method="smooth_sort"`` (issue 4): bounds, reference values,
converged solves, higher-order derivatives and the mode restriction."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj
from softjax._src.kernels import esp_bounds as bounds_kernel
from softjax._src.kernels.esp_bounds import esp_bounds, esp_bounds_arithmetic
from softjax._src.kernels.esp_saddle import NEG, saddle_log_esp, truncated_log_esp

X = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3])
# Reference values at softness 0.3, converged to the dual gradient (an L-BFGS
# solve stopped at rtol 1e-5 differs from them by up to 1.1e-5).
SORT_REF = [-0.311661, 0.128286, 0.483037, 0.883665, 1.416662]
RANK_REF = [3.816834, 0.517289, 5.318405, 2.160543, 3.186930]


def test_esp_bounds_reference_and_closed_form():
    b, b_n = esp_bounds(jnp.array([0.9, 0.1, 0.5, 0.3]), 0.3)
    np.testing.assert_allclose(b, [1.015255, 1.610559, 1.883987], atol=1e-6)
    np.testing.assert_allclose(b_n, 1.8, atol=1e-12)
    # rank anchors (j + 1) / (n - 1): the Gaussian-binomial closed form agrees
    n, tau = 7, 0.2
    w = jnp.arange(1.0, n + 1) / (n - 1)
    b, b_n = esp_bounds(w, tau)
    b2, b2_n = esp_bounds_arithmetic(n, tau, jnp.float64)
    np.testing.assert_allclose(b2, b, rtol=1e-10)
    np.testing.assert_allclose(b2_n, b_n, rtol=1e-12)
    # top-k sum <= b_k <= top-k sum + tau log C(n, k)
    top = jnp.cumsum(jnp.sort(w)[::-1])[:-1]
    k = np.arange(1, n)
    logc = np.array([np.log(float(math.comb(n, int(i)))) for i in k])
    assert np.all(b >= top - 1e-12) and np.all(b <= top + tau * logc + 1e-12)


def test_reference_values_and_descending():
    sort = sj.sort(X, method="smooth_sort", softness=0.3)
    rank = sj.rank(X, method="smooth_sort", softness=0.3)  # descending: 1 = largest
    np.testing.assert_allclose(sort, SORT_REF, atol=1.5e-5)
    np.testing.assert_allclose(rank, RANK_REF, atol=1.5e-5)
    desc = sj.sort(X, method="smooth_sort", softness=0.3, descending=True)
    np.testing.assert_array_equal(desc, sort[::-1])
    # standardize is ignored (raw values), values sum to sum(x) (b_n is exact)
    np.testing.assert_array_equal(sj.sort(X, method="smooth_sort", softness=0.3, standardize=False), sort)
    np.testing.assert_allclose(jnp.sum(sort), jnp.sum(X), atol=1e-10)


def test_near_hard_limit_and_single_element():
    x = jnp.array([0.4, -1.3, 2.2, 0.1, 0.9, -0.2])
    np.testing.assert_allclose(sj.sort(x, method="smooth_sort", softness=1e-3), jnp.sort(x), atol=5e-3)
    np.testing.assert_allclose(sj.sort(jnp.array([42.0]), method="smooth_sort", softness=0.3), [42.0])
    np.testing.assert_allclose(sj.rank(jnp.array([42.0]), method="smooth_sort", softness=0.3), [1.0])


def test_only_smooth_mode():
    with pytest.raises(ValueError, match="smooth_sort only supports mode='smooth', got mode='c1'"):
        sj.sort(X, method="smooth_sort", mode="c1")
    np.testing.assert_array_equal(sj.sort(X, method="smooth_sort", mode="hard"), jnp.sort(X))


def test_second_derivatives_agree():
    # hessian (fwd-over-rev), jacrev(grad) and jacfwd(grad) of a function of
    # both code paths (data-dependent bounds for sort, closed form for rank).
    def f(x):
        s = sj.sort(x, method="smooth_sort", softness=0.4)
        r = sj.rank(x, method="smooth_sort", softness=0.4)
        return jnp.sum(jnp.arange(1.0, 6.0) * (s**3 + r**2))

    hess = jax.jit(jax.hessian(f))(X)
    np.testing.assert_allclose(jax.jit(jax.jacrev(jax.grad(f)))(X), hess, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-7, atol=1e-9)


@pytest.mark.slow
def test_check_grads_second_order():
    # Gradients match finite differences to 1e-4 relative, also at second order
    # (this needs the dual solved to convergence).
    f = jax.jit(lambda x: jnp.cos(jnp.arange(5.0)) @ sj.sort(x, method="smooth_sort", softness=0.3))
    g = jax.jit(lambda x: jnp.cos(jnp.arange(5.0)) @ sj.rank(x, method="smooth_sort", softness=0.3))
    for fn in (f, g):
        check_grads(fn, (X,), order=2, modes=("fwd", "rev"), eps=1e-6, atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------------- #
# Large-n float32 bounds: exact end bands + saddle-point middle.
# --------------------------------------------------------------------------- #
N_FAST = bounds_kernel.FAST_MIN_N  # where esp_bounds switches
N_KERNEL = 1024  # the kernels themselves work for any n > 2 FAST_BAND + 1 (cheaper references)


def _log_esp_reference(u):
    """Plain log-space recurrence of log e_k (numpy, float64), degrees 0..n."""
    out = np.full((*u.shape[:-1], u.shape[-1] + 1), -np.inf)
    out[..., 0] = 0.0
    for j in range(u.shape[-1]):
        out[..., 1:] = np.logaddexp(out[..., 1:], u[..., j : j + 1] + out[..., :-1])
    return out


def test_truncated_log_esp_is_exact():
    u = np.random.default_rng(0).standard_normal((2, 37)) * np.array([[3.0], [40.0]])
    ref = _log_esp_reference(u)
    tree = jax.jit(truncated_log_esp, static_argnums=1)
    np.testing.assert_allclose(tree(jnp.asarray(u), 8), ref[..., :9], rtol=1e-13, atol=1e-11)
    # more degrees than elements: the missing ones are NEG (a finite log 0)
    short = tree(jnp.asarray(u[:, :5]), 8)
    np.testing.assert_allclose(short[..., :6], _log_esp_reference(u[:, :5]), rtol=1e-13, atol=1e-12)
    assert np.all(np.asarray(short[..., 6:]) == NEG)


@pytest.fixture(scope="module")
def fast_case():
    """Rows of length N_KERNEL (softness 1 and 0.1) and their float64 exact log e_k."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, N_KERNEL))
    tau = np.array([[1.0], [0.1]])
    exact = np.asarray(bounds_kernel._log_esp_exact(jnp.asarray(x / tau)))
    return x, tau, exact


def test_saddle_expansion_accuracy(fast_case):
    # float64: the expansion itself is within 5e-5 of log e_k wherever kappa_2 >= 5
    x, tau, exact = fast_case
    log_e, kappa2, ok = jax.jit(saddle_log_esp, static_argnums=1)(
        jnp.asarray(x / tau), bounds_kernel.FAST_GRID
    )
    assert np.all(ok)
    used = np.asarray(kappa2) >= bounds_kernel.FAST_MIN_VARIANCE
    assert used.mean() > 0.9
    assert np.abs(np.asarray(log_e) - exact)[used].max() < 5e-5


def _fast_loss(x, tau):
    """A float32 loss of the fast bounds (and its float64 exact twin)."""
    weights = jnp.cos(jnp.arange(x.shape[-1] - 1.0, dtype=x.dtype))
    fn = (
        bounds_kernel._log_esp_exact
        if x.dtype == jnp.float64
        else lambda u: bounds_kernel._log_esp_fast(u)[0]
    )
    t = jnp.asarray(tau, x.dtype).reshape(-1, 1)
    return jnp.sum(weights * jnp.sin(t * fn(x / t)))


def test_fast_bounds_float32(fast_case):
    # float32: as close to the float64 bounds as the float32 exact recurrence
    # (both are limited by float32 rounding of log e_k ~ 1e3..1e4); gradient
    # within 1e-3 (relative to its max) of the float64 exact one; forward mode
    # agrees with reverse mode.
    x, tau, exact = fast_case
    u32 = jnp.asarray(x / tau, jnp.float32)
    fast, ok = jax.jit(bounds_kernel._log_esp_fast)(u32)
    assert bool(ok)
    err_fast = np.abs(np.asarray(fast, np.float64) - exact).max(-1)
    err_exact = np.abs(np.asarray(jax.jit(bounds_kernel._log_esp_exact)(u32), np.float64) - exact).max(-1)
    scale = np.abs(exact).max(-1)
    assert np.all(err_fast <= np.maximum(8 * err_exact, 4e-6 * scale)), (err_fast, err_exact)

    x32 = jnp.asarray(x, jnp.float32)
    v = jnp.asarray(np.random.default_rng(2).standard_normal(x.shape), jnp.float32)
    g64 = jax.jit(jax.grad(_fast_loss), static_argnums=1)(jnp.asarray(x), tuple(tau.ravel()))
    grad_and_jvp = jax.jit(
        lambda x, v: (jax.grad(_fast_loss)(x, tau), jax.jvp(lambda x: _fast_loss(x, tau), (x,), (v,))[1])
    )
    g32, dv = grad_and_jvp(x32, v)
    assert np.abs(np.asarray(g32, np.float64) - g64).max() <= 1e-3 * np.abs(g64).max()
    np.testing.assert_allclose(dv, jnp.sum(g32 * v), rtol=2e-3)
    # Gradients stay finite next to a gap or an outlier (kappa_2 ~ 0 there; the
    # caller discards those values, but a zero cotangent must not meet an
    # inf/NaN derivative): same compiled function, other data.
    n = x.shape[-1]
    rng = np.random.default_rng(6)
    gap = np.concatenate([rng.standard_normal(n // 2), 50 + rng.standard_normal(n - n // 2)])
    outlier = np.where(np.arange(n) == 3, 30.0, rng.standard_normal(n))
    g, _ = grad_and_jvp(jnp.asarray(np.stack([gap, outlier]), jnp.float32), v)
    assert np.all(np.isfinite(np.asarray(g)))


@pytest.mark.slow
def test_fast_bounds_second_order(fast_case):
    # forward-over-reverse through the fast path: finite, and close to the
    # float64 exact Hessian-vector product
    x, tau, _ = fast_case
    v = np.random.default_rng(4).standard_normal(x.shape)

    def hvp(x, v):
        return jax.jvp(jax.grad(lambda x: _fast_loss(x, tau)), (x,), (v,))[1]

    h32 = jax.jit(hvp)(jnp.asarray(x, jnp.float32), jnp.asarray(v, jnp.float32))
    h64 = jax.jit(hvp)(jnp.asarray(x), jnp.asarray(v))
    assert np.abs(np.asarray(h32, np.float64) - h64).max() <= 1e-2 * np.abs(h64).max()


def test_fast_bounds_fall_back_to_exact():
    # Every call has shape (2, n), so each function compiles once.
    n = N_FAST
    rng = np.random.default_rng(3)
    normal = rng.standard_normal(n)
    gap = np.concatenate([rng.standard_normal(n // 2), 50 + rng.standard_normal(n - n // 2)])
    bad = {
        "gap": gap,  # kappa_2 ~ 0 at k = n/2: the expansion would be wrong there
        "range": rng.standard_normal(n) * 1e6,  # does not fit the grid
        "nan": np.where(np.arange(n) == 7, np.nan, normal),
    }
    fast = jax.jit(bounds_kernel._log_esp_fast)
    for name, w in bad.items():
        assert not bool(fast(jnp.asarray(np.stack([normal, w]) / 0.1, jnp.float32))[1]), name
    w32 = jnp.asarray(np.stack([normal, gap]), jnp.float32)
    exact = 0.1 * np.asarray(bounds_kernel._log_esp_exact(jnp.asarray(w32, jnp.float64) / 0.1))
    wrong = 0.1 * np.asarray(fast(w32 / 0.1)[0], np.float64)
    assert np.abs(wrong - exact)[1].max() > 0.03  # what the expansion would give at the gap
    const = jnp.asarray(np.stack([np.full(n, 0.3), normal]), jnp.float32)
    with jax.enable_x64(False):
        # one row fails the test -> the whole batch takes the exact recurrence
        b, _ = esp_bounds(w32, 0.1)
        np.testing.assert_allclose(b, exact, rtol=2e-6, atol=1e-4)
        b, _ = esp_bounds(jnp.asarray(np.stack([bad["nan"], normal]), jnp.float32), 0.1)
        assert np.all(np.isnan(np.asarray(b[0]))) and np.all(np.isfinite(np.asarray(b[1])))
        # constant rows take the fast path: e_k = C(n, k) e^{k c / tau}
        b, _ = esp_bounds(const, 0.1)
        np.testing.assert_allclose(b, 0.1 * fast(const / 0.1)[0], rtol=1e-6, atol=1e-4)
    k = np.arange(1, n)
    logc = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in k])
    np.testing.assert_allclose(b[0], 0.3 * k + 0.1 * logc, rtol=2e-6, atol=2e-4)


def test_float32_solve_converges_at_large_n():
    # The dual Newton solve used to stop as soon as |grad| < 64 eps scale,
    # which in float32 at n = 1024 left sorted values 0.85 off the float64
    # result (the gradient's rounding floor is far lower); it now runs on while
    # Newton still halves the gradient. Exact bounds here (n < FAST_MIN_N).
    # Ranks were off by 4034 rank units there, now by about 2.
    x = np.random.default_rng(5).standard_normal((2, 1024))

    def both(x):
        return (
            sj.sort(x, axis=-1, method="smooth_sort", softness=0.1),
            sj.rank(x, axis=-1, method="smooth_sort", softness=0.1),
        )

    with jax.enable_x64(False):
        y32, r32 = (np.asarray(a, np.float64) for a in jax.jit(both)(jnp.asarray(x, jnp.float32)))
    y64, r64 = jax.jit(both)(jnp.asarray(x))
    assert np.abs(y32 - y64).max() < 1e-3
    assert np.abs(r32 - r64).max() < 5


def test_float32_precision_warning():
    # Beyond FLOAT32_MAX_N the float32 solve is known to be inaccurate: say so.
    x32 = jnp.zeros((2049,), jnp.float32)
    with jax.enable_x64(False):
        with pytest.warns(UserWarning, match="smooth_sort sort in float32 with n = 2049"):
            jax.eval_shape(lambda x: sj.sort(x, method="smooth_sort"), x32)
        with pytest.warns(UserWarning, match="smooth_sort rank in float32 with n = 2049"):
            jax.eval_shape(lambda x: sj.rank(x, method="smooth_sort"), x32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # float64 work dtype (x64 on): no warning
        jax.eval_shape(lambda x: sj.sort(x, method="smooth_sort"), x32)


# --------------------------------------------------------------------------- #
# Offsets, magnitudes and mixed scales: each row is solved in its own frame
# (centre, power-of-two units), so float32 / bfloat16 behave like float64.
# --------------------------------------------------------------------------- #
N_FRAME = 33
F32_MAX = float(np.finfo(np.float32).max)


def _frame_rows():
    """Named rows of length N_FRAME; every group is checked by one test below."""
    rng = np.random.default_rng(7)
    normal = rng.standard_normal((4, N_FRAME))
    signs = np.sign(rng.standard_normal((2, N_FRAME)))
    tied = rng.standard_normal(N_FRAME)
    tied[::3] = tied[0]
    groups = {
        "normal": normal,
        "offset": normal + 1e4,  # translation by 1e4
        "scale": 1e6 * normal[:2],
        "mixed": signs * 10.0 ** rng.uniform(-3, 6, (2, N_FRAME)),  # 1e-3 ... 1e6 in one row
        "huge": signs * 0.9 * F32_MAX * rng.uniform(0.5, 1.0, (2, N_FRAME)),
        "tiny": 1e-30 * normal[:1],
        "ties": np.stack([tied, np.full(N_FRAME, 0.7)]),
    }
    index, start = {}, 0
    for name, rows in groups.items():
        index[name] = slice(start, start + len(rows))
        start += len(rows)
    return np.concatenate(list(groups.values())), index


def _frame_probe(x, softness):
    """Per row: sort, rank and the gradients of ``w . sort``, ``max`` and the 0.3-quantile."""
    w = jnp.cos(jnp.arange(x.shape[-1], dtype=jnp.float32))
    kw = dict(softness=softness, method="smooth_sort")

    def losses(r):
        y = sj.sort(r, **kw)
        return jnp.stack(
            [
                jnp.sum(w * y.astype(jnp.float32)),
                sj.max(r, **kw).astype(jnp.float32),
                sj.quantile(r, 0.3, **kw).astype(jnp.float32),
            ]
        ), y

    def row(r):
        jac, y = jax.jacrev(losses, has_aux=True)(r)
        return y, sj.rank(r, **kw), jac

    return jax.vmap(row)(x)


@pytest.fixture(scope="module")
def frame_case():
    """Probe results (as float64 numpy) per dtype and softness; one compile per dtype.

    float32 and bfloat16 run with x64 off (so the solve itself is in float32);
    the float64 reference gets the same, already rounded, inputs.
    """
    x, index = _frame_rows()
    out = {}
    for name, dtype in (("float32", jnp.float32), ("bfloat16", jnp.bfloat16), ("float64", jnp.float64)):
        with jax.enable_x64(dtype == jnp.float64):
            probe = jax.jit(_frame_probe)
            for softness in (0.1, 1e-3):
                for inputs in ("float32", "bfloat16") if dtype == jnp.float64 else (name,):
                    rounded = np.asarray(jnp.asarray(x, getattr(jnp, inputs)), np.float64)
                    res = probe(jnp.asarray(rounded, dtype), jnp.asarray(softness, jnp.result_type(float)))
                    key = (name, inputs, softness)
                    out[key] = tuple(np.asarray(jax.device_get(r), np.float64) for r in res)
    return out, index


def test_translation_by_1e4_float32(frame_case):
    # sort(x + c) = sort(x) + c and rank(x + c) = rank(x) exactly; float32 used to
    # move the sorted values by up to 18 (the bounds ~ k 1e4 drowned the solve).
    out, index = frame_case
    sort, rank, _ = out["float32", "float32", 0.1]
    sort64, rank64, _ = out["float64", "float32", 0.1]
    base, moved = index["normal"], index["offset"]
    # 1e4 + x is rounded to 1e-3 in float32, the outputs too
    np.testing.assert_allclose(sort[moved] - 1e4, sort[base], atol=3e-3)
    np.testing.assert_allclose(sort[moved], sort64[moved], atol=2e-3)
    np.testing.assert_allclose(rank[moved], rank64[moved], atol=1e-3)
    np.testing.assert_allclose(rank[moved], rank[base], atol=2e-2)


def test_ranks_at_scale_1e6_float32(frame_case):
    # Ranks of 1e6 * normal spanned [-617, 407] in float32 (float64: [-3.2, 37.2]).
    # At softness 0.1 the relaxation's own limit for well-separated data is
    # (n - 1) times the increments of the rank bounds b, which leave [1, n]
    # (documented); at softness 1e-3 they are the hard ranks.
    out, index = frame_case
    rows = index["scale"]
    n = N_FRAME
    rank, rank64 = out["float32", "float32", 0.1][1][rows], out["float64", "float32", 0.1][1][rows]
    np.testing.assert_allclose(rank, rank64, atol=1e-3)
    b, b_n = esp_bounds_arithmetic(n, 0.1, jnp.float64)
    limit = (n - 1) * np.diff(np.concatenate([[0.0], np.asarray(b), [float(b_n)]]))
    assert limit.min() - 1e-3 <= rank.min() and rank.max() <= limit.max() + 1e-3
    hard = out["float32", "float32", 1e-3][1][rows]
    assert hard.min() >= 1 - 1e-3 and hard.max() <= n + 1e-3
    hard_ranks = np.broadcast_to(np.arange(1.0, n + 1), hard.shape)
    np.testing.assert_allclose(np.sort(hard, -1), hard_ranks, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_finite_gradients_any_magnitude(frame_case, dtype):
    # Gradients of sort / max / quantile were NaN for rows of scale 1e6 or of
    # mixed magnitudes (in float64 too: the reverse pass of the bounds
    # recurrence overflowed), values were -inf once the data's range exceeded
    # ~1e7 tau, and rows near the largest float lost everything to overflow /
    # flushed subnormals. Now finite for every row, and close to float64 on the
    # same inputs (bfloat16: the solve runs in float32, outputs are rounded).
    out, index = frame_case
    f32 = dtype == "float32"
    for softness in (0.1, 1e-3):
        sort, rank, jac = out[dtype, dtype, softness]
        sort64, rank64, jac64 = out["float64", dtype, softness]
        assert np.all(np.isfinite(sort)) and np.all(np.isfinite(rank)), softness
        assert np.all(np.isfinite(jac)), softness
        scale = np.ptp(sort64, -1, keepdims=True) + np.abs(sort64)
        assert np.all(np.abs(sort - sort64) <= (1e-5 if f32 else 1e-2) * scale), softness
        assert np.abs(rank - rank64).max() <= (2e-3 if f32 else 0.25), softness
        for name, rows in index.items():
            err = np.abs(jac[rows] - jac64[rows]).max() / np.abs(jac64[rows]).max()
            # Rows of mixed magnitudes: float32 resolves the soft structure among
            # the small values only down to ~eps * (range of the row) (see the
            # method's docstring), so their gradients agree to a few percent.
            tol = 0.1 if name == "mixed" or not f32 else 1e-4
            assert err <= tol, (name, softness, err)


def _sweep_rows(n):
    rng = np.random.default_rng(n)
    normal = rng.standard_normal(n)
    sign = np.where(rng.standard_normal(n) < 0, -1.0, 1.0)
    tied = normal.copy()
    tied[: n // 2] = tied[0]
    return np.stack(
        [
            normal,
            1e-30 * normal,
            1e6 * normal,
            normal + 1e4,
            sign * 10.0 ** rng.uniform(-3, 6, n),  # mixed magnitudes
            sign * 0.9 * F32_MAX * rng.uniform(0.5, 1.0, n),  # up to 0.9 * float32 max
            np.full(n, 0.7),
            tied,
            np.round(2 * normal) * 5e5,  # constant, ties, ties at 1e6
        ]
    )


def _sweep_probe(x, softness):
    """Every operator's values and the gradients of their weighted sums, rows x softness."""
    n = x.shape[-1]
    k = min(3, n)

    def row(r, s):
        kw = dict(softness=s, method="smooth_sort")
        values = {
            "sort": sj.sort(r, **kw),
            "rank": sj.rank(r, **kw),
            "max": sj.max(r, **kw)[None],
            "min": sj.min(r, **kw)[None],
            "quantile": sj.quantile(r, 0.3, **kw)[None],
            "median": sj.median(r, **kw)[None],
            "top_k": sj.top_k(r, k, **kw)[0],
        }
        return values

    def losses(r, s):
        values = row(r, s)
        return [
            jnp.sum(jnp.cos(jnp.arange(v.shape[-1], dtype=jnp.float32)) * v.astype(jnp.float32))
            for v in values.values()
        ], values

    def both(r, s):
        jac, values = jax.jacrev(lambda r: losses(r, s), has_aux=True)(r)
        return values, dict(zip(values, jac, strict=True))

    return jax.vmap(jax.vmap(both, (None, 0)), (0, None))(x, softness)


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2, 5, 33])
def test_finite_everywhere(n):
    # Magnitudes 1e-30 ... 0.9 * float32 max, offsets, mixed scales, ties and
    # constant rows, softness 1e-6 ... 1e3: every value and gradient is finite
    # in float32, bfloat16 and float64; float32 values match float64 to a few
    # ulp of n * radius (the bounds' rounding), gradients to a few percent (the
    # worst: rows of mixed magnitudes, see test_finite_gradients_any_magnitude).
    x = _sweep_rows(n)
    softness = np.array([1e-6, 1e-3, 0.1, 1.0, 1e3])
    res = {}
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float64):
        with jax.enable_x64(dtype == jnp.float64):
            work = jnp.float64 if dtype == jnp.float64 else jnp.float32
            inputs = np.asarray(jnp.asarray(x, jnp.float32), np.float64)  # one set of inputs
            values, grads = jax.jit(_sweep_probe)(jnp.asarray(inputs, dtype), jnp.asarray(softness, work))
            res[dtype] = jax.tree.map(lambda a: np.asarray(a, np.float64), (values, grads))
            for name in values:
                for kind, tree in (("value", values), ("gradient", grads)):
                    bad = ~np.isfinite(np.asarray(tree[name], np.float64))
                    bad = np.argwhere(bad.reshape((*bad.shape[:2], -1)).any(-1))
                    assert not bad.size, (jnp.dtype(dtype).name, name, kind, bad[:5].tolist())
    (v32, g32), (v64, g64) = res[jnp.float32], res[jnp.float64]
    spread = np.ptp(x, -1)[:, None, None] + np.minimum(softness, 1.0)[None, :, None]
    for name in v32:
        if name == "rank":
            assert np.abs(v32[name] - v64[name]).max() < 5e-3
        else:
            err = np.abs(v32[name] - v64[name]) / (spread + np.abs(v64[name]))
            assert err.max() < 3e-5, (name, err.max())
        err = np.abs(g32[name] - g64[name]).max(-1) / (np.abs(g64[name]).max(-1) + 1e-30)
        assert err.max() < 0.1, (name, err.max())
