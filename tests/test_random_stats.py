"""Distributional parity of the "_hard" samplers that do not replay JAX's stream.

choice (randint / permutation / inverse-CDF paths in JAX), permutation, binomial and
multinomial draw with their own construction in "_hard" mode; they must have the same
distribution as ``jax.random``. Each test draws a vmapped batch of 5000 keys at a fixed
seed, applies a chi-square goodness-of-fit test against the exact distribution at level
1e-4, and checks the power of the same samples against a slightly wrong distribution
(which must be rejected), so the test can fail.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

import softjax as sj

R = sj.random
KEYS = jax.random.split(jax.random.key(20240607), 5000)


def _critical(df, z=3.719):  # chi-square 1 - 1e-4 quantile (Wilson–Hilferty)
    c = 2.0 / (9.0 * df)
    return df * (1.0 - c + z * math.sqrt(c)) ** 3


def _chi2(counts, probs):
    counts, probs = np.asarray(counts, float), np.asarray(probs, float)
    expected = counts.sum() * probs / probs.sum()
    return float(np.sum((counts - expected) ** 2 / expected))


def _assert_fits(codes, probs, wrong):
    """``codes``: integer category per sample; ``probs``: exact law; ``wrong``: a near miss."""
    counts = np.bincount(np.asarray(codes).ravel(), minlength=len(probs))
    assert len(counts) == len(probs)
    crit = _critical(len(probs) - 1)
    assert _chi2(counts, probs) < crit, (counts, probs)
    assert _chi2(counts, wrong) > crit, "test has no power against the near miss"


def _draw(fn):
    return np.asarray(jax.jit(jax.vmap(fn))(KEYS))


def test_choice_with_p_and_replacement():
    p = jnp.array([0.1, 0.2, 0.3, 0.4])
    under = _draw(lambda k: R.choice(k, 4, (2,), p=p, mode="_hard"))
    _assert_fits(under, p, [0.13, 0.17, 0.33, 0.37])
    # two-sample homogeneity against JAX's inverse-CDF sampler
    hard = _draw(lambda k: R.choice(k, 4, (2,), p=p, mode="hard"))
    table = np.stack([np.bincount(under.ravel(), minlength=4), np.bincount(hard.ravel())])
    expected = table.sum(1, keepdims=True) * table.sum(0) / table.sum()
    assert np.sum((table - expected) ** 2 / expected) < _critical(3)


def test_choice_without_replacement_ordered_pairs():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]
    exact = [p[i] * p[j] / (1 - p[i]) for i, j in pairs]
    naive = [p[i] * p[j] for i, j in pairs]  # forgets to renormalise after the first pick
    code = {pair: c for c, pair in enumerate(pairs)}
    for weights, law in [(p, exact), (None, [1.0] * 12)]:
        out = _draw(lambda k, weights=weights: R.choice(k, 4, (2,), False, weights, mode="_hard"))
        codes = [code[(int(a), int(b))] for a, b in out]
        wrong = naive if weights is not None else [1.25] * 3 + [1.0] * 9
        _assert_fits(codes, law, wrong)


def test_choice_uniform_with_replacement_from_array():
    a = jnp.array([[10, 11, 12, 13, 14]])
    out = _draw(lambda k: R.choice(k, a, (3,), axis=1, mode="_hard"))
    _assert_fits(out - 10, [1.0] * 5, [1.2, 1.0, 1.0, 1.0, 0.8])


def test_permutation_is_uniform():
    perms = list(itertools.permutations(range(3)))
    code = {pm: c for c, pm in enumerate(perms)}
    wrong = [1.2, 1.0, 1.0, 1.0, 1.0, 0.8]
    flat = _draw(lambda k: R.permutation(k, 3, mode="_hard"))
    _assert_fits([code[tuple(r)] for r in flat], [1.0] * 6, wrong)

    x = jnp.arange(3)[:, None] * jnp.ones((1, 2), int)
    shared = _draw(lambda k: R.permutation(k, x, mode="_hard"))  # (5000, 3, 2)
    np.testing.assert_array_equal(shared[..., 0], shared[..., 1])
    _assert_fits([code[tuple(r)] for r in shared[..., 0]], [1.0] * 6, wrong)

    indep = _draw(lambda k: R.permutation(k, x, independent=True, mode="_hard"))
    joint = [6 * code[tuple(r[:, 0])] + code[tuple(r[:, 1])] for r in indep]
    _assert_fits(joint, [1.0] * 36, [1.0] * 35 + [3.0])  # independent columns


def test_binomial_counts():
    n, p = 5, jnp.array([0.3, 0.8])
    out = _draw(lambda k: R.binomial(k, n, p, mode="_hard")).astype(int)
    for col, q in enumerate([0.3, 0.8]):
        law = [math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(n + 1)]
        wq = q + 0.03
        wrong = [math.comb(n, i) * wq**i * (1 - wq) ** (n - i) for i in range(n + 1)]
        _assert_fits(out[:, col], law, wrong)


def test_multinomial_counts():
    n, p = 3, np.array([0.2, 0.3, 0.5])
    out = _draw(lambda k: R.multinomial(k, n, jnp.asarray(p), mode="_hard")).astype(int)
    np.testing.assert_array_equal(out.sum(-1), n)
    outcomes = [c for c in itertools.product(range(n + 1), repeat=3) if sum(c) == n]

    def law(q):
        return [math.factorial(n) / math.prod(math.factorial(c) for c in o)
                * math.prod(qi**c for qi, c in zip(q, o, strict=True)) for o in outcomes]  # fmt: skip

    code = {o: c for c, o in enumerate(outcomes)}
    _assert_fits([code[tuple(r)] for r in out], law(p), law([0.23, 0.27, 0.5]))
