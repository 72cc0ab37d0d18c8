"""SoftJAX quick examples (spec part 1 §9), runnable end to end.

Run with ``python examples/quickstart.py``. float64 is enabled first: the
printed numbers are the documented float64 results (in float32 they differ).
Each example is one function; ``main()`` runs them in order.
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import softjax as sj  # noqa: E402


def threshold_filtering():
    # Differentiable threshold filtering: learn a threshold t such that the
    # values of x above t sum to the target. The hard comparison has a zero
    # gradient; the soft one (sj.greater) lets gradient descent move t.
    x = jnp.array([0.2, 0.8, 0.5, 1.2, 0.1])
    target_sum = 2.0  # sum of values above threshold = 2.0 (i.e. 0.8 + 1.2)

    def filter_loss(t, x, target, mode="smooth"):
        mask = sj.greater(x, t, mode=mode)
        return (jnp.sum(mask * x) - target) ** 2

    t = jnp.array(0.0)
    print("Hard grad:", jax.grad(filter_loss)(t, x, target_sum, mode="hard"))
    print("Soft grad:", jax.grad(filter_loss)(t, x, target_sum, mode="smooth"))

    for _ in range(20):
        t = t - 0.1 * jax.grad(filter_loss)(t, x, target_sum)
    print("Learned threshold:", t)


def rule_based_classifier():
    # Rule-based classifier: learn decision bounds [lo, hi] with soft logic and
    # straight-through estimation; the rule fires if any element of a sample
    # lies inside [lo, hi]. @sj.st evaluates the loss with hard comparisons
    # (forward value) and differentiates the soft ones (mode, default smooth).
    x = jnp.array([[0.2, 0.8], [0.5, 0.3], [0.9, 0.1], [0.4, 0.7], [0.1, 0.4], [0.2, 0.7], [0.4, 0.1], [0.4, 0.7],
                   [0.7, 0.29], [0.3, 0.3], [0.61, 0.25], [0.4, 0.6], [0.0, 0.1], [0.5, 0.3], [0.4, 0.9], [0.1, 0.57]])
    labels = jnp.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0,
                        0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0])

    @sj.st
    def rule_loss(params, x, labels, mode="smooth"):
        lo, hi = params[0], params[1]
        above = sj.greater(x, lo, mode=mode)
        below = sj.less(x, hi, mode=mode)
        in_range = sj.logical_and(above, below)
        preds = sj.any(in_range, axis=-1)
        return ((preds - labels) ** 2).sum()

    params = jnp.array([0.0, 1.0])  # start with wide range [0, 1]
    print("Hard grad:", jax.grad(rule_loss)(params, x, labels, mode="hard"))
    print("Soft grad:", jax.grad(rule_loss)(params, x, labels, mode="smooth"))

    for _ in range(20):
        params = params - 0.01 * jax.grad(rule_loss)(params, x, labels)
    print("Learned [lo, hi]:", params)


def main():
    threshold_filtering()
    rule_based_classifier()


if __name__ == "__main__":
    main()
