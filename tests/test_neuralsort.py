"""NeuralSort's pairwise term ``A`` (``kernels/neuralsort.py``): banded O(n log n) sum against pairwise."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softjax as sj
from softjax._src.kernels.neuralsort import BANDED_MODES, pairwise_abs_sum, sorted_abs_sum
from softjax._src.methods import neuralsort
from softjax._src.steps import sigmoidal


def _softabs(softness, mode):
    return lambda d: d * (2 * sigmoidal(d, softness=softness, mode=mode) - 1)


def _row(kind, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    if kind == "ties":
        x = np.round(x * 3) / 3  # ties, and distances exactly 5 s at s = 0.2, 1
    elif kind == "grid":
        x = np.floor(x * 4)  # integers: band ends met exactly
    elif kind == "constant":
        x = np.full(n, 0.7)
    elif kind == "mixed":
        x = x * 10.0 ** rng.integers(-3, 7, n)
    return jnp.sort(jnp.asarray(x, dtype))


def _compare(v, softness, mode):
    w = jnp.cos(jnp.arange(v.shape[-1], dtype=v.dtype))
    ref_fn = lambda v: pairwise_abs_sum(v, _softabs(softness, mode))
    got_fn = lambda v: sorted_abs_sum(v, softness, mode)
    values = [jax.jit(f)(v) for f in (got_fn, ref_fn)]
    grads = [jax.jit(jax.grad(lambda v, f=f: jnp.sum(w * f(v))))(v) for f in (got_fn, ref_fn)]
    return values, grads


KINDS = ("normal", "ties", "grid", "mixed")
SOFTNESS = (1e-3, 0.2, 1.0, 30.0)
# Each mode meets each kind of row once, softness rotating, in the full tier;
# the whole product in the exhaustive one.
_FLOAT64_CASES = [
    pytest.param(mode, kind, s, marks=[] if (i + j) % len(SOFTNESS) == k else [pytest.mark.slow])
    for i, mode in enumerate(BANDED_MODES)
    for j, kind in enumerate(KINDS)
    for k, s in enumerate(SOFTNESS)
]


@pytest.mark.parametrize(("mode", "kind", "softness"), _FLOAT64_CASES)
def test_banded_sum_equals_pairwise_float64(mode, kind, softness):
    (got, ref), (got_g, ref_g) = _compare(_row(kind, 300, jnp.float64), softness, mode)
    scale = float(jnp.max(jnp.abs(ref)))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-13 * scale)
    # The hard part's derivative is sign(d) and the band's cancels it near d = 0:
    # exact up to rounding of the n-term sums.
    np.testing.assert_allclose(got_g, ref_g, rtol=1e-10, atol=1e-12 * 300 * float(jnp.max(jnp.abs(ref_g))))


@pytest.mark.parametrize("mode", BANDED_MODES)
def test_banded_sum_float32_within_rounding(mode):
    v = _row("normal", 2048, jnp.float32)
    (got, ref), (got_g, ref_g) = _compare(v, 0.1, mode)
    exact = pairwise_abs_sum(v.astype(jnp.float64), _softabs(0.1, mode))
    scale = float(jnp.max(jnp.abs(ref)))
    # Both sums add n terms of size up to max|A| / n: rounding of a few eps of max|A|.
    assert float(jnp.max(jnp.abs(got - ref))) < 8 * np.finfo(np.float32).eps * scale
    assert float(jnp.max(jnp.abs(got - exact))) <= 2 * float(jnp.max(jnp.abs(ref - exact))) + 1e-6 * scale
    g_scale = float(jnp.max(jnp.abs(ref_g)))
    assert float(jnp.max(jnp.abs(got_g - ref_g))) < 1e-4 * g_scale


@pytest.mark.parametrize("mode", BANDED_MODES)
def test_ties_get_bitwise_equal_a(mode):
    v = _row("ties", 1000, jnp.float32)
    a = np.asarray(jax.jit(sorted_abs_sum, static_argnums=2)(v, 0.1, mode))
    vn = np.asarray(v)
    tied = vn[1:] == vn[:-1]
    assert tied.sum() > 100
    assert np.array_equal(a[1:][tied], a[:-1][tied])


@pytest.mark.parametrize("mode", BANDED_MODES)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_short_rows_and_extreme_softness_are_finite(mode, dtype):
    softness = jnp.asarray([1e-6, 1e-3, 1.0, 1e3], jnp.float32)

    def one(v, s):
        return jax.value_and_grad(lambda v: jnp.sum(jnp.sin(sorted_abs_sum(v, s, mode))))(v)

    for n in (1, 2, 5, 33):
        rows = jnp.stack(
            [
                _row(kind, n, jnp.float32) * scale
                for kind in ("normal", "constant", "mixed")
                for scale in (1e-30, 1.0, 1e6)
            ]
        )
        rows = jnp.repeat(rows, len(softness), axis=0).astype(dtype)
        a, g = jax.jit(jax.vmap(one))(rows, jnp.tile(softness, len(rows) // len(softness)))
        assert np.all(np.isfinite(np.asarray(a, np.float32))), n
        assert np.all(np.isfinite(np.asarray(g, np.float32))), n


@pytest.mark.parametrize("mode", BANDED_MODES)
def test_constant_row(mode):
    v = _row("constant", 700, jnp.float64)
    (got, ref), (got_g, ref_g) = _compare(v, 0.1, mode)
    np.testing.assert_array_equal(got, ref)  # all zero
    np.testing.assert_allclose(got_g, ref_g, atol=1e-9)


def test_nan_propagates():
    v = jnp.sort(jnp.asarray([0.0, 1.0, jnp.nan, 2.0]))
    assert np.any(np.isnan(np.asarray(sorted_abs_sum(v, 0.1, "c1"))))


_FULL_TIER_OPS = {("c0", "sort"), ("c1", "rank"), ("c2", "quantile")}


@pytest.mark.parametrize(
    ("mode", "op"),
    [
        pytest.param(
            mode,
            op,
            marks=[]
            if (mode, op) in {("c0", "sort"), ("c1", "rank"), ("c2", "quantile")}
            else [pytest.mark.slow],
        )
        for mode in BANDED_MODES
        for op in ("sort", "rank", "quantile")
    ],
)
def test_public_operators_equal_pairwise_path(mode, op, monkeypatch):
    """Every neuralsort operator reads A once; at n >= BANDED_MIN_N it is the banded sum."""
    n = neuralsort.BANDED_MIN_N
    x = jnp.asarray(np.random.default_rng(5).standard_normal((2, n)), jnp.float64)
    call = {
        "sort": lambda x: sj.sort(x, method="neuralsort", mode=mode),
        "rank": lambda x: sj.rank(x, method="neuralsort", mode=mode),
        "quantile": lambda x: sj.quantile(x, 0.3, axis=-1, method="neuralsort", mode=mode),
    }[op]

    def loss(x):
        out = call(x)
        return jnp.sum(jnp.sin(jnp.arange(out.size, dtype=out.dtype)).reshape(out.shape) * out)

    def run():
        return jax.jit(loss)(x), jax.jit(jax.grad(loss))(x)

    got = run()
    monkeypatch.setattr(neuralsort, "BANDED_MIN_N", 10**9)
    ref = run()
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-10)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-8, atol=1e-10 * float(jnp.max(jnp.abs(ref[1]))))


def test_jvp_and_hessian_vector_product():
    v = _row("normal", 64, jnp.float64)
    t = jnp.cos(jnp.arange(64.0))
    f = lambda v: jnp.sum(jnp.sin(sorted_abs_sum(v, 0.3, "c2")))
    g = lambda v: jnp.sum(jnp.sin(pairwise_abs_sum(v, _softabs(0.3, "c2"))))
    np.testing.assert_allclose(jax.jvp(f, (v,), (t,))[1], jax.jvp(g, (v,), (t,))[1], rtol=1e-10)
    hvp = lambda h: jax.jvp(jax.grad(h), (v,), (t,))[1]
    np.testing.assert_allclose(hvp(f), hvp(g), rtol=1e-8, atol=1e-10)
