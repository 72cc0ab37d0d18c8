"""softjax.random.choice / permutation: parity, soft contracts, zero probabilities,
integer gathers, zero draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import softjax as sj

choice, perm = sj.random.choice, sj.random.permutation
KEYS = [jax.random.key(0), jax.random.key(9), jax.random.PRNGKey(4)]
SOFT_MODES = ["smooth", "c0", "c1", "c2"]
A2 = jnp.arange(12.0).reshape(3, 4) / 4  # (3, 4), sampled along axis 1
PW = jnp.array([0.1, 0.0, 0.5, 0.4])  # a zero-probability entry


# --- choice --------------------------------------------------------------------------------


def test_choice_hard_is_jax_choice():
    for key in KEYS[:2]:
        for args in [
            dict(a=5, shape=(3,)),
            dict(a=A2, shape=(2,), p=PW, axis=1),
            dict(a=A2, shape=(2,), replace=False),
            dict(a=6, shape=(2, 2), replace=False, p=jnp.ones(6)),
        ]:
            np.testing.assert_array_equal(choice(key, mode="hard", **args), jax.random.choice(key, **args))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_choice_underscore_hard_is_bit_identical_with_p_without_replacement(dtype):
    p = PW.astype(dtype) + 0.05
    for key in KEYS:
        for a, axis, shape in [(4, 0, (3,)), (A2, 1, (3,)), (A2.T, 0, (2, 1))]:
            for rng_mode in [None, "high"]:
                kw = dict(shape=shape, replace=False, p=p, axis=axis, rng_mode=rng_mode)
                ref = jax.random.choice(key, a, mode=rng_mode, **{
                    k: v for k, v in kw.items() if k != "rng_mode"})  # fmt: skip
                np.testing.assert_array_equal(choice(key, a, mode="_hard", **kw), ref)


# One configuration per soft mode (compiling every mode for every configuration costs
# seconds each); together they cover int/array populations, p, axis, replace.
CHOICE_CONFIGS = {
    "smooth": (KEYS[1], 5, dict(shape=(2, 3))),
    "c0": (KEYS[1], A2, dict(shape=(2,), p=PW, axis=1)),
    "c1": (KEYS[0], A2, dict(shape=(3,), replace=False, axis=1)),
    "c2": (KEYS[1], A2.T, dict(shape=(2, 1), replace=False, p=PW)),
}


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_choice_soft_shapes_and_near_hard_limit(mode):
    key, a, kw = CHOICE_CONFIGS[mode]
    ref = jax.random.choice(key, a, **kw)
    soft = choice(key, a, softness=0.3, mode=mode, **kw)
    assert soft.shape == ref.shape and jnp.issubdtype(soft.dtype, jnp.floating)
    under = choice(key, a, mode="_hard", **kw)
    assert under.shape == ref.shape
    near = choice(key, a, softness=1e-3, mode=mode, **kw)
    np.testing.assert_allclose(near, under, atol=1e-2)


def test_soft_choice_is_a_random_pick_not_the_expectation():
    a = jnp.array([0.0, 1.0, 2.0, 3.0])
    soft = jnp.stack([choice(k, a, (4,), p=PW + 0.05, softness=0.3) for k in KEYS])
    expectation = jnp.sum((PW + 0.05) / jnp.sum(PW + 0.05) * a)
    assert float(jnp.mean(jnp.abs(soft - expectation))) > 0.2
    assert float(jnp.std(soft)) > 0.3


def test_choice_integer_gather_keeps_inf_and_large_integers():
    # A one-hot contraction gives NaN everywhere with an inf in the population and
    # rounds 2**24 + 1 in float32; "_hard" gathers by index.
    a = jnp.array([1.5, jnp.inf, -2.0, -jnp.inf, 7.0])
    big = jnp.array([2**24 + 1, 2**24 + 3, 5], jnp.int32)
    for key in KEYS:
        under = choice(key, a, (6,), mode="_hard")
        assert bool(jnp.all(jnp.isin(under, a))) and not bool(jnp.any(jnp.isnan(under)))
        ints = choice(key, big, (6,), mode="_hard")
        assert ints.dtype == jnp.int32 and bool(jnp.all(jnp.isin(ints, big)))
        # soft: exact-zero weights ignore infinite values (no 0 * inf)
        soft = choice(key, a, (6,), softness=1e-3, mode="c0")
        np.testing.assert_array_equal(soft, under)
    # dense (smooth) weights: a positive weight on +inf makes the pick +inf (not NaN) ...
    smooth = choice(KEYS[0], a.at[3].set(0.0), (6,), softness=0.5)
    np.testing.assert_array_equal(smooth, jnp.inf)
    # ... and on both +inf and -inf it is undefined (NaN), as the expectation is
    assert bool(jnp.all(jnp.isnan(choice(KEYS[0], a, (6,), softness=0.5))))


def test_zero_draws_have_one_layout_in_every_mode():
    # Deliberate deviation: JAX returns zeros(shape) for zero draws, inconsistent
    # with its own a.shape[:axis] + shape + a.shape[axis+1:] layout; every mode uses the latter.
    for mode in ["hard", "_hard", "smooth"]:
        out = choice(KEYS[0], A2, (0,), axis=1, mode=mode)
        assert out.shape == (3, 0) and out.dtype == A2.dtype
        out = choice(KEYS[0], 5, (2, 0), mode=mode)
        assert out.shape == (2, 0)
        assert out.dtype == jax.random.choice(KEYS[0], 5, (2, 0)).dtype


@pytest.mark.parametrize("mode", SOFT_MODES)
def test_choice_gradient_finite_at_zero_probability(mode):
    # log(0) would give a NaN gradient for p_i = 0.
    a = jnp.array([1.0, 2.0, 3.0, 4.0], jnp.float32)
    replace = mode in ("smooth", "c1")

    def f(p):
        return jnp.sum(choice(KEYS[1], a, (2,), replace, p, softness=0.3, mode=mode))

    g = jax.grad(f)(PW.astype(jnp.float32))
    assert g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g)))
    assert float(g[1]) == 0.0


def test_choice_gradients_match_finite_differences():
    @jax.jit
    def f(a, p):
        out = choice(KEYS[2], a, (3,), p=p, axis=1, softness=0.5)
        return jnp.sum(out**2)

    check_grads(f, (A2, PW + 0.1), order=1, modes=["fwd", "rev"])


@pytest.mark.parametrize("mode", ["hard", "_hard", "smooth"])
def test_choice_errors(mode):
    k = KEYS[0]
    with pytest.raises(TypeError, match="tuple of integers"):
        choice(k, 5, None, mode=mode)
    with pytest.raises(ValueError, match="noise='gumbel'"):
        choice(k, 5, mode=mode, noise="uniform")
    with pytest.raises(ValueError, match="Cannot take a larger sample"):
        choice(k, 3, (4,), replace=False, mode=mode)
    with pytest.raises(ValueError, match="p must be None or a 1D vector"):
        choice(k, 3, (2,), p=jnp.ones(4), mode=mode)
    with pytest.raises(ValueError, match="greater than 0"):
        choice(k, 0, (2,), mode=mode)
    with pytest.raises(ValueError, match="out of bounds"):
        choice(k, A2, (2,), axis=2, mode=mode)


def test_choice_and_permutation_jit_vmap_over_keys_and_values():
    keys = jnp.stack([jax.random.key_data(k) for k in KEYS[:2]])
    values = jnp.stack([A2, -A2])

    def f(k, a):
        return choice(k, a, (2,), p=PW, axis=1, softness=0.3, mode="c2")

    eager = jnp.stack([f(k, a) for k, a in zip(keys, values, strict=True)])
    np.testing.assert_allclose(jax.jit(jax.vmap(f))(keys, values), eager, rtol=1e-12)

    def g(k, a):
        return perm(k, a, axis=1, softness=0.3, mode="c0")

    eager = jnp.stack([g(k, a) for k, a in zip(keys, values, strict=True)])
    np.testing.assert_allclose(jax.jit(jax.vmap(g))(keys, values), eager, rtol=1e-12)


# --- permutation ---------------------------------------------------------------------------


def test_permutation_hard_is_jax_permutation():
    for key in KEYS[:2]:
        for x, kw in [(6, {}), (A2, dict(axis=1)), (A2, dict(axis=1, independent=True))]:
            np.testing.assert_array_equal(
                perm(key, x, mode="hard", **kw), jax.random.permutation(key, x, **kw)
            )


def test_permutation_underscore_hard_is_an_exact_permutation():
    xi = jnp.array([2**24 + 1, 3, 2**24 + 3, -7], jnp.int32)  # exact integer gather
    xf = jnp.array([0.5, jnp.inf, -1.0, 2.0])
    for key in KEYS:
        out = perm(key, xi, mode="_hard")
        assert out.dtype == jnp.int32
        np.testing.assert_array_equal(jnp.sort(out), jnp.sort(xi))
        np.testing.assert_array_equal(jnp.sort(perm(key, xf, mode="_hard")), jnp.sort(xf))
        shared = perm(key, A2, axis=1, mode="_hard")  # one permutation for every row
        idx = jnp.round(shared[0] * 4).astype(int)  # row 0 of A2 is arange(4) / 4
        np.testing.assert_array_equal(jnp.sort(idx), jnp.arange(4))
        np.testing.assert_array_equal(shared, A2[:, idx])
    cols = jnp.stack([perm(k, A2, axis=0, independent=True, mode="_hard") for k in KEYS])
    for c in cols:
        np.testing.assert_array_equal(jnp.sort(c, axis=0), A2)
    columns_differ = jnp.any(jnp.argsort(cols, axis=1)[:, :, :1] != jnp.argsort(cols, axis=1))
    assert bool(columns_differ)  # independent columns are not all shuffled alike


PERM_CONFIGS = [  # (mode, method, x, kwargs): one configuration per combination
    ("smooth", "neuralsort", jnp.array([0.3, -1.0, 2.0, 0.9]), {}),
    ("c0", "neuralsort", A2, dict(axis=1)),
    ("c1", "neuralsort", A2, dict(axis=0, independent=True)),
    ("c2", "neuralsort", A2.T, dict(axis=1, independent=True)),
    ("smooth", "softsort", A2, dict(axis=1)),
    ("c0", "softsort", jnp.array([0.3, -1.0, 2.0, 0.9]), {}),
]


@pytest.mark.parametrize("mode, method, x, kw", PERM_CONFIGS)
def test_permutation_soft_shapes_and_near_hard_limit(mode, method, x, kw):
    key = KEYS[1]
    soft = perm(key, x, softness=0.3, mode=mode, method=method, **kw)
    assert soft.shape == x.shape and soft.dtype == x.dtype
    under = perm(key, x, mode="_hard", **kw)
    near = perm(key, x, softness=1e-3, mode=mode, method=method, **kw)
    np.testing.assert_allclose(near, under, atol=1e-2)
    ints = perm(key, 4, softness=0.3, mode=mode, method=method)
    assert ints.shape == (4,) and ints.dtype == jnp.float64


def test_permutation_gradients():
    x32 = jnp.array([[0.5, -1.0, 2.0], [1e6, 0.0, 0.0]], jnp.float32)
    for mode in SOFT_MODES:
        g = jax.grad(lambda x, mode=mode: jnp.sum(perm(KEYS[0], x, axis=1, mode=mode) ** 2))(x32)
        assert g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g)))

    @jax.jit
    def f(x):
        return jnp.sum(perm(KEYS[2], x, axis=1, softness=0.5) * jnp.arange(4.0))

    check_grads(f, (A2,), order=1, modes=["fwd", "rev"])


def test_permutation_empty_cases_match_jax():
    for x in [0, -1, jnp.zeros((0, 3))]:
        ref = jax.random.permutation(KEYS[0], x)
        for mode in ["_hard", "smooth"]:
            out = perm(KEYS[0], x, mode=mode)
            assert out.shape == ref.shape and out.dtype == ref.dtype


@pytest.mark.parametrize("mode", ["_hard", "smooth"])
def test_permutation_errors(mode):
    k = KEYS[0]
    with pytest.raises(TypeError, match="integer or at least 1-dimensional"):
        perm(k, 3.0, mode=mode)
    with pytest.raises(ValueError, match="out of bounds"):
        perm(k, 3, axis=1, mode=mode)
    with pytest.raises(ValueError, match="out of bounds"):
        perm(k, A2, axis=-3, mode=mode)
    with pytest.raises(NotImplementedError, match="out_sharding"):
        perm(k, A2, out_sharding=object(), mode=mode)
    with pytest.raises(ValueError, match="noise='gumbel'"):
        perm(k, A2, mode=mode, noise="uniform")
