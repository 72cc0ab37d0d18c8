"""Numerical guarantees: finite values and gradients from finite inputs.

Regression tests for the places that used to return NaN/inf, then the hostile
sweep of ``finiteness_cases``: a small seeded sample in the default tier, every
operator x method x mode x dtype x row length in the full tier (--run-slow).
"""

import os
import subprocess
import sys
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xla_flags

import softjax as sj
from finiteness_cases import DTYPES, all_cases, applicable, run

F32_MAX = float(jnp.finfo(jnp.float32).max)


def _finite_value_and_grad(f, x):
    _value, grad = jax.value_and_grad(lambda v: jnp.sum(f(v)).astype(jnp.float32))(x)
    return bool(jnp.all(jnp.isfinite(f(x)))), bool(jnp.all(jnp.isfinite(grad)))


def test_relu_c2_far_outside_the_band():
    x = jnp.array([1e10, -1e10], jnp.float32)
    assert _finite_value_and_grad(lambda v: sj.relu(v, mode="c2"), x) == (True, True)
    np.testing.assert_array_equal(jax.grad(lambda v: jnp.sum(sj.relu(v, mode="c2")))(x), [1.0, 0.0])


@pytest.mark.parametrize("mode, d", [("c2", 1e6), ("c1", 1e20), ("c0", 1e37)])
def test_comparison_with_tiny_softness(mode, d):
    x = jnp.array([d, -d, 0.5 * d], jnp.float32)
    f = lambda v: sj.greater(v, 0.0, softness=1e-6, mode=mode)
    assert _finite_value_and_grad(f, x) == (True, True)
    np.testing.assert_array_equal(f(x), [1.0, 0.0, 1.0])


@pytest.mark.parametrize("mode", ["smooth", "c0", "c1", "c2"])
def test_every_mode_near_float32_max(mode):
    x = jnp.array([3e38, -3e38, 0.9 * F32_MAX, 1.0], jnp.float32)
    ops = {
        "relu": lambda v: sj.relu(v, mode=mode),
        "relu_gated": lambda v: sj.relu(v, mode=mode, gated=True),
        "abs": lambda v: sj.abs(v, mode=mode),
        "sign": lambda v: sj.sign(v, mode=mode),
        "round": lambda v: sj.round(v, mode=mode),
        "clip": lambda v: sj.clip(v, -3e38, 3e38, mode=mode),
        "greater": lambda v: sj.greater(v, -v, mode=mode),
        "isclose": lambda v: sj.isclose(v, -v, mode=mode),
    }
    for name, f in ops.items():
        assert _finite_value_and_grad(f, x) == (True, True), name
    np.testing.assert_allclose(sj.relu(x, mode=mode), [3e38, 0.0, 0.9 * F32_MAX, 1.0], rtol=1e-6, atol=0.2)
    np.testing.assert_array_equal(sj.round(x[:3], mode=mode), x[:3])
    np.testing.assert_array_equal(sj.clip(x, -3e38, 3e38, mode="c0"), jnp.clip(x, -3e38, 3e38))


@pytest.mark.parametrize("mode", ["smooth", "c0", "c1", "c2"])
def test_clip_with_crossed_bounds_near_float32_max(mode):
    # a > b: jnp.clip returns b; the soft clip must too, without forming x - b
    # (1.8 x finfo.max here).
    x = jnp.array([0.3 * F32_MAX, -0.9 * F32_MAX], jnp.float32)
    f = lambda v: sj.clip(v, -v[::-1], v[::-1], mode=mode)
    assert _finite_value_and_grad(f, x) == (True, True)
    np.testing.assert_allclose(f(x), jnp.clip(x, -x[::-1], x[::-1]), rtol=1e-6)
    crossed = sj.clip(jnp.array([-2.0, 0.0, 0.5, 2.0]), 1.0, -1.0, mode=mode)
    np.testing.assert_allclose(crossed, -1.0, rtol=1e-6)


_BAND_EDGE = """
import jax, jax.numpy as jnp, softjax as sj
x = jnp.tile(jnp.array([0.0, 0.5, -0.5, 1e-3, -1e-3], jnp.float32), (5, 1))
s = jnp.array([1e-6, 1e-2, 0.1, 1.0, 1e3], jnp.float32)
for mode in ("c0", "c1", "c2"):
    out = jax.jit(jax.vmap(lambda xi, si: sj.sigmoidal(xi, si, mode)))(x, s)
    assert bool(jnp.all((out >= 0) & (out <= 1))), (mode, out)
"""


