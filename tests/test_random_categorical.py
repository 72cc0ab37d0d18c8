"""softjax.random.categorical: JAX parity, soft contracts, log-probs, non-finite logits,
empty samples and broadcasting."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj

cat = sj.random.categorical
KEYS = [jax.random.key(0), jax.random.key(7), jax.random.PRNGKey(42)]
SOFT_MODES = ["smooth", "c0", "c1", "c2"]

# (logits shape, axis, shape, replace, dtype, rng_modes). Threefry draws are expensive to
# compile, so the soft tests reuse the (3, 6) / (2, 3) float64 draws of cases 3 and 4 and
# "high" (None = JAX's default, "low") runs on one case per structure.
CASES = [
    ((5,), -1, None, True, jnp.float32, (None, "high")),
    ((4, 5), 0, (3, 5), True, jnp.float32, ("low",)),
    ((4, 5), 1, (2, 3, 4), True, jnp.float64, ("low",)),
    ((3, 6), -1, (2, 3), True, jnp.float64, ("low", "high")),
    ((3, 6), -1, (2, 3), False, jnp.float64, (None, "high")),
    ((6, 3), 0, (2, 2, 3), False, jnp.bfloat16, ("low",)),
]


def _logits(shape, dtype=jnp.float64, seed=1):
    return jax.random.normal(jax.random.key(seed), shape, dtype)


@pytest.mark.parametrize("case", CASES)
def test_hard_matches_jax_and_underscore_hard_is_bit_identical(case):
    lshape, axis, shape, replace, dtype, rng_modes = case
    logits = _logits(lshape, dtype)
    n = lshape[axis]
    for rng_mode in rng_modes:
        for key in KEYS:
            ref = jax.random.categorical(key, logits, axis=axis, shape=shape, replace=replace, mode=rng_mode)
            hard = cat(key, logits, axis, shape, replace, rng_mode, mode="hard")
            under = cat(key, logits, axis, shape, replace, rng_mode, mode="_hard")
            np.testing.assert_array_equal(hard, jax.nn.one_hot(ref, n))
            np.testing.assert_array_equal(under, jax.nn.one_hot(ref, n))
            assert hard.dtype == jnp.float64 and under.dtype == dtype
            assert under.shape == (*ref.shape, n)


# (method, mode, replace): every mode for the two cheap methods; the compile-heavy
# sorting networks and OT in two modes, each with and without replacement.
SOFT_GRID = [(m, mode, i % 2 == 0) for m in ["softsort", "neuralsort"]
             for i, mode in enumerate(SOFT_MODES)]  # fmt: skip
SOFT_GRID += [("sorting_network", "smooth", False), ("sorting_network", "c1", True),
              ("ot", "smooth", True), ("ot", "c0", False)]  # fmt: skip


@pytest.mark.parametrize("method, mode, replace", SOFT_GRID)
def test_soft_samples_on_simplex_and_near_hard_limit(method, mode, replace):
    if method == "ot":  # written concurrently by another engineer
        pytest.importorskip("softjax._src.methods.ot")
    logits = _logits((3, 6))
    key, shape = KEYS[1], (2, 3)
    ref = jax.random.categorical(key, logits, shape=shape, replace=replace)
    out = cat(key, logits, -1, shape, replace, softness=0.3, mode=mode, method=method)
    assert out.shape == (*ref.shape, 6)
    assert bool(jnp.all(out >= 0))
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-3 if method == "ot" else 1e-6)
    # softness -> 0 converges to the "_hard" sample of the same key
    under = cat(key, logits, -1, shape, replace, mode="_hard")
    soft = cat(key, logits, -1, shape, replace, softness=1e-3, mode=mode, method=method)
    np.testing.assert_allclose(soft, under, atol=1e-2)


def test_near_hard_limit_batched_axis():
    # KEYS[1]: no near-tie in this draw; draws whose two best perturbed logits are within a
    # few softness units of each other are legitimately soft (KEYS[0] has one here).
    lshape, axis, shape, replace, dtype, _ = CASES[2]
    logits = _logits(lshape, dtype)
    under = cat(KEYS[1], logits, axis, shape, replace, mode="_hard")
    for mode in SOFT_MODES:
        soft = cat(KEYS[1], logits, axis, shape, replace, softness=1e-3, mode=mode)
        np.testing.assert_allclose(soft, under, atol=1e-2)


def test_smooth_softsort_is_gumbel_softmax():
    logits = _logits((4,))
    key = KEYS[1]
    g = jax.random.gumbel(key, (3, 4))
    out = cat(key, logits, shape=(3,), softness=0.5)
    np.testing.assert_allclose(out, jax.nn.softmax((logits + g) / 0.5, axis=-1), rtol=1e-12)


def test_soft_samples_are_random_not_softmax_of_logits():
    logits = _logits((4,))
    outs = jnp.stack([cat(k, logits, softness=0.5) for k in KEYS])
    assert float(jnp.abs(outs[0] - outs[1]).max()) > 0.1
    assert float(jnp.abs(outs[0] - jax.nn.softmax(logits / 0.5)).max()) > 0.05


# --- non-finite logits ------------------------------------------------------------------------


_DRAW_KEYS = jax.random.split(jax.random.key(3), 400)


@functools.partial(jax.jit, static_argnames="mode")
def _draws(logits, mode):
    """400 draws of one (4,)-logit categorical; one compile per mode for all tests."""
    return jax.vmap(lambda k: cat(k, logits, mode=mode, softness=0.5))(_DRAW_KEYS)


def test_minus_inf_logits_never_drawn_and_parity_kept():
    logits = jnp.array([-jnp.inf, 0.3, -1.0, -jnp.inf])
    under = _draws(logits, "_hard")
    np.testing.assert_array_equal(under, _draws(logits, "hard"))
    assert float(under[:, [0, 3]].sum()) == 0.0
    assert float(under[:, 1].mean()) > 0.6  # P = 0.79 for the finite pair
    soft = _draws(logits, "smooth")
    assert bool(jnp.all(jnp.isfinite(soft)))
    assert float(soft[:, [0, 3]].max()) < 1e-30


def test_plus_inf_logit_is_always_drawn_like_jax():
    logits = jnp.array([0.5, jnp.inf, -2.0, -jnp.inf])
    under = _draws(logits, "_hard")
    np.testing.assert_array_equal(under, _draws(logits, "hard"))
    assert float(under[:, 1].min()) == 1.0
    np.testing.assert_allclose(_draws(logits, "smooth")[:, 1], 1.0, atol=1e-12)


def test_nan_logit_propagates_and_matches_jax_in_hard():
    logits = jnp.array([0.5, jnp.nan, -2.0, 0.0])
    under = _draws(logits, "_hard")
    np.testing.assert_array_equal(under, _draws(logits, "hard"))
    assert bool(jnp.all(jnp.isnan(_draws(logits, "smooth"))))


def test_ties_at_infinity_are_broken_uniformly():
    # Documented deviation: JAX always returns the lowest index here.
    for logits, allowed in [
        (jnp.array([jnp.inf, 0.0, jnp.inf, 1.0]), [0, 2]),
        (jnp.full((4,), -jnp.inf), [0, 1, 2, 3]),
    ]:
        freq = _draws(logits, "_hard").mean(0)
        for i in range(4):
            if i in allowed:  # binomial sd <= 0.025 at 400 draws
                assert abs(float(freq[i]) - 1 / len(allowed)) < 0.1
            else:
                assert float(freq[i]) == 0.0
        soft = _draws(logits, "smooth")
        assert bool(jnp.all(jnp.isfinite(soft)))
        np.testing.assert_allclose(soft.sum(-1), 1.0)


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_gradients_finite_float32_with_impossible_classes(mode):
    logits = jnp.array([[-jnp.inf, 0.3, 2.0, -1.0], [1e6, -1e6, 0.0, 0.0]], jnp.float32)
    w = jnp.arange(4.0, dtype=jnp.float32)

    def f(lg, replace):
        return jnp.sum(cat(KEYS[0], lg, shape=(2, 2), replace=replace, mode=mode) * w)

    for replace in [True, False]:
        g = jax.grad(f)(logits, replace)
        assert g.dtype == jnp.float32
        assert bool(jnp.all(jnp.isfinite(g)))
        assert float(g[0, 0]) == 0.0  # -inf entries get zero gradient


def test_gradients_match_finite_differences():
    logits = _logits((3, 6))
    values = jnp.linspace(-1.0, 2.0, 18).reshape(3, 6)

    @jax.jit
    def f(lg):  # categorical -> take_along_axis-style read-out
        idx = cat(KEYS[1], lg, shape=(2, 3), softness=0.7)
        return jnp.sum(jnp.sum(idx * values, -1) ** 2)

    check_grads(f, (logits,), order=1, modes=["fwd", "rev"])


# --- log-probabilities ------------------------------------------------------------------------


def test_log_probs_contract():
    logits = _logits((3, 6))
    key = KEYS[0]
    for mode in ["smooth", "c0"]:
        p = cat(key, logits, shape=(2, 3), softness=0.3, mode=mode)
        lp = cat(key, logits, shape=(2, 3), softness=0.3, mode=mode, return_log_probs=True)
        np.testing.assert_allclose(jnp.exp(lp), p, atol=1e-12)
        np.testing.assert_allclose(jax.nn.logsumexp(lp, axis=-1), 0.0, atol=1e-12)
        eps = 1e-3
        le = cat(key, logits, shape=(2, 3), softness=0.3, mode=mode,
                 return_log_probs=True, log_prob_eps=eps)  # fmt: skip
        manual = jnp.clip(p, eps, 1.0)
        np.testing.assert_allclose(le, jnp.log(manual / manual.sum(-1, keepdims=True)), rtol=1e-10)
    hard = cat(key, logits, mode="hard", return_log_probs=True)
    ref = jax.random.categorical(key, logits)
    np.testing.assert_array_equal(hard, jnp.where(jax.nn.one_hot(ref, 6) > 0, 0.0, -jnp.inf))
    under = cat(key, logits, mode="_hard", return_log_probs=True, log_prob_eps=0.01)
    assert bool(jnp.all(jnp.isfinite(under)))


def test_log_prob_gradients_finite():
    logits = jnp.array([[0.2, -jnp.inf, 1.5, 0.1], [0.0, 0.0, -3.0, 1e6]], jnp.float32)
    for mode, eps in [("smooth", None), ("c0", 1e-3)]:
        g = jax.grad(
            lambda lg, mode=mode, eps=eps: jnp.sum(
                cat(
                    KEYS[0],
                    lg,
                    shape=(2, 2),
                    softness=0.2,
                    mode=mode,
                    return_log_probs=True,
                    log_prob_eps=eps,
                )
            )
        )(logits)
        assert bool(jnp.all(jnp.isfinite(g))), (mode, g)


# --- shapes, empty samples, broadcasting -------------------------------------------------------


def test_empty_sample_without_replacement():
    # JAX returns an empty array; so does every soft mode.
    logits = _logits((2, 3))
    ref = jax.random.categorical(KEYS[0], logits, shape=(0, 2), replace=False)
    for mode in ["hard", "_hard", "smooth", "c0"]:
        out = cat(KEYS[0], logits, shape=(0, 2), replace=False, mode=mode)
        assert out.shape == (*ref.shape, 3) == (0, 2, 3)


@pytest.mark.parametrize("mode", ["hard", "_hard", "smooth"])
def test_without_replacement_broadcast_batch(mode):
    # logits (1, 3) with shape (2, 2): each broadcast row drawn independently.
    logits = _logits((1, 3))
    outs = [cat(k, logits, shape=(2, 2), replace=False, mode=mode, softness=1e-3) for k in KEYS]
    for out in outs:
        assert out.shape == (2, 2, 3)
        idx = jnp.argmax(out, -1)
        assert bool(jnp.all(idx[0] != idx[1]))  # without replacement within a row
    assert any(bool(jnp.any(jnp.argmax(o, -1)[:, 0] != jnp.argmax(o, -1)[:, 1])) for o in outs)
    np.testing.assert_array_equal(
        cat(KEYS[0], logits, shape=(2, 2), replace=False, mode="hard"),
        cat(KEYS[0], logits, shape=(2, 2), replace=False, mode="_hard"),
    )


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hard", "_hard", "smooth"])
def test_errors(mode):
    lg = _logits((2, 3))
    k = KEYS[0]
    with pytest.raises(ValueError, match="noise='gumbel'"):
        cat(k, lg, mode=mode, noise="uniform")
    with pytest.raises(ValueError, match="out of bounds"):
        cat(k, lg, axis=2, mode=mode)
    with pytest.raises(ValueError, match="out of bounds"):
        cat(k, jnp.float32(1.0), mode=mode)
    with pytest.raises(TypeError, match="integer type"):
        cat(k, lg, shape=(2.5,), mode=mode)
    with pytest.raises(ValueError, match="broadcast-compatible"):
        cat(k, lg, shape=(3,), mode=mode)
    with pytest.raises(ValueError, match="cannot exceed"):
        cat(k, lg, shape=(4, 2), replace=False, mode=mode)
    with pytest.raises(ValueError, match="return_log_probs=True"):
        cat(k, lg, mode=mode, log_prob_eps=0.1)
    with pytest.raises(ValueError, match="log_prob_eps must be in"):
        cat(k, lg, mode=mode, return_log_probs=True, log_prob_eps=1.5)
    with pytest.raises(ValueError, match="must be scalar"):
        cat(k, lg, mode=mode, return_log_probs=True, log_prob_eps=jnp.ones(2) * 0.1)


def test_invalid_mode_and_method():
    lg = _logits((3,))
    with pytest.raises(ValueError, match="Invalid mode"):
        cat(KEYS[0], lg, mode="soft")
    for method in ["fast_soft_sort", "bogus"]:
        with pytest.raises(ValueError, match="Invalid method"):
            cat(KEYS[0], lg, method=method, replace=False, shape=(2,))


# --- jit / vmap --------------------------------------------------------------------------------


def test_jit_and_vmap_over_keys_and_logits():
    logits = _logits((3, 6))
    keys = jnp.stack([jax.random.key_data(k) for k in KEYS[:2]])
    batch = jnp.stack([logits, logits[::-1]])  # vmap over keys and parameters at once
    f = functools.partial(cat, shape=(2, 3), softness=0.3, mode="c1")
    eager = jnp.stack([f(k, lg) for k, lg in zip(keys, batch, strict=True)])
    np.testing.assert_allclose(jax.jit(jax.vmap(f))(keys, batch), eager, rtol=1e-12)
