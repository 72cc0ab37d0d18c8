"""Top-2 mixture-of-experts routing with a straight-through top-k mask (``softjax.top_k_mask_st``).

Run with ``python examples/moe_routing.py`` (add ``--plot PATH`` to save the
training curves); needs ``pip install -e ".[examples]"`` (optax, matplotlib).

Synthetic tokens come from 8 clusters. A layer of 8 linear experts (frozen,
so that each cluster has a well-defined correct pair) combines the outputs of
the 2 experts its router picks per token, ``y = mask @ expert_outputs / 2``;
the target of a token is the average output of its cluster's correct expert
pair, so a router that learns the right pairs drives the task loss to zero.
The linear router is trained with Adam on the task loss plus a load-balancing
loss (the squared coefficient of variation of the expert load). Two routers
start from the same weights:

* ``top_k_mask(scores, 2, mode="hard")``, the k-hot of ``jax.lax.top_k``: its
  gradient with respect to the scores is zero, so the router never moves;
* ``top_k_mask_st(scores, 2)``: the same k-hot mask in the forward pass (every
  token still uses exactly 2 experts), with the gradient of the soft mask.

The script prints the router gradient at initialisation and, for both, the
held-out task loss, load imbalance and routing accuracy (the fraction of
tokens sent to exactly their correct pair) before and after training.
"""

import argparse

import jax
import jax.numpy as jnp
import optax

import softjax as sj

N_FEATURES, N_EXPERTS, N_OUT, K = 16, 8, 8, 2
N_CLUSTERS, TOKENS_PER_CLUSTER = 8, 64
# Cluster c's correct experts: every expert is in two pairs, so perfect routing
# is also perfectly balanced.
PAIRS = jnp.array([[c, (c + 3) % N_EXPERTS] for c in range(N_CLUSTERS)])
SOFTNESS = 0.3
BALANCE_WEIGHT = 0.1
LEARNING_RATE = 0.05
STEPS = 300


def make_tokens(key, centers):
    """Tokens ``(N_CLUSTERS * TOKENS_PER_CLUSTER, N_FEATURES)`` and their cluster labels."""
    labels = jnp.repeat(jnp.arange(N_CLUSTERS), TOKENS_PER_CLUSTER)
    x = centers[labels] + 0.5 * jax.random.normal(key, (labels.size, N_FEATURES))
    return x, labels


def expert_outputs(experts, x):
    """Every expert's output for every token, ``(tokens, N_EXPERTS, N_OUT)``."""
    return jnp.einsum("td,edo->teo", x, experts)


def target(experts, x, labels):
    pair = PAIRS[labels]
    return jnp.take_along_axis(expert_outputs(experts, x), pair[:, :, None], axis=1).mean(axis=1)


def route(scores, straight_through):
    if straight_through:
        return sj.top_k_mask_st(scores, K, softness=SOFTNESS)  # hard k-hot forward, soft backward
    return sj.top_k_mask(scores, K, mode="hard")


def metrics(router, experts, x, labels, straight_through):
    """Task loss (MSE to the target), load CV^2 and routing accuracy."""
    mask = route(x @ router["w"] + router["b"], straight_through)
    y = jnp.einsum("te,teo->to", mask, expert_outputs(experts, x)) / K
    task = jnp.mean((y - target(experts, x, labels)) ** 2)
    # Fraction of tokens per expert, through the mask: differentiable with st only.
    load = jnp.mean(mask, axis=0)
    balance = jnp.var(load) / jnp.mean(load) ** 2
    correct = jnp.sum(jax.nn.one_hot(PAIRS[labels], N_EXPERTS), axis=1)
    accuracy = jnp.mean(jnp.all(mask == correct, axis=1))
    return task, balance, accuracy


def loss(router, experts, x, labels, straight_through):
    task, balance, _ = metrics(router, experts, x, labels, straight_through)
    return task + BALANCE_WEIGHT * balance


def train(router, experts, train_set, test_set, straight_through):
    """Full-batch Adam on the router; returns it and the per-step test metrics."""
    optimizer = optax.adam(LEARNING_RATE)

    def step(carry, _):
        router, state = carry
        grads = jax.grad(loss)(router, experts, *train_set, straight_through)
        updates, state = optimizer.update(grads, state, router)
        router = optax.apply_updates(router, updates)
        return (router, state), metrics(router, experts, *test_set, straight_through)

    (router, _), history = jax.lax.scan(step, (router, optimizer.init(router)), length=STEPS)
    return router, history


def plot(histories, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    titles = ("test task loss (MSE)", "load imbalance (CV$^2$)", "test routing accuracy")
    for ax, title, i in zip(axes, titles, range(3), strict=True):
        for label, history in histories.items():
            ax.plot(jnp.arange(STEPS + 1), history[i], label=label)
        ax.set(title=title, xlabel="Adam step")
    axes[0].set_yscale("log")
    axes[2].set_ylim(-0.03, 1.03)
    axes[2].legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="PATH", help="save the training curves to PATH (needs matplotlib)")
    args = parser.parse_args()

    k_centers, k_experts, k_train, k_test, k_router = jax.random.split(jax.random.PRNGKey(0), 5)
    centers = 4.0 * jax.random.normal(k_centers, (N_CLUSTERS, N_FEATURES)) / jnp.sqrt(N_FEATURES)
    experts = jax.random.normal(k_experts, (N_EXPERTS, N_FEATURES, N_OUT)) / jnp.sqrt(N_FEATURES)
    train_set = make_tokens(k_train, centers)
    test_set = make_tokens(k_test, centers)
    router = {"w": 0.1 * jax.random.normal(k_router, (N_FEATURES, N_EXPERTS)), "b": jnp.zeros(N_EXPERTS)}

    grad = jax.jit(jax.grad(loss), static_argnames="straight_through")
    for name, straight_through in (("hard mask:", False), ("st mask:  ", True)):
        norm = float(optax.global_norm(grad(router, experts, *train_set, straight_through)))
        print(f"Router gradient norm, {name} {norm:.4f}")

    histories = {}
    for name, straight_through in (("Hard mask:", False), ("ST mask:", True)):
        before = metrics(router, experts, *test_set, straight_through)
        run = jax.jit(train, static_argnames="straight_through")
        _, history = run(router, experts, train_set, test_set, straight_through=straight_through)
        after = [h[-1] for h in history]
        histories[name.rstrip(":")] = [jnp.append(b, h) for b, h in zip(before, history, strict=True)]
        print(
            f"{name:<10} test task loss {before[0]:.4f} -> {after[0]:.4f}, "
            f"load CV^2 {before[1]:.4f} -> {after[1]:.4f}, "
            f"routing accuracy {before[2]:.4f} -> {after[2]:.4f}"
        )

    if args.plot:
        plot(histories, args.plot)


if __name__ == "__main__":
    main()