def _run_with_users_flags(script: str) -> None:
    """Run ``script`` in a subprocess compiled as users compile (not with the suite's flags)."""
    flags = xla_flags.without_suite_flags(os.environ.get("XLA_FLAGS", ""))
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_step_stays_in_unit_interval_at_the_band_edge():
    # x = -5 s exactly, jitted with a batched softness: with the compile flags
    # users have, the band mask and the polynomial's argument once came from
    # two roundings of x / s / 5 and gave -7e-9.
    _run_with_users_flags(_BAND_EDGE)


_OT_TWICE = """
import jax, jax.numpy as jnp, numpy as np, softjax as sj
x = jnp.array([1.25729e-07, -1.32248e-07, 6.4075e-07, 1.04774e-07, -5.36442e-07], jnp.bfloat16)
for mode in ("c0", "c1", "c2"):
    f = lambda v, s: sj.argsort(v, method="ot", mode=mode, softness=s)
    p, _ = jax.jit(lambda v, s: (f(v, s), f(v, s)))(x, jnp.float32(1e-6))
    sums = np.asarray(p, np.float32).sum(-1)
    assert np.all(np.abs(sums - 1) <= 2**-7), (mode, sums)
"""


def test_ot_rows_stay_on_the_simplex_when_the_cost_is_fused_twice():
    # Two uses in one program, bfloat16 rows, softness 1e-6: XLA recomputed
    # the cost in the column sums' fusion and in the normalised columns',
    # with the anchors' product contracted into a fused multiply-add in only
    # one of them; a row of the SoftIndex summed to 0.96.
    _run_with_users_flags(_OT_TWICE)


def test_isclose_near_overflow():
    x = jnp.array([3e38, -3e38], jnp.float32)
    for mode in ("smooth", "c0", "c1", "c2"):
        f = lambda v, m=mode: sj.isclose(v, v * 0.999, mode=m)
        assert _finite_value_and_grad(f, x) == (True, True)


def test_where_ignores_an_infinite_unselected_branch():
    b = jnp.array([0.0, 2.0])
    c = jnp.array([0.0, 1.0])
    out = sj.where(c, jnp.log(b), 0.0)
    np.testing.assert_array_equal(out, jnp.where(c == 1, jnp.log(b), 0.0))
    # Gradients with respect to the condition and the selected branch are finite.
    gc = jax.grad(lambda c: jnp.sum(sj.where(c, jnp.log(b), 0.0)))(c)
    assert np.all(np.isfinite(gc))
    np.testing.assert_allclose(gc, [0.0, np.log(2.0)])
    gy = jax.grad(lambda y: jnp.sum(sj.where(c, jnp.inf, y)), argnums=0)(jnp.array([1.0, 1.0]))
    np.testing.assert_array_equal(gy, [1.0, 0.0])
    # NaN in the unselected branch is ignored as by jnp.where; in the blend it propagates.
    np.testing.assert_array_equal(sj.where(jnp.array([1.0, 0.0]), 1.0, jnp.nan), [1.0, np.nan])
    assert np.isnan(sj.where(0.5, 1.0, jnp.nan))
    # Finite branches keep the blend's derivative with respect to c.
    assert float(jax.grad(lambda c: sj.where(c, 2.0, 5.0))(0.0)) == -3.0


def test_standardize_survives_extreme_rows():
    rows = jnp.array(
        [[3e38, -3e38, 1e38, 0.0], [1e20, -2e20, 3e20, 0.0], [1e-30, 2e-30, 0.0, -1e-30]], jnp.float32
    )
    for method in ("softsort", "neuralsort", "sorting_network", "fast_soft_sort"):
        f = lambda v, m=method: sj.sort(v, axis=-1, method=m)
        _value, grad = jax.value_and_grad(lambda v, f=f: jnp.sum(f(v) * jnp.arange(4.0)))(rows)
        assert np.all(np.isfinite(f(rows))) and np.all(np.isfinite(grad)), method
        assert np.all(np.abs(f(rows)[0]) <= 3.0001e38)


# ----------------------------------------------------------------------------- sweep
_CASES = all_cases()


