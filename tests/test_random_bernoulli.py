"""softjax.random.bernoulli / rademacher / binomial: parity, soft contracts, JAX's comparison
order and draw dtype, documented soft bias."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj

bern = sj.random.bernoulli
KEYS = [jax.random.key(0), jax.random.key(5), jax.random.PRNGKey(11)]
SOFT_MODES = ["smooth", "c0", "c1", "c2"]
P = jnp.array([0.05, 0.3, 0.5, 0.7, 0.95, 0.0])


# --- bernoulli -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("rng_mode", ["low", "high"])
def test_bernoulli_hard_and_underscore_hard_match_jax(rng_mode, dtype):
    p = P.astype(dtype)
    for shape in [None, (2, 6)]:
        for key in KEYS:
            ref = jax.random.bernoulli(key, p, shape=shape, mode=rng_mode).astype(dtype)
            hard = bern(key, p, shape, rng_mode, mode="hard")
            under = bern(key, p, shape, rng_mode, mode="_hard")
            np.testing.assert_array_equal(hard, ref)
            np.testing.assert_array_equal(under, ref)
            assert hard.dtype == under.dtype == dtype


def test_bernoulli_high_uses_jax_comparison_order():
    # With p one ulp above u1, "u1 + δ < p" and JAX's "δ < p − u1" disagree.
    key = KEYS[0]
    u1, u2 = jax.random.uniform(key, (2, 2000), jnp.float32)
    p = jnp.nextafter(u1, jnp.float32(2))
    delta = u2 * 2.0**-23
    naive = ((u1 + delta) < p).astype(jnp.float32)
    ref = jax.random.bernoulli(key, p, mode="high").astype(jnp.float32)
    assert int(jnp.sum(naive != ref)) > 50  # the adversarial case is really exercised
    np.testing.assert_array_equal(bern(key, p, rng_mode="high", mode="_hard"), ref)
    np.testing.assert_array_equal(sj.random.bernoulli_st(key, p, rng_mode="high"), ref)


def test_bernoulli_soft_formulas():
    key, s = KEYS[1], 0.2
    p = P.astype(jnp.float32)
    u = jax.random.uniform(key, (6,), jnp.float32)
    smooth = bern(key, p, softness=s)
    assert smooth.dtype == jnp.float32 and smooth.shape == (6,)
    np.testing.assert_allclose(smooth, jax.nn.sigmoid((p - u - 1e-10) / s), rtol=1e-5)
    t = jnp.clip((u - p + 1e-10) / (5 * s), -1, 1)
    for mode, step in [
        ("c0", 0.5 * t + 0.5),
        ("c1", -0.25 * t**3 + 0.75 * t + 0.5),
        ("c2", 3 / 16 * t**5 - 5 / 8 * t**3 + 15 / 16 * t + 0.5),
    ]:
        np.testing.assert_allclose(bern(key, p, softness=s, mode=mode), 1 - step, atol=1e-6)


@pytest.mark.parametrize("rng_mode", ["low", "high"])
def test_bernoulli_soft_range_shape_and_near_hard_limit(rng_mode):
    key = KEYS[2]
    under = bern(key, P, (3, 6), rng_mode, mode="_hard")
    for mode in SOFT_MODES:
        soft = bern(key, P, (3, 6), rng_mode, softness=0.3, mode=mode)
        assert soft.shape == (3, 6) and soft.dtype == P.dtype
        assert bool(jnp.all((soft >= 0) & (soft <= 1)))
        near = bern(key, P, (3, 6), rng_mode, softness=1e-3, mode=mode)
        np.testing.assert_allclose(near, under, atol=1e-2)


def test_bernoulli_gradients():
    p32 = jnp.array([0.0, 0.3, 1.0, 0.5], jnp.float32)
    for mode in SOFT_MODES:
        g = jax.grad(lambda p, mode=mode: jnp.sum(bern(KEYS[0], p, (2, 4), softness=0.3, mode=mode)))(p32)
        assert g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g)))
    assert float(jax.grad(lambda p: bern(KEYS[0], p, softness=0.3).sum())(p32).sum()) > 0

    x, y = jnp.arange(4.0), -jnp.ones(4)

    @jax.jit
    def pipeline(p):  # bernoulli -> soft where(b, x, y)
        b = bern(KEYS[0], p, (2, 4), softness=0.3)
        return jnp.sum((b * x + (1 - b) * y) ** 2)

    check_grads(pipeline, (jnp.array([0.1, 0.3, 0.6, 0.5]),), order=1, modes=["fwd", "rev"])


def test_bernoulli_soft_bias_is_as_documented():
    # Documented bias of the uniform-threshold relaxation: E[soft] = s [softplus(p/s) - softplus((p-1)/s)].
    s, n = 0.1, 20000
    for p in [0.02, 0.0, 0.5]:
        samples = bern(KEYS[0], jnp.float64(p), (n,), softness=s)
        expected = s * (jax.nn.softplus(p / s) - jax.nn.softplus((p - 1) / s))
        se = float(samples.std()) / np.sqrt(n)
        assert abs(float(samples.mean()) - float(expected)) < 4 * se
        assert bool(jnp.all(samples > 0))  # even p = 0 gives positive soft values
    assert abs(0.1 * (jax.nn.softplus(0.2) - jax.nn.softplus(-9.8)) - 0.0798) < 1e-3


@pytest.mark.parametrize("mode", ["hard", "_hard", "smooth"])
def test_bernoulli_errors(mode):
    k = KEYS[0]
    with pytest.raises(ValueError, match="noise='uniform'"):
        bern(k, 0.5, mode=mode, noise="gumbel")
    with pytest.raises(ValueError, match="expected 'high' or 'low'"):
        bern(k, 0.5, rng_mode="medium", mode=mode)
    with pytest.raises(ValueError, match="broadcast-compatible"):
        bern(k, jnp.ones(3) * 0.5, (2,), mode=mode)
    with pytest.raises(TypeError, match="integer type"):
        bern(k, 0.5, (2.0,), mode=mode)
    with pytest.raises(TypeError, match="floating dtype"):
        bern(k, jnp.array([0, 1]), mode=mode)
    with pytest.raises(ValueError, match="Invalid mode"):
        bern(k, 0.5, mode="soft")


def test_bernoulli_jit_vmap_over_keys_and_p():
    keys = jnp.stack([jax.random.key_data(k) for k in KEYS[:2]])
    ps = jnp.stack([P, P[::-1]])
    f = jax.jit(jax.vmap(lambda k, p: bern(k, p, softness=0.2, mode="c1")))
    eager = jnp.stack([bern(k, p, softness=0.2, mode="c1") for k, p in zip(keys, ps, strict=True)])
    np.testing.assert_allclose(f(keys, ps), eager, rtol=1e-12)


# --- rademacher ----------------------------------------------------------------------------


def test_rademacher_underscore_hard_matches_jax_for_every_dtype():
    # JAX draws the uniform in the default float whatever ``dtype`` is.
    for key in KEYS:
        ref = jax.random.rademacher(key, (64,))
        np.testing.assert_array_equal(sj.random.rademacher(key, (64,), mode="hard"), ref)
        assert sj.random.rademacher(key, (64,), mode="hard").dtype == ref.dtype
        for dtype in [None, jnp.float32, jnp.float16, jnp.bfloat16, jnp.int32]:
            under = sj.random.rademacher(key, (64,), dtype, mode="_hard")
            np.testing.assert_array_equal(under, ref.astype(under.dtype))
            expected = jnp.float64 if dtype in (None, jnp.int32) else dtype
            assert under.dtype == expected
        st = sj.random.rademacher_st(key, (64,), jnp.float16)
        np.testing.assert_array_equal(st, ref.astype(jnp.float16))


def test_rademacher_soft():
    under = sj.random.rademacher(KEYS[0], (4, 5), mode="_hard")
    for mode in SOFT_MODES:
        soft = sj.random.rademacher(KEYS[0], (4, 5), softness=0.3, mode=mode)
        assert soft.shape == (4, 5) and bool(jnp.all(jnp.abs(soft) <= 1))
        near = sj.random.rademacher(KEYS[0], (4, 5), softness=1e-3, mode=mode)
        np.testing.assert_allclose(near, under, atol=1e-2)
    assert sj.random.rademacher(KEYS[0], 3, jnp.float32).shape == (3,)
    for mode in ["hard", "smooth"]:
        with pytest.raises(TypeError, match="tuple of integers"):
            sj.random.rademacher(KEYS[0], None, mode=mode)
        with pytest.raises(ValueError, match="noise='uniform'"):
            sj.random.rademacher(KEYS[0], (2,), mode=mode, noise="gumbel")


# --- binomial ------------------------------------------------------------------------------


def test_binomial_hard_and_soft_contracts():
    key, p = KEYS[1], jnp.array([0.0, 0.2, 0.5, 0.9])
    # one jit for both: JAX's binomial is slow to compile
    both = jax.jit(lambda k: (sj.random.binomial(k, 4, p, mode="hard"), jax.random.binomial(k, 4, p)))
    np.testing.assert_array_equal(*both(key))
    under = sj.random.binomial(key, 4, p, (3, 4), mode="_hard")
    assert under.shape == (3, 4) and under.dtype == jnp.float64
    np.testing.assert_array_equal(under, jnp.round(under))
    assert bool(jnp.all((under >= 0) & (under <= 4))) and float(under[:, 0].max()) == 0.0
    for mode in SOFT_MODES:
        soft = sj.random.binomial(key, 4, p, (3, 4), softness=0.3, mode=mode)
        assert soft.shape == (3, 4) and bool(jnp.all((soft >= 0) & (soft <= 4)))
        near = sj.random.binomial(key, 4, p, (3, 4), softness=1e-3, mode=mode)
        np.testing.assert_allclose(near, under, atol=1e-2)
    p32 = p.astype(jnp.float32)
    assert sj.random.binomial(key, 4, p32).dtype == jnp.float32
    assert sj.random.binomial(key, 4, 0.5, dtype=jnp.float16).dtype == jnp.float16
    np.testing.assert_array_equal(sj.random.binomial(key, 0, p), jnp.zeros(4))
    np.testing.assert_array_equal(  # a concrete 0-d array count is accepted
        sj.random.binomial(key, jnp.array(4), p, (3, 4), mode="_hard"), under
    )
    g = jax.grad(lambda q: sj.random.binomial(key, 3, q, (2, 4), mode="c0").sum())(p32)
    assert g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g)))


def test_binomial_errors():
    k, p = KEYS[0], jnp.array([0.5, 0.5])
    with pytest.raises(NotImplementedError, match="scalar static counts"):
        sj.random.binomial(k, jnp.array([2, 3]), p)
    with pytest.raises(NotImplementedError, match="concrete count"):
        jax.jit(lambda n: sj.random.binomial(k, n, p))(3)
    for n in [2.5, -1]:
        with pytest.raises(ValueError, match="nonnegative integer"):
            sj.random.binomial(k, n, p, mode="_hard")
    with pytest.raises(ValueError, match="float dtype"):
        sj.random.binomial(k, 2, p, dtype=jnp.int32)
    with pytest.raises(ValueError, match="broadcast-compatible"):
        sj.random.binomial(k, 2, p, (3,))
    with pytest.raises(ValueError, match="noise='uniform'"):
        sj.random.binomial(k, 2, p, mode="hard", noise="gumbel")
