"""Density matching through a soft histogram (``softjax.histogram``).

Run with ``python examples/histogram_matching.py`` (add ``--plot PATH`` to save
a figure of the histograms and of the training); needs ``pip install -e ".[examples]"``.

A generator maps fixed standard normal noise ``z`` through a small monotone
transform ``x = mu + exp(log_sigma) * z + skew * (z**2 - 1)`` and should
reproduce the distribution of observed data, known only through its
histogram: 40 equal bins on ``[-4, 8]``. The loss is the squared distance
between the generator's histogram and the data's, both as fractions of the
samples. ``jnp.histogram`` counts are piecewise constant in the samples, so
their gradient with respect to ``mu``, ``log_sigma`` and ``skew`` is zero and
the hard loss cannot be trained; ``sj.histogram`` replaces each bin indicator
by the difference of two soft steps at the bin's edges, so its counts move
with the samples. The soft counts keep the total (up to samples leaving the
range softly), and the hard histogram of the trained generator is reported
against the data's.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import softjax as sj

BINS, RANGE = 40, (-4.0, 8.0)
N_SAMPLES = 4000
SOFTNESS = 0.1  # of the soft step at each edge, in data units (the bins are 0.3 wide)
LEARNING_RATE = 0.05
STEPS = 300


def observed_data(key):
    """Samples of a skewed target: a gamma(3, 1) variable shifted to start at -1."""
    return jax.random.gamma(key, 3.0, (N_SAMPLES,)) - 1.0


def generate(params, z):
    return params["mu"] + jnp.exp(params["log_sigma"]) * z + params["skew"] * (z**2 - 1)


def fractions(x, mode):
    counts, _ = sj.histogram(x, BINS, range=RANGE, softness=SOFTNESS, mode=mode)
    return counts / x.shape[0]


def histogram_loss(params, z, target, mode="smooth"):
    return jnp.sum((fractions(generate(params, z), mode) - target) ** 2)


def train(z, target):
    """Adam on the generator's parameters; returns them and the per-step hard and soft losses."""
    params = {"mu": jnp.array(0.0), "log_sigma": jnp.array(0.0), "skew": jnp.array(0.0)}
    optimizer = optax.adam(LEARNING_RATE)

    def step(carry, _):
        params, state = carry
        soft, grads = jax.value_and_grad(histogram_loss)(params, z, target)
        updates, state = optimizer.update(grads, state, params)
        hard = histogram_loss(params, z, target, mode="hard")
        return (optax.apply_updates(params, updates), state), (hard, soft)

    (params, _), history = jax.lax.scan(step, (params, optimizer.init(params)), length=STEPS)
    return params, history


def total_variation(x, target):
    """Half the L1 distance between the hard histogram of ``x`` and ``target`` (in [0, 1])."""
    return 0.5 * float(jnp.sum(jnp.abs(fractions(x, "hard") - target)))


def plot(z, data, initial, learned, history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_hist, ax_loss) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    edges = np.linspace(*RANGE, BINS + 1)
    for x, label, style in (
        (data, "data", {"color": "0.6", "histtype": "stepfilled"}),
        (generate(initial, z), "generator, initial", {"color": "C1", "histtype": "step", "linestyle": "--"}),
        (generate(learned, z), "generator, trained", {"color": "C0", "histtype": "step", "linewidth": 2}),
    ):
        ax_hist.hist(np.asarray(x), bins=edges, density=True, label=label, **style)
    ax_hist.set(title="histograms (40 bins)", xlabel="x", ylabel="density")
    ax_hist.legend()
    hard, soft = (np.asarray(h) for h in history)
    ax_loss.semilogy(hard, color="C0", label="hard histogram loss")
    ax_loss.semilogy(soft, color="C1", linestyle="--", label="soft histogram loss (trained)")
    ax_loss.set(title="training", xlabel="Adam step", ylabel="squared distance")
    ax_loss.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="PATH", help="save the figure to PATH (needs matplotlib)")
    args = parser.parse_args()

    k_data, k_noise = jax.random.split(jax.random.PRNGKey(0))
    data = observed_data(k_data)
    target = fractions(data, "hard")
    z = jax.random.normal(k_noise, (N_SAMPLES,))
    initial = {"mu": jnp.array(0.0), "log_sigma": jnp.array(0.0), "skew": jnp.array(0.0)}

    hard_grad = jax.grad(histogram_loss)(initial, z, target, "hard")
    soft_grad = jax.grad(histogram_loss)(initial, z, target)
    print(f"Gradient norm, hard histogram: {float(optax.global_norm(hard_grad)):.4f}")
    print(f"Gradient norm, soft histogram: {float(optax.global_norm(soft_grad)):.4f}")

    learned, history = jax.jit(train)(z, target)
    hard, _ = history
    print(f"Hard histogram loss: {float(hard[0]):.5f} -> {float(hard[-1]):.5f}")
    print(
        f"Total variation to the data: {total_variation(generate(initial, z), target):.3f} -> "
        f"{total_variation(generate(learned, z), target):.3f}"
    )
    sample = generate(learned, z)
    print(
        f"Mean, std: data {float(data.mean()):.3f}, {float(data.std()):.3f}; "
        f"trained generator {float(sample.mean()):.3f}, {float(sample.std()):.3f}"
    )

    if args.plot:
        plot(z, data, initial, learned, history, args.plot)


if __name__ == "__main__":
    main()
