"""SoftSort's window path for the sparse modes (``sort_window``/``rank_window``) against the dense rows.

The dense chunked path (``sort_dense``/``rank_dense``, O(n²)) is the reference;
``SCAN_MIN_N`` set past ``n`` forces it through the public API.

As for the smooth scan, at exact ties the two differ in the derivative with
respect to ``x̂`` only: the dense rows differentiate ``|a_r - x̂_j|`` at 0 as 0,
the window path along the stable order of the tied elements (the one-sided
derivative). Those gradients are compared on tie-free rows.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from softsort_paths import SOFTNESS, dispatch, hostile_rows, rel

import softjax as sj
from softjax._src.kernels import range_table, sparse_window
from softjax._src.methods import softsort as ss

jax.config.update("jax_enable_x64", True)

MODES = ss.WINDOW_MODES


# ------------------------------------------------------------------ window search
@pytest.mark.parametrize("degree", [1, 2, 3])
def test_range_table_sums_every_range(degree):
    # Every range [a, b] of rows with ties, from both ends, against the direct sum.
    rng = np.random.default_rng(degree)
    for n in (1, 2, 3, 8, 13, 100):
        v = np.sort(rng.standard_normal(n))
        v[n // 3 : n // 3 + 2] = v[n // 3]
        a, b = (x.ravel().astype(np.int32) for x in np.meshgrid(np.arange(n), np.arange(n)))
        gap = rng.uniform(0.0, 0.5, a.shape)
        table = range_table.build(jnp.asarray(v), degree)
        for from_first in (True, False):
            got = range_table.range_sums(table, *map(jnp.asarray, (a, b, gap)), from_first, degree)
            j = np.arange(n)
            inside = (j >= a[:, None]) & (j <= b[:, None])
            e = (v - v[a][:, None]) if from_first else (v[b][:, None] - v)
            want = np.sum(np.where(inside, (e + gap[:, None]) ** degree, 0.0), axis=1)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_range_table_in_units_with_a_cap(degree):
    # Offsets in units of 0.3 capped at 4: exact on ranges spanning at most 4 units, never
    # above the true sum, and a sum below 1 (the search's test) is always exact.
    rng = np.random.default_rng(10 + degree)
    unit, cap = 0.3, 4.0
    for n in (2, 13, 100):
        v = np.sort(rng.standard_normal(n) * 2)
        a, b = (x.ravel().astype(np.int32) for x in np.meshgrid(np.arange(n), np.arange(n)))
        gap = rng.uniform(0.0, 0.5, a.shape)
        table = range_table.build(jnp.asarray(v), degree, unit=unit, cap=cap)
        for from_first in (True, False):
            query = map(jnp.asarray, (a, b, gap))
            got = np.asarray(range_table.range_sums(table, *query, from_first, degree))
            j = np.arange(n)
            inside = (j >= a[:, None]) & (j <= b[:, None])
            e = ((v - v[a][:, None]) if from_first else (v[b][:, None] - v)) / unit + gap[:, None]
            want = np.sum(np.where(inside, e**degree, 0.0), axis=1)
            spans = (v[np.maximum(a, b)] - v[a]) / unit <= cap - 0.5
            np.testing.assert_allclose(got[spans], want[spans], rtol=1e-12, atol=1e-15)
            assert np.all(got <= want * (1 + 1e-12) + 1e-15)
            below = got < 1
            np.testing.assert_allclose(got[below], want[below], rtol=1e-12, atol=1e-15)
            assert np.any(~spans & (a <= b))  # the cap is exercised


@pytest.mark.parametrize("mode", MODES)
def test_windows_are_the_dense_supports(mode):
    alpha = {"c0": 1, "c1": 2, "c2": 3}[mode]
    windows = jax.jit(sparse_window.windows, static_argnums=2)
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 64, 300):
        row = np.sort(
            np.concatenate([np.round(rng.standard_normal(n // 2), 1), rng.standard_normal(n - n // 2)])
        )
        # The search only looks within distance s (plus rounding) of the anchor:
        # float32 rows at 1e6, whose spacing (0.0625) is comparable to s, too.
        shifted = np.float32(1e6) + row.astype(np.float32)
        cases = [(row, s) for s in SOFTNESS] + [(shifted, np.float32(0.1))]
        for v, s in cases:
            left, right = windows(jnp.asarray(v), jnp.asarray(s), alpha)
            dense = np.asarray(ss.softsort_rows(jnp.asarray(v), jnp.asarray(v), s, mode))
            for r in range(n):
                support = np.flatnonzero(dense[r] > 1e-12)
                assert left[r] <= r <= right[r]
                assert np.all(dense[r, : left[r]] <= 1e-12) and np.all(dense[r, right[r] + 1 :] <= 1e-12)
                assert support.min() >= left[r] and support.max() <= right[r], (n, s, r)


# ------------------------------------------------- method functions vs dense, float64
@functools.cache
def _method_outputs(fast: bool, mode: str, with_jvp: bool):
    """Jitted ``{name: (value, d/dx, d/dx̂, d/ds[, jvp])}`` for sort (gated or not) and rank, both orders."""

    def outputs(x, xhat, s):
        sort = ss.sort_window if fast else ss.sort_dense
        rank = ss.rank_window if fast else ss.rank_dense
        w = jnp.cos(jnp.arange(x.shape[-1], dtype=x.dtype))
        tangents = (jnp.sin(x), jnp.cos(xhat), jnp.ones_like(s))
        out = {}
        for d in (False, True):
            kw = dict(mode=mode, descending=d)
            fns = {
                f"sort_gated_{d}": lambda x, xh, s, kw=kw: sort(x, xh, softness=s, gated=True, **kw),
                f"sort_{d}": lambda x, xh, s, kw=kw: sort(x, xh, softness=s, gated=False, **kw),
                f"rank_{d}": lambda x, xh, s, kw=kw: rank(xh, softness=s, **kw),
            }
            for name, f in fns.items():
                value, pullback = jax.vjp(f, x, xhat, s)
                out[name] = (value, *pullback(jnp.broadcast_to(w, value.shape)))
                if with_jvp:
                    out[name] += (jax.jvp(f, (x, xhat, s), tangents)[1],)
        return out

    return jax.jit(outputs)


@pytest.mark.parametrize("mode", MODES)
# n = 400 (168 s of compile on two cores) runs in the exhaustive tier; the
# public-API test below covers n = 600 in every mode.
@pytest.mark.parametrize("lengths", [(1, 2), pytest.param((400,), marks=pytest.mark.slow)])
def test_methods_match_dense_float64(mode, lengths):
    # Largest deviations measured (c0, c1, c2): values 1e-15, gradients 5e-15 (x),
    # 5e-13 (x̂), 5e-12 (softness, at 1e-3), jvps 3e-13.
    for n in lengths:
        x = hostile_rows(n, np.float64, offset=0.0)
        xhat = np.tanh(x)  # any increasing map of x
        for s in SOFTNESS:
            args = (jnp.asarray(x), jnp.asarray(xhat), jnp.asarray(s))
            fast, dense = _method_outputs(True, mode, True)(*args), _method_outputs(False, mode, True)(*args)
            for name in fast:
                value, gx, gxhat, gs, jvp = (np.asarray(a) for a in fast[name])
                ref = [np.asarray(a) for a in dense[name]]
                assert all(np.all(np.isfinite(a)) for a in (value, gx, gxhat, gs, jvp)), name
                np.testing.assert_allclose(value, ref[0], rtol=1e-10, atol=1e-12, err_msg=name)
                np.testing.assert_allclose(gx, ref[1], rtol=1e-10, atol=1e-12, err_msg=name)
                # d/ds: 0 where every row is one-hot; its scale is |value| / s.
                atol = 1e-13 * np.abs(ref[0]).max() / s
                np.testing.assert_allclose(gs, ref[3], rtol=1e-9, atol=atol, err_msg=name)
                free = np.array([0, 3])  # tie-free rows
                atol = 1e-10 * (np.abs(ref[2][free]).max() + 1.0)
                np.testing.assert_allclose(gxhat[free], ref[2][free], rtol=1e-9, atol=atol, err_msg=name)
                np.testing.assert_allclose(jvp[free], ref[4][free], rtol=1e-9, atol=atol, err_msg=name)
                if name.startswith(("sort_F", "sort_T")):  # detached rows
                    assert not np.any(gxhat) and gs == 0, name
                expected = 0.7 if name.startswith("sort") else (n + 1) / 2  # constant row
                np.testing.assert_allclose(value[2], expected, rtol=1e-14, err_msg=name)


# --------------------------------------------------------- public API, float32 too
CONFIGS = (  # (op, standardize, descending, gated): every flag flipped
    ("sort", True, False, True),
    ("sort", False, True, False),
    ("rank", False, True, None),
)


@functools.cache
def _public(fast: bool, mode: str):
    """Jitted values and gradients of every config through ``sj.sort``/``sj.rank``, one path."""

    def f(x, w, s):
        out = []
        with dispatch(fast):
            for op, standardize, descending, gated in CONFIGS:
                kw = dict(
                    method="softsort", mode=mode, standardize=standardize, descending=descending, axis=-1
                )
                kw["softness"] = s if standardize else 100 * s
                if op == "sort":
                    kw["gated_grad"] = gated
                value, pullback = jax.vjp(lambda v, op=op, kw=kw: getattr(sj, op)(v, **kw), x)
                out += [pullback(jnp.broadcast_to(w, value.shape))[0], value]
        return out

    return jax.jit(f)


@pytest.mark.parametrize(
    "dtype, mode",
    [(d, m) for d in (np.float64, np.float32) for m in MODES],
)
def test_public_api_matches_dense(dtype, mode):
    n = 600
    x = hostile_rows(n, dtype)
    w = np.cos(np.arange(n)).astype(dtype)
    eps = np.finfo(dtype).eps
    # float64: 1e-10 of the row's max |value| / gradient (measured 2e-14 / 2e-13).
    # float32: both paths are compared with the float64 window path (itself within 1e-13
    # of the float64 dense rows, test above); the window path may deviate 4x as much as
    # the dense rows, or 10 ulps (values) / n ulps (gradients). Gradients through the rows
    # (gated, rank) are ill-conditioned (dz/dx̂ = 1/s): measured up to 2x the dense error
    # (c2, softness 1e-3: 2e-4 against 1e-4).
    for s in SOFTNESS:
        args = (jnp.asarray(x), jnp.asarray(w), jnp.asarray(s, dtype))
        fast, dense = _public(True, mode)(*args), _public(False, mode)(*args)
        exact = _public(True, mode)(*(jnp.asarray(a, np.float64) for a in args))
        for k, (op, _, _, gated) in enumerate(CONFIGS):
            grad, value = np.asarray(fast[2 * k]), np.asarray(fast[2 * k + 1])
            ref_grad, ref_value = np.asarray(dense[2 * k]), np.asarray(dense[2 * k + 1])
            assert value.dtype == dtype and grad.dtype == dtype
            assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
            for i in range(len(x)):
                if dtype == np.float64:
                    assert rel(value[i], ref_value[i]) <= 1e-10, (k, i, s, rel(value[i], ref_value[i]))
                else:
                    truth = np.asarray(exact[2 * k + 1])[i]
                    err, dense_err = rel(value[i], truth), rel(ref_value[i], truth)
                    assert err <= max(4 * dense_err, 10 * eps), (k, i, s, err, dense_err)
            # x̂-derivatives differ at ties and lose digits to the 1e6 offset on the
            # dense side: tie-free row 0, and every row where the rows are detached.
            rows = range(len(x)) if op == "sort" and not gated else [0]
            for i in rows:
                if dtype == np.float64:
                    assert rel(grad[i], ref_grad[i]) <= 1e-9, (k, i, s, rel(grad[i], ref_grad[i]))
                else:
                    truth = np.asarray(exact[2 * k])[i]
                    err, dense_err = rel(grad[i], truth), rel(ref_grad[i], truth)
                    assert err <= max(4 * dense_err, n * eps), (k, i, s, err, dense_err)


@pytest.mark.parametrize("mode", MODES)
def test_top_rows_from_the_largest_entries_equal_the_whole_sort(mode, monkeypatch):
    # The first k descending rows from a top slice of the row against the whole
    # sort, values and gradients. Each row reaches a different slice size: the
    # k largest entries, then `crowd` entries within the softness of the k-th
    # (so inside every row's reach), then the rest far below; ties included.
    n, k, s = 700, 24, 0.3
    assert ss._top_slices(n, k) == ()  # below TOP_SLICE_MIN_N: the whole sort
    monkeypatch.setattr(ss, "TOP_SLICE_MIN_N", n)
    sizes = ss._top_slices(n, k)
    assert sizes == (88, 176, 352)
    rng = np.random.default_rng(7)
    weights = jnp.asarray(np.cos(np.arange(k)))

    @functools.partial(jax.jit, static_argnames="count")
    def value_and_grad(x, count):
        def f(v):
            out = ss.sort(
                v,
                v,
                softness=s,
                mode=mode,
                descending=True,
                gated=False,
                unsquash=None,
                options=None,
                count=count,
            )
            return jnp.sum(weights * out[..., :k]), out[..., :k]

        return jax.value_and_grad(f, has_aux=True)(x)

    for crowd, slice_taken in ((40, 0), (120, 1), (300, 2), (400, 3)):
        top = np.concatenate([np.linspace(3.0, 2.5, k - 4), np.full(4, 2.5)])
        # Packed 1e-4 apart, so row k's support (about sqrt(2 s / 1e-4) = 77
        # entries in c0) runs past the smaller slices: a slice taken too short
        # changes the rows.
        near = 2.5 - 1e-4 * np.arange(crowd)
        near[:5] = 2.5  # ties with the k-th anchor
        row = rng.permutation(np.concatenate([top, near, rng.uniform(-1.0, 1.0, n - k - crowd)]))
        ordered = np.sort(row)[::-1]
        taken = sum(ordered[k - 1] - ordered[m] < s for m in sizes)
        assert taken == slice_taken
        (_, got), got_grad = value_and_grad(jnp.asarray(row[None]), k)
        (_, want), want_grad = value_and_grad(jnp.asarray(row[None]), None)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(got_grad, want_grad, rtol=1e-12, atol=1e-13)


def test_short_rows_and_large_magnitudes():
    @jax.jit
    def outs(x):
        res = []
        for n in (1, 2):
            for mode in MODES:
                kw = dict(method="softsort", mode=mode, softness=1e-3, standardize=False, descending=False)
                res.append((sj.sort(x[:n], **kw), sj.rank(x[:n], **kw)))
        return res

    x = jnp.asarray([2e6, -1e6, 0.5])
    for k, (value, ranks) in enumerate(outs(x)):
        n = 1 + k // len(MODES)
        np.testing.assert_allclose(value, jnp.sort(x[:n]), rtol=1e-15)
        np.testing.assert_array_equal(ranks, [1.0] if n == 1 else [2.0, 1.0])


def test_finite_gradients_of_rows_far_apart_in_float32():
    # Rows at 1e20 with softness 1e-6: the tree segments between entries span
    # 1e20, whose cubes overflow float32; no window reads them, and their
    # overflow must not reach the gradients (it did for c2 before the window
    # moments were taken in units of the softness).
    x = jnp.asarray([3e20, -1e20, 2e20, 0.5, -7e19], jnp.float32)
    w = jnp.arange(1.0, 6.0, dtype=jnp.float32)

    @jax.jit
    def values_and_grads(x):
        out = []
        for mode in MODES:
            kw = dict(softness=1e-6, mode=mode, descending=False)
            out.append(jax.value_and_grad(lambda v, kw=kw: w @ ss.sort_window(v, v, gated=True, **kw))(x))
            out.append(jax.value_and_grad(lambda v, kw=kw: w @ ss.rank_window(v, **kw))(x))
        return out

    results = values_and_grads(x)
    for value, grad in results:
        assert np.isfinite(value) and np.all(np.isfinite(grad))
    for value, _ in results[::2]:
        assert float(value) == pytest.approx(float(w @ jnp.sort(x)), rel=1e-6)


@pytest.mark.parametrize(
    "mode", [m if m == "c0" else pytest.param(m, marks=pytest.mark.slow) for m in MODES]
)  # c1/c2 (90 s of compile) in the exhaustive tier; first order is checked for every mode above
def test_second_order_gradients(mode):
    # One check_grads call: sort (gated, descending) and rank of the window path.
    def f(v):
        return jnp.concatenate(
            [
                ss.sort_window(jnp.sin(v), v, softness=1.5, mode=mode, descending=True, gated=True),
                ss.rank_window(v, softness=1.5, mode=mode, descending=False),
            ]
        )

    check_grads(jax.jit(f), (jnp.asarray([0.3, -1.2, 0.8, 2.0, -0.1]),), order=2, modes=["fwd", "rev"])


@pytest.mark.parametrize("mode", MODES)
def test_memory_is_linear(mode):
    # value+grad at n = 16384 in O(n) (the search's range table adds 2 alpha log n
    # vectors); the dense rows need 128 rows at a time.
    n = 16384
    dtype = jnp.float32

    def temp(fast):
        with dispatch(fast):
            f = jax.jit(
                jax.value_and_grad(lambda x: jnp.sum(jnp.cos(x) * sj.sort(x, method="softsort", mode=mode)))
            )
            return f.lower(jnp.zeros((n,), dtype)).compile().memory_analysis().temp_size_in_bytes

    fast = temp(True)
    assert fast < 320 * n * jnp.dtype(dtype).itemsize, (fast, temp(False))