def _sample(cases, k):
    """A deterministic sample: every family, spread over names, modes and methods.

    Each family draws with its own seed, and each case's dtype and length
    follow from its label, so adding cases to one family leaves the others'
    draws unchanged.
    """
    by_family = {}
    for case in cases:
        by_family.setdefault(case.family, []).append(case)
    out = []
    for family, members in sorted(by_family.items()):
        rng = np.random.default_rng(zlib.crc32(family.encode()))
        take = min(len(members), max(2, k * len(members) // len(cases)))
        out += [members[i] for i in sorted(rng.choice(len(members), take, replace=False))]
    return out


def _dtype_and_length(case):
    h = zlib.crc32(case.label.encode())
    n = (1, 2, 5, 33)[h % 4]
    if case.method == "ot":
        # ot's iterative solvers run to their iteration caps on the extreme
        # unstandardized rows; at n = 33 that is minutes (the full sweep runs it).
        n = min(n, 5)
    return DTYPES[(h // 4) % 3], n


_SAMPLE = [(case, *_dtype_and_length(case)) for case in _sample(_CASES, 40)]


def _check(case, dtype, n):
    out = run(case, dtype, n)
    assert out.cases_run > 0 or case.hard is not None
    assert not out.failures, f"{case.label} {dtype} n={n}: {out.failures[:5]}"


@pytest.mark.parametrize("case, dtype, n", _SAMPLE, ids=[f"{c.label}-{d}-{n}" for c, d, n in _SAMPLE])
def test_hostile_sample(case, dtype, n):
    _check(case, dtype, n)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", _CASES, ids=[c.label for c in _CASES])
def test_hostile_sweep(case, dtype):
    for n in (1, 2, 5, 33, 1024):
        if applicable(case, dtype, n):
            _check(case, dtype, n)


# --------------------------------------------------------- derivative in softness
@pytest.mark.parametrize("method", ["softsort", "neuralsort", "sorting_network", "fast_soft_sort", "ot"])
def test_softness_derivative_is_exact_after_rescaling(method):
    # Rows are scaled by powers of two internally (max |x| = 0.5 and 50 here:
    # scales 1/2 and 32); the derivative with respect to softness must not
    # pick up that scale.
    base = jnp.array([0.3, -0.2, 0.5, 0.1])
    index_method = "softsort" if method == "fast_soft_sort" else method
    rtol = 5e-3 if method == "ot" else 1e-5  # ot: finite differences of a solver at tolerance 1e-5
    for scale, standardize in ((1.0, True), (100.0, True), (100.0, False)):
        x = base * scale
        s0 = 0.3 if standardize else 0.3 * scale
        ops = {
            "sort": lambda s, x=x, st=standardize: sj.sort(x, softness=s, method=method, standardize=st),
            "rank": lambda s, x=x, st=standardize: sj.rank(x, softness=s, method=method, standardize=st),
            "argmax": lambda s, x=x, st=standardize: sj.argmax(
                x, softness=s, method=index_method, standardize=st
            ),
        }
        for name, op in ops.items():
            f = lambda s, op=op: op(s) @ jnp.arange(1.0, 5.0)
            h = 1e-6 * s0
            fd = (f(s0 + h) - f(s0 - h)) / (2 * h)
            np.testing.assert_allclose(
                jax.grad(f)(s0),
                fd,
                rtol=rtol,
                atol=1e-9,
                err_msg=f"{name} scale={scale} standardize={standardize}",
            )


def test_bfloat16_values_squashed_to_one_map_back_finite():
    # A bfloat16 row spanning 1e-30 .. 0.9 x max: its largest entry squashes
    # to 1 in bfloat16, and mapping it back with float32's clip (a softness
    # given as a float32 array promotes the result) overflowed to inf; with
    # bfloat16's own 10 eps the values were capped at 2.5 standard deviations.
    top = 0.9 * float(jnp.finfo(jnp.bfloat16).max)
    signs = np.where(np.arange(33) % 3 == 0, -1.0, 1.0)
    x = jnp.asarray(signs * np.geomspace(1e-30, top, 33), jnp.bfloat16)
    for s in (jnp.float32(1e-6), 1e-6):
        kw = dict(softness=s, method="fast_soft_sort")
        hi, lo = sj.max(x, **kw), sj.min(x, **kw)
        assert np.isfinite(float(hi)) and np.isfinite(float(lo))
        # bfloat16 squashes to 8 bits: within a few hundredths of the row's scale.
        np.testing.assert_allclose(float(hi), float(jnp.max(x)), atol=0.15 * top)
        np.testing.assert_allclose(float(lo), float(jnp.min(x)), atol=0.01 * top)
