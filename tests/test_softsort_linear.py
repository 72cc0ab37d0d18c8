"""SoftSort's O(n log n) smooth-mode ``sort``/``rank`` (decaying-sum scan) against the dense rows.

The dense chunked path (``sort_dense``/``rank_dense``, O(n²)) is the reference;
``SCAN_MIN_N`` set past ``n`` forces it through the public API. (``quantile``,
``median``, ``max`` and ``top_k`` of softsort build their own few rows and do
not go through ``sort``: unaffected.)

At exact ties the two differ in the derivative with respect to ``x̂`` only
(values agree): the dense rows differentiate ``|a_r - x̂_j|`` at 0 as 0, the
scan differentiates the sorted-order formula, which is the true one-sided
derivative along every direction that keeps the stable order of tied elements
(checked against finite differences below). Gradients with respect to ``x̂``
are therefore compared with the dense path on tie-free rows only.

Compile time dominates: every jitted function below computes many outputs at
once and is compiled once per shape.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays
from jax.test_util import check_grads
from softsort_paths import SOFTNESS, dispatch, hostile_rows, rel

import softjax as sj
from softjax._src.kernels.exp_decay_scan import exp_decay_sums
from softjax._src.methods import softsort as ss

jax.config.update("jax_enable_x64", True)


# --------------------------------------------------------------------------- kernel
_kernel = jax.jit(exp_decay_sums)


def test_kernel_is_the_two_sided_sum():
    # One block (n <= 8), a padded partial block, and two levels of blocks.
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 9, 100):
        tied = np.round(rng.standard_normal(n - n // 2), 1)
        a = np.sort(np.concatenate([tied, rng.standard_normal(n // 2)]))
        g = rng.standard_normal((2, n))
        for s in SOFTNESS:
            ref = np.exp(-np.abs(a[:, None] - a[None, :]) / s) @ g.T
            np.testing.assert_allclose(_kernel(jnp.asarray(a), jnp.asarray(g), s), ref.T, rtol=1e-13)


def test_kernel_factors_never_exceed_one():
    # Far-apart anchors and a tiny softness: factors underflow to 0, none overflows.
    a = jnp.asarray([-3e38, -1.0, 0.0, 0.0, 1e-30, 3e38], jnp.float32)
    out = _kernel(a, jnp.ones((1, 6), jnp.float32), jnp.float32(1e-3))
    np.testing.assert_array_equal(out, [[1.0, 1.0, 3.0, 3.0, 3.0, 1.0]])


# ------------------------------------------------- method functions vs dense, float64
@functools.cache
def _method_outputs(scan: bool, with_jvp: bool):
    """Jitted ``{name: (value, d/dx, d/dx̂, d/ds[, jvp])}`` for sort (gated or not) and rank, both orders."""

    def outputs(x, xhat, s):
        sort = ss.sort_scan if scan else functools.partial(ss.sort_dense, mode="smooth")
        rank = ss.rank_scan if scan else functools.partial(ss.rank_dense, mode="smooth")
        w = jnp.cos(jnp.arange(x.shape[-1], dtype=x.dtype))
        tangents = (jnp.sin(x), jnp.cos(xhat), jnp.ones_like(s))
        out = {}
        for d in (False, True):
            fns = {
                f"sort_gated_{d}": lambda x, xh, s, d=d: sort(x, xh, softness=s, descending=d, gated=True),
                f"sort_{d}": lambda x, xh, s, d=d: sort(x, xh, softness=s, descending=d, gated=False),
                f"rank_{d}": lambda x, xh, s, d=d: rank(xh, softness=s, descending=d),
            }
            for name, f in fns.items():
                value, pullback = jax.vjp(f, x, xhat, s)
                out[name] = (value, *pullback(jnp.broadcast_to(w, value.shape)))
                if with_jvp:
                    out[name] += (jax.jvp(f, (x, xhat, s), tangents)[1],)
        return out

    return jax.jit(outputs)


# Two parameter sets, so that the fast tier (first and last of each test) keeps every length.
@pytest.mark.parametrize("lengths", [(1, 2, 3), (1000,)])
def test_methods_match_dense_float64(lengths):
    for n in lengths:
        _check_methods_match_dense(n)


def _check_methods_match_dense(n):
    x = hostile_rows(n, np.float64, offset=0.0)
    xhat = np.tanh(x)  # any increasing map of x
    for s in SOFTNESS:
        args = (jnp.asarray(x), jnp.asarray(xhat), jnp.asarray(s))
        # jvps at n <= 3 only (compile time); the scan's jvp at n = 200 is checked at ties below.
        scan, dense = _method_outputs(True, n <= 3)(*args), _method_outputs(False, n <= 3)(*args)
        for name in scan:
            value, gx, gxhat, gs, *jvp = (np.asarray(a) for a in scan[name])
            ref = [np.asarray(a) for a in dense[name]]
            np.testing.assert_allclose(value, ref[0], rtol=1e-10, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(gx, ref[1], rtol=1e-10, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(gs, ref[3], rtol=1e-9, atol=1e-12, err_msg=name)  # no tie term in s
            # x̂ derivatives (and jvps) agree away from ties: rows 0 and 3 are tie-free.
            free = np.array([0, 3])
            atol = 1e-10 * (np.abs(ref[2][free]).max() + 1.0)
            np.testing.assert_allclose(gxhat[free], ref[2][free], rtol=1e-9, atol=atol, err_msg=name)
            if jvp:
                np.testing.assert_allclose(jvp[0][free], ref[4][free], rtol=1e-9, atol=atol, err_msg=name)
            if name.startswith(("sort_F", "sort_T")):  # detached rows
                assert not np.any(gxhat) and gs == 0, name
            # constant row: the row itself, ranks (n + 1) / 2
            expected = 0.7 if name.startswith("sort") else (n + 1) / 2
            np.testing.assert_allclose(value[2], expected, rtol=1e-14, err_msg=name)


def test_offset_and_ties_derivatives():
    rng = np.random.default_rng(7)
    n = 200
    x = jnp.asarray(rng.standard_normal(n))
    tied = jnp.asarray(np.round(rng.standard_normal(n), 1))
    w = jnp.cos(jnp.arange(float(n)))
    direction = jnp.arange(float(n)) / n  # increasing in index: keeps the stable order of ties
    h = 1e-7

    @jax.jit
    def check(x, tied):
        sort = lambda v, u, d: w @ ss.sort_scan(v, u, softness=1e-2, descending=d, gated=True)
        rank = lambda u: w @ ss.rank_scan(u, softness=0.1, descending=False)
        # P rows sum to 1: the x̂-derivative of P (x + 1e6) is that of P x.
        offset = jax.vmap(lambda v: jax.grad(sort, argnums=1)(v, jnp.tanh(x), True))(jnp.stack([x, x + 1e6]))
        # At ties: the JVP is the one-sided derivative along `direction`.
        tie = []
        for f in (rank, lambda u: sort(tied, u, False)):
            u = jnp.tanh(tied)
            tie.append((jax.jvp(f, (u,), (direction,))[1], (f(u + h * direction) - f(u)) / h))
        return offset, tie

    offset, tie = check(x, tied)
    # The scan centres x first (~1e-13 here); the dense rows lose ~6 digits to the offset.
    np.testing.assert_allclose(offset[1], offset[0], rtol=1e-9, atol=1e-9 * np.abs(offset[0]).max())
    for jvp, one_sided in tie:
        np.testing.assert_allclose(jvp, one_sided, rtol=1e-5)


# --------------------------------------------------------- public API, float32 too
CONFIGS = (  # (op, standardize, descending, gated): every flag flipped (rank's defaults: batch test)
    ("sort", True, False, True),
    ("sort", False, True, False),
    ("rank", False, False, None),
)


@functools.cache
def _public(scan: bool):
    """Jitted values and gradients of every config through ``sj.sort``/``sj.rank``, one path."""

    def f(x, w, s):
        out = []
        with dispatch(scan):
            for op, standardize, descending, gated in CONFIGS:
                kw = dict(method="softsort", standardize=standardize, descending=descending, axis=-1)
                kw["softness"] = s if standardize else 100 * s
                if op == "sort":
                    kw["gated_grad"] = gated
                value, pullback = jax.vjp(lambda v, op=op, kw=kw: getattr(sj, op)(v, **kw), x)
                out += [pullback(jnp.broadcast_to(w, value.shape))[0], value]
        return out

    return jax.jit(f)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_public_api_matches_dense(dtype):
    n = 1000
    x = hostile_rows(n, dtype)
    w = np.cos(np.arange(n)).astype(dtype)
    eps = np.finfo(dtype).eps
    # Largest deviations measured here: float64 2.2e-14 (values), 4e-14 (gradients).
    # float32 1.2e-5 of the row's max |value| (absolute 1e-7 on the unit-scale rows,
    # whose soft-sorted values at softness 10 are all ~1e-2; 1.2 on the 1e6 row, where
    # the scan is within 4e-8 of float64 and the dense rows 1.3e-6), gradients 2.4e-5.
    # Bounds: n ulps for values, 10 n ulps for gradients.
    tol = 1e-10 if dtype == np.float64 else n * eps
    for s in SOFTNESS:
        args = (jnp.asarray(x), jnp.asarray(w), jnp.asarray(s, dtype))
        scan, dense = _public(True)(*args), _public(False)(*args)
        for k, (op, _, _, gated) in enumerate(CONFIGS):
            grad, value = np.asarray(scan[2 * k]), np.asarray(scan[2 * k + 1])
            ref_grad, ref_value = np.asarray(dense[2 * k]), np.asarray(dense[2 * k + 1])
            assert value.dtype == dtype and grad.dtype == dtype
            assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
            for i in range(len(x)):
                assert rel(value[i], ref_value[i]) <= tol, (k, i, s)
            # x̂-derivatives differ at ties (module docstring) and lose digits to
            # the 1e6 offset on the dense side: tie-free row 0, and the
            # detached rows of non-gated sort, whose gradient is P^T w.
            rows = range(len(x)) if op == "sort" and not gated else [0]
            for i in rows:
                assert rel(grad[i], ref_grad[i]) <= 10 * tol, (k, i, s)


def test_batch_axis_vmap_jit_and_short_rows():
    x = jnp.asarray(np.random.default_rng(5).standard_normal((3, 7, 2)))

    @jax.jit
    def outs(x):
        res = []
        for op in ("sort", "rank"):
            f = functools.partial(getattr(sj, op), method="softsort", softness=0.2)
            moved = jnp.moveaxis(f(jnp.moveaxis(x, 1, -1), axis=-1), -1, 1)
            mapped = jax.vmap(lambda r, f=f: f(r, axis=1), in_axes=2, out_axes=2)(x)
            with dispatch(False):
                dense = f(x, axis=1)
            res.append((f(x, axis=1), moved, mapped, dense))
        short = [
            (sj.sort(x[0, :n, 0], method="softsort", softness=1e-3), sj.rank(x[0, :n, 0], method="softsort"))
            for n in (1, 2)
        ]
        return res, short

    res, short = outs(x)
    for value, moved, mapped, dense in res:
        np.testing.assert_allclose(value, moved, rtol=1e-13)
        np.testing.assert_allclose(mapped, moved, rtol=1e-13)
        np.testing.assert_allclose(dense, moved, rtol=1e-12)
    np.testing.assert_array_equal(short[0][0], x[0, :1, 0])
    np.testing.assert_array_equal(short[0][1], [1.0])
    np.testing.assert_allclose(short[1][0], jnp.sort(x[0, :2, 0]), rtol=1e-12)  # gap / s ~ 1e3: hard


def test_second_order_gradients():
    # One check_grads call (each costs ~7 s of compiling): sort (gated, descending)
    # and rank of the scan path. gated_grad=False is deliberately not the
    # derivative of the values: not checked here.
    def f(v):
        return jnp.concatenate(
            [
                ss.sort_scan(jnp.sin(v), v, softness=0.3, descending=True, gated=True),
                ss.rank_scan(v, softness=0.3, descending=False),
            ]
        )

    check_grads(jax.jit(f), (jnp.asarray([0.3, -1.2, 0.8, 2.0, -0.1]),), order=2, modes=["fwd", "rev"])


def test_gated_and_detached_gradients():
    x = jnp.asarray([0.3, -1.2, 0.8, 2.0, -0.1])
    w = jnp.arange(5.0)

    @jax.jit
    def grads(x):
        g = [
            jax.grad(lambda v, g=g: w @ sj.sort(v, method="softsort", softness=0.5, gated_grad=g))(x)
            for g in (True, False)
        ]
        return g, sj.argsort(x, method="softsort", softness=0.5)

    (gated, detached), p = grads(x)
    assert rel(gated, detached) > 1e-3
    np.testing.assert_allclose(detached, p.T @ w, rtol=1e-12)  # detached: P^T w


def test_memory_is_linear():
    # value+grad at n = 16384 in O(n): 2.8 MiB measured; the dense rows need 33 MiB here.
    n = 16384
    f = jax.jit(jax.value_and_grad(lambda x: jnp.sum(jnp.cos(x) * sj.sort(x, method="softsort"))))
    temp = f.lower(jnp.zeros((n,), jnp.float32)).compile().memory_analysis().temp_size_in_bytes
    assert temp < 128 * n * 4, temp


# ---------------------------------------------------------------------- invariants
_sort_rank = jax.jit(
    lambda x, s: (
        sj.sort(x, method="softsort", softness=s),
        sj.sort(x, method="softsort", softness=s, descending=True),
        sj.rank(x, method="softsort", softness=s),
    )
)


@given(
    # Subnormals excluded: XLA:CPU flushes them to zero in arithmetic.
    x=arrays(
        np.float64, st.sampled_from([2, 9]), elements=st.floats(-1e6, 1e6, width=64, allow_subnormal=False)
    ),
    softness=st.sampled_from(SOFTNESS),
)
def test_sorted_values_in_hull_monotone_ranks_in_range(x, softness):
    up, down, ranks = (np.asarray(a) for a in _sort_rank(jnp.asarray(x), softness))
    span = 1e-12 * max(np.abs(x).max(), 1e-300)
    assert np.all(up >= x.min() - span) and np.all(up <= x.max() + span)
    assert np.all(np.diff(up) >= -span) and np.all(np.diff(down) <= span)
    np.testing.assert_array_equal(down, up[::-1])
    assert np.all(ranks >= 1 - 1e-12) and np.all(ranks <= len(x) + 1e-12)
