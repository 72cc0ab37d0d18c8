"""Bad arguments to axis-wise operators raise clear errors."""

import jax
import jax.numpy as jnp
import pytest

import softjax as sj

X = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3])


def test_unknown_mode_and_method():
    with pytest.raises(ValueError, match=r"Invalid mode.*'hard'"):
        sj.sort(X, mode="soft")
    with pytest.raises(ValueError, match=r"Invalid method.*'neuralsort'"):
        sj.sort(X, method="bubble")
    with pytest.raises(ValueError, match="Invalid method"):
        sj.argmax(X, method="fast_soft_sort")  # index ops need an index-producing method
    with pytest.raises(ValueError, match=r"Invalid quantile_method.*'midpoint'"):
        sj.quantile(X, 0.5, quantile_method="cubic")


@pytest.mark.parametrize("softness", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_softness(softness):
    for fn in (sj.sort, sj.argmax, sj.rank, sj.median):
        with pytest.raises(ValueError, match="softness must be positive"):
            fn(X, softness=softness)
    with pytest.raises(ValueError, match="softness must be positive"):
        jax.jit(lambda x: sj.sort(x, softness=softness))(X)  # same inside jit


def test_array_softness_must_be_scalar():
    with pytest.raises(ValueError, match="softness must be a scalar"):
        sj.sort(X, softness=jnp.array([0.1, 0.2]))
    # a traced scalar softness is fine (and differentiable)
    g = jax.grad(lambda s: sj.sort(X, softness=s).sum() + sj.max(X, softness=s))(0.3)
    assert jnp.isfinite(g)


def test_bad_axis():
    with pytest.raises(ValueError, match="axis 2 is out of bounds for array of dimension 2"):
        sj.sort(jnp.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match="out of bounds"):
        sj.argmax(jnp.ones((2, 3)), axis=-3)
    with pytest.raises(TypeError, match="axis must be an integer"):
        sj.sort(jnp.ones((2, 3)), axis=1.5)
    with pytest.raises(ValueError, match="out of bounds"):
        sj.max(jnp.array(1.0), axis=0)


@pytest.mark.parametrize("q", [-0.1, 1.5, float("nan")])
def test_q_out_of_range(q):
    for mode in ("hard", "smooth"):
        with pytest.raises(ValueError, match=r"q must be in \[0, 1\]"):
            sj.quantile(X, q, mode=mode)
        with pytest.raises(ValueError, match=r"q must be in \[0, 1\]"):
            sj.argquantile(X, jnp.array([0.5, q]), mode=mode)
    with pytest.raises(ValueError, match=r"p must be in \[0, 100\]"):
        sj.percentile(X, 100 * q)


def test_q_must_be_at_most_1d():
    with pytest.raises(ValueError, match="q must be scalar or 1-D"):
        sj.quantile(X, jnp.full((2, 2), 0.5))


def test_traced_q_is_clipped():
    out = jax.jit(lambda q: sj.quantile(X, q, method="softsort"))(1.5)
    assert out == sj.quantile(X, 1.0, method="softsort")


@pytest.mark.parametrize(
    "k,match",
    [
        (0, "k must be positive, got k=0"),
        (-1, "k must be positive"),
        (6, "k=6 exceeds dimension size 5 along axis=-1"),
    ],
)
def test_top_k_bad_k(k, match):
    for mode in ("hard", "smooth"):
        with pytest.raises(ValueError, match=match):
            sj.top_k(X, k, mode=mode)
    with pytest.raises(TypeError, match="k must be a static Python integer"):
        sj.top_k(X, 2.5)


def test_log_prob_eps_validation():
    with pytest.raises(ValueError, match="log_prob_eps can only be set when return_log_probs=True"):
        sj.argmax(X, log_prob_eps=0.1)
    with pytest.raises(ValueError, match="log_prob_eps must be scalar"):
        sj.argsort(X, return_log_probs=True, log_prob_eps=jnp.array([0.1, 0.2]))
    for eps in (0.0, 1.5, -1.0):
        with pytest.raises(ValueError, match=r"log_prob_eps must be in \(0, 1\]"):
            sj.argmax(X, return_log_probs=True, log_prob_eps=eps, mode="hard")


def test_static_flags_must_be_bools():
    with pytest.raises(TypeError, match="descending must be a Python bool"):
        sj.sort(X, descending=jnp.array(True))
    with pytest.raises(TypeError, match="ot_kwargs must be a dict"):
        sj.sort(X, ot_kwargs=[("a", 1)])


def test_empty_axis():
    with pytest.raises(ValueError, match="non-empty axis"):
        sj.sort(jnp.zeros((0,)))


def test_nan_in_nan_out():
    x = X.at[1].set(jnp.nan)
    for fn in (sj.sort, sj.rank, sj.argmax, sj.max, sj.median):
        assert jnp.any(jnp.isnan(fn(x)))
