"""Learning which k of d features to keep with a soft top-k mask (``softjax.top_k_mask``).

Run with ``python examples/feature_pruning.py`` (add ``--plot PATH`` to save a
figure of the training and of the learned mask); needs ``pip install -e ".[examples]"``.

Synthetic binary classification with 24 standard normal features, of which 4
are informative: the label depends on ``x3 - x8`` (two strongly correlated
features whose difference carries the signal) and on ``x14`` and ``x19``.
A logistic model ``sigmoid((x * mask) @ w + b)`` is trained with Adam, jointly
in ``w``, ``b`` and gate scores ``g``, where ``mask = top_k_mask(g, k)`` is
the soft top-k mask. The budget ``k`` is a real number, lowered step by step
from 24 to 4 (gradual pruning), so the mask tightens smoothly instead of
dropping features abruptly. The hard top-4 mask of the learned ``g`` is then
compared with univariate correlation screening (the 4 features with the
largest ``|corr(x_j, y)|``), which scores features one at a time and misses
the correlated pair: each of ``x3`` and ``x8`` alone is almost uncorrelated
with the label. A logistic model refitted on each selected subset is scored
on held-out data.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import softjax as sj

N_FEATURES, K = 24, 4
N_TRAIN, N_TEST = 300, 2000
INFORMATIVE = (3, 8, 14, 19)
CORRELATION = 0.95  # between x3 and x8
SOFTNESS = 0.1
LEARNING_RATE = 0.05
STEPS = 400
PRUNE_STEPS = 240  # k reaches K after this many steps, then stays there
REFIT_STEPS = 300


def make_data(key, n):
    """Features ``(n, N_FEATURES)`` and binary labels."""
    k_x, k_common, k_y = jax.random.split(key, 3)
    X = jax.random.normal(k_x, (n, N_FEATURES))
    common = jax.random.normal(k_common, (n,))
    for j in INFORMATIVE[:2]:
        X = X.at[:, j].set(np.sqrt(CORRELATION) * common + np.sqrt(1 - CORRELATION) * X[:, j])
    logit = 4.0 * (X[:, 3] - X[:, 8]) + X[:, 14] - X[:, 19]
    y = (jax.random.uniform(k_y, (n,)) < jax.nn.sigmoid(logit)).astype(X.dtype)
    return X, y


def logits(params, X, mask):
    return (X * mask) @ params["w"] + params["b"]


def cross_entropy(params, X, y, mask):
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits(params, X, mask), y))


def budget(step):
    """Gradual pruning: the real-valued k, linear from N_FEATURES down to K."""
    return jnp.maximum(K, N_FEATURES - (N_FEATURES - K) * step / PRUNE_STEPS)


def learn_mask(key, X, y):
    """Adam on gates and weights under the soft mask; returns the gates and per-step losses."""
    params = {"g": 0.01 * jax.random.normal(key, (N_FEATURES,)), "w": jnp.zeros(N_FEATURES), "b": 0.0}
    optimizer = optax.adam(LEARNING_RATE)

    def loss(params, k):
        return cross_entropy(params, X, y, sj.top_k_mask(params["g"], k, softness=SOFTNESS))

    def step(carry, i):
        params, state = carry
        value, grads = jax.value_and_grad(loss)(params, budget(i))
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), value

    (params, _), history = jax.lax.scan(step, (params, optimizer.init(params)), jnp.arange(STEPS))
    return params["g"], history


def refit(X, y, mask):
    """A logistic model on the features that ``mask`` keeps (Adam, full batch)."""
    params = {"w": jnp.zeros(N_FEATURES), "b": 0.0}
    optimizer = optax.adam(LEARNING_RATE)

    def step(carry, _):
        params, state = carry
        grads = jax.grad(cross_entropy)(params, X, y, mask)
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), length=REFIT_STEPS)
    return params


def test_accuracy(train, test, features):
    mask = jnp.zeros(N_FEATURES).at[jnp.asarray(features)].set(1.0)
    params = jax.jit(refit)(*train, mask)
    X, y = test
    return float(jnp.mean((logits(params, X, mask) > 0) == (y > 0.5)))


def plot(history, soft_mask, screening, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_mask) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    steps = np.arange(STEPS)
    ax_loss.plot(steps, history, color="C0")
    ax_loss.set(title="training", xlabel="Adam step", ylabel="cross-entropy (soft mask)")
    ax_k = ax_loss.twinx()
    ax_k.plot(steps, budget(steps), color="C1", linestyle="--")
    ax_k.set_ylabel("budget k (real)", color="C1")

    features = np.arange(N_FEATURES)
    informative = np.isin(features, INFORMATIVE)
    ax_mask.bar(features[informative], soft_mask[informative], color="C2", label="mask, informative")
    ax_mask.bar(features[~informative], soft_mask[~informative], color="0.6", label="mask, other")
    ax_mask.plot(features, screening, "kx", label="|corr(x_j, y)|, screening")
    ax_mask.set(title=f"learned soft top-{K} mask", xlabel="feature j", ylim=(0, 1.05))
    ax_mask.set_xticks(features[::2])
    ax_mask.legend(loc="upper right")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="PATH", help="save the figure to PATH (needs matplotlib)")
    args = parser.parse_args()

    k_train, k_test, k_gates = jax.random.split(jax.random.PRNGKey(0), 3)
    train = make_data(k_train, N_TRAIN)
    test = make_data(k_test, N_TEST)

    gates, history = jax.jit(learn_mask)(k_gates, *train)
    learned = np.flatnonzero(sj.top_k_mask(gates, K, mode="hard"))
    X, y = train
    screening = np.abs(np.corrcoef(X.T, y)[-1, :-1])
    screened = np.sort(np.argsort(-screening)[:K])

    print(f"Training loss: {float(history[0]):.4f} -> {float(history[-1]):.4f}")
    print(f"Informative features:          {np.array(INFORMATIVE)}")
    print(f"Learned top-{K} mask:            {learned}")
    print(f"Correlation screening top-{K}:   {screened}")
    print(f"Test accuracy, learned features:  {test_accuracy(train, test, learned):.4f}")
    print(f"Test accuracy, screened features: {test_accuracy(train, test, screened):.4f}")
    print(f"Test accuracy, all {N_FEATURES} features:   {test_accuracy(train, test, range(N_FEATURES)):.4f}")

    if args.plot:
        plot(history, np.asarray(sj.top_k_mask(gates, K, softness=SOFTNESS)), screening, args.plot)


if __name__ == "__main__":
    main()
