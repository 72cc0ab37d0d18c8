"""softjax.random *_st: forward == "_hard" bit for bit, gradient == soft, positional arguments in place."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softjax as sj

R = sj.random
KEY = jax.random.key(2)
F32 = jnp.float32
LOGITS = jax.random.normal(jax.random.key(1), (2, 5), F32).at[0, 3].set(-jnp.inf)
PROBS = jnp.array([[0.2, 0.0, 0.5, 0.3], [0.1, 0.2, 0.3, 0.4]], F32)
VALUES = jax.random.normal(jax.random.key(4), (4, 3), F32)  # non-integer data: sg(fw - bw) + bw would round

# name -> (args before the differentiable parameter, parameter, args after, keyword args)
CASES = {
    "categorical": ((KEY,), LOGITS, (), dict(shape=(3, 2))),
    "categorical_noreplace": ((KEY,), LOGITS, (), dict(shape=(2, 2), replace=False)),
    "bernoulli": ((KEY,), PROBS, ((3, 2, 4), "high"), {}),
    "binomial": ((KEY, 3), PROBS, (), {}),
    "multinomial": ((KEY, 3), PROBS, (), {}),
    "choice": ((KEY,), VALUES, ((2, 3), True, PROBS[1], 0), {}),
    "permutation": ((KEY,), VALUES, (1,), {}),
}


def _fns(name):
    base = name.split("_")[0]
    return getattr(R, base), getattr(R, base + "_st")


def _call(fn, name, param, **kw):
    pre, _, post, extra = CASES[name]
    return fn(*pre, param, *post, **extra, **kw)


def test_st_signatures_equal_the_samplers():
    for base in ["categorical", "bernoulli", "rademacher", "binomial", "multinomial",
                 "choice", "permutation"]:  # fmt: skip
        sig = inspect.signature(getattr(R, base)).parameters
        sig_st = inspect.signature(getattr(R, base + "_st")).parameters
        assert list(sig.values()) == list(sig_st.values()), base


@pytest.mark.parametrize("name", list(CASES))
def test_forward_is_underscore_hard_exactly_and_gradient_is_soft(name):
    fn, fn_st = _fns(name)
    param = CASES[name][1]
    under = _call(fn, name, param, mode="_hard")
    mode = "c1" if name in ("binomial", "choice") else "smooth"
    out = _call(fn_st, name, param, mode=mode, softness=0.3)
    assert out.dtype == under.dtype
    np.testing.assert_array_equal(out, under)  # tolerance 0

    w = jnp.linspace(-1.0, 2.0, out.size, dtype=F32).reshape(out.shape)

    def loss(f, m):
        return lambda q: jnp.sum(w * _call(f, name, q, mode=m, softness=0.3))

    g_st = jax.grad(loss(fn_st, mode))(param)
    g_soft = jax.grad(loss(fn, mode))(param)
    assert bool(jnp.all(jnp.isfinite(g_st)))
    np.testing.assert_allclose(g_st, g_soft, rtol=1e-6, atol=1e-7)
    assert float(jnp.abs(g_st).sum()) > 0


def test_forward_equals_jax_sample_for_categorical_bernoulli_rademacher():
    for mode in ["smooth", "c0"]:
        ref = jax.random.categorical(KEY, LOGITS, shape=(3, 2))
        np.testing.assert_array_equal(
            R.categorical_st(KEY, LOGITS, shape=(3, 2), mode=mode), jax.nn.one_hot(ref, 5)
        )
        ref = jax.random.bernoulli(KEY, PROBS, mode="high").astype(F32)
        np.testing.assert_array_equal(R.bernoulli_st(KEY, PROBS, rng_mode="high", mode=mode), ref)
        ref = jax.random.rademacher(KEY, (4, 3))
        out = R.rademacher_st(KEY, (4, 3), jnp.bfloat16, mode=mode)
        np.testing.assert_array_equal(out, ref.astype(jnp.bfloat16))


def test_value_splice_is_bit_exact_for_real_values():
    # sg(fw - bw) + bw rounds; the splice returns fw itself.
    for fn, args in [(R.choice, (VALUES, (4, 3))), (R.permutation, (VALUES, 1))]:
        fw = fn(KEY, *args, mode="_hard")
        bw = fn(KEY, *args, softness=0.5)
        naive = jax.lax.stop_gradient(fw - bw) + bw
        assert int(jnp.sum(naive != fw)) > 0  # the rounding really occurs here
        st = getattr(R, fn.__name__ + "_st")(KEY, *args, softness=0.5)
        np.testing.assert_array_equal(st, fw)


def test_positional_arguments_after_mode():
    # Every later positional argument keeps its place.
    out = R.categorical_st(KEY, LOGITS, -1, (3, 2), True, None, 0.3, "c0", "softsort", "gumbel",
                           False, None, False, None)  # fmt: skip
    np.testing.assert_array_equal(out, R.categorical(KEY, LOGITS, -1, (3, 2), mode="_hard"))
    g_pos = jax.grad(lambda lg: jnp.sum(R.categorical_st(
        KEY, lg, -1, (3, 2), True, None, 0.3, "c0", "softsort") ** 2))(LOGITS)  # fmt: skip
    g_kw = jax.grad(lambda lg: jnp.sum(R.categorical(
        KEY, lg, shape=(3, 2), softness=0.3, mode="c0") * out * 2))(LOGITS)  # fmt: skip
    np.testing.assert_allclose(g_pos, g_kw, rtol=1e-6)
    b = R.bernoulli_st(KEY, PROBS, None, "low", 0.3, "c1", "uniform")
    np.testing.assert_array_equal(b, R.bernoulli(KEY, PROBS, mode="_hard"))
    c = R.choice_st(KEY, VALUES, (2,), True, None, 1, None, 0.3, "c2", "softsort", "gumbel")
    np.testing.assert_array_equal(c, R.choice(KEY, VALUES, (2,), axis=1, mode="_hard"))


def test_categorical_st_log_probs():
    for mode in ["smooth", "c0"]:
        lp = R.categorical_st(KEY, LOGITS, shape=(3, 2), softness=0.3, mode=mode,
                              return_log_probs=True)  # fmt: skip
        assert not bool(jnp.any(jnp.isnan(lp)))
        ref = jax.random.categorical(KEY, LOGITS, shape=(3, 2))
        np.testing.assert_array_equal(jnp.exp(lp), jax.nn.one_hot(ref, 5))
        g = jax.grad(lambda lg, lp=lp, mode=mode: jnp.sum(jnp.where(jnp.isfinite(lp), R.categorical_st(
            KEY, lg, shape=(3, 2), softness=0.3, mode=mode, return_log_probs=True), 0.0)))(
            LOGITS)  # fmt: skip
        assert bool(jnp.all(jnp.isfinite(g)))


def test_hard_and_underscore_hard_modes():
    under = R.categorical(KEY, LOGITS, shape=(3, 2), mode="_hard")
    for mode in ["hard", "_hard"]:
        out = R.categorical_st(KEY, LOGITS, shape=(3, 2), mode=mode)
        np.testing.assert_array_equal(out, under)
        g = jax.grad(lambda lg, mode=mode: jnp.sum(R.categorical_st(KEY, lg, shape=(3, 2), mode=mode)
                                                   * jnp.arange(5.0)))(LOGITS)  # fmt: skip
        np.testing.assert_array_equal(g, 0.0)


def test_st_jit_vmap_over_keys():
    keys = jax.random.split(KEY, 3)

    def f(k, lg):
        return R.categorical_st(k, lg, shape=(2,), softness=0.3, mode="c2")

    eager = jnp.stack([f(k, LOGITS) for k in keys])
    np.testing.assert_array_equal(jax.jit(jax.vmap(f, (0, None)))(keys, LOGITS), eager)
