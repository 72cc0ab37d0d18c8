"""softjax.random.multinomial: hard pass-through, soft contracts, zero probabilities,
count rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softjax as sj

multi = sj.random.multinomial
KEYS = [jax.random.key(0), jax.random.key(3)]
SOFT_MODES = ["smooth", "c0", "c1", "c2"]
P = jnp.array([[0.2, 0.0, 0.5, 0.3], [0.25, 0.25, 0.25, 0.25]])  # a zero-probability outcome


def test_hard_is_jax_multinomial():
    # ``shape`` is the full output shape, as JAX's code behaves. One jit for both calls:
    # JAX's multinomial re-compiles its scan on every eager call (~3 s each).
    kw = dict(shape=(3, 2, 4), dtype=jnp.float32, unroll=2)
    ours, ref = jax.jit(lambda k: (multi(k, 5, P, mode="hard", **kw), jax.random.multinomial(k, 5, P, **kw)))(
        KEYS[0]
    )
    np.testing.assert_array_equal(ours, ref)


def test_underscore_hard_counts():
    for key in KEYS:
        under = multi(key, 6, P, shape=(3, 2, 4), mode="_hard")
        assert under.shape == (3, 2, 4) and under.dtype == jnp.float64
        np.testing.assert_array_equal(under, jnp.round(under))
        np.testing.assert_array_equal(under.sum(-1), 6.0)
        assert float(under[:, 0, 1].max()) == 0.0  # an impossible outcome is never drawn


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_soft_counts_sum_to_n_and_converge_to_underscore_hard(mode):
    key = KEYS[1]
    soft = multi(key, 3, P, softness=0.3, mode=mode)
    assert soft.shape == P.shape and bool(jnp.all(soft >= 0))
    np.testing.assert_allclose(soft.sum(-1), 3.0, rtol=1e-10)
    near = multi(key, 3, P, softness=1e-3, mode=mode)
    np.testing.assert_allclose(near, multi(key, 3, P, mode="_hard"), atol=1e-2)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_gradient_finite_at_zero_probability(mode):
    # log(p) at p = 0 would give NaN gradients; a safe log gives 0 there.
    p32 = P.astype(jnp.float32)
    w = jnp.arange(4.0, dtype=jnp.float32)

    def f(p):
        return jnp.sum(multi(KEYS[0], 2, p, softness=0.3, mode=mode) * w)

    g = jax.grad(f)(p32)
    assert g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g)))
    assert float(g[0, 1]) == 0.0
    assert float(jnp.abs(g).sum()) > 0


def test_dtype_count_and_shape_rules():
    key, p = KEYS[0], P[0]
    assert multi(key, 2, p.astype(jnp.float32), mode="_hard").dtype == jnp.float32
    assert multi(key, 2, p, dtype=jnp.float16, mode="_hard").dtype == jnp.float16
    np.testing.assert_array_equal(multi(key, 0, P, mode="_hard"), jnp.zeros((2, 4)))
    np.testing.assert_array_equal(  # unnormalised weights
        multi(key, 2, 10 * p, mode="_hard"), multi(key, 2, p, mode="_hard")
    )
    with pytest.raises(ValueError, match="outcome axis"):
        multi(key, 2, 0.5)
    with pytest.raises(NotImplementedError, match="scalar static counts"):
        multi(key, jnp.array([1, 2]), P)
    with pytest.raises(NotImplementedError, match="concrete count"):
        jax.jit(lambda n: multi(key, n, P))(2)
    with pytest.raises(ValueError, match="nonnegative integer"):
        multi(key, 1.5, P)
    with pytest.raises(ValueError, match="float dtype"):
        multi(key, 2, P, dtype=jnp.int32)
    with pytest.raises(ValueError, match="broadcast-compatible"):
        multi(key, 2, P, shape=(3, 4))
    with pytest.raises(ValueError, match="noise='gumbel'"):
        multi(key, 2, P, mode="hard", noise="uniform")


def test_jit_vmap_over_keys_and_p():
    keys = jnp.stack([jax.random.key_data(k) for k in KEYS])

    def f(k, p):
        return multi(k, 3, p, softness=0.3, mode="c1")

    eager = jnp.stack([f(k, p) for k, p in zip(keys, P, strict=True)])
    np.testing.assert_allclose(jax.jit(jax.vmap(f))(keys, P), eager, rtol=1e-12)
