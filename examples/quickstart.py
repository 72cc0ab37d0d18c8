"""SoftJAX quick examples, runnable end to end.

Run with ``python examples/quickstart.py``. float64 is enabled first: the
printed numbers are the documented float64 results (in float32 they differ).
Each example is one function; ``main()`` runs them in order.
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import softjax as sj  # noqa: E402


def robust_median_regression():
    # Robust median regression: minimise the median absolute residual so that
    # one huge outlier does not pull the fit. The hard median's gradient only
    # sees one residual; the soft median spreads it over its neighbours.
    key = jax.random.PRNGKey(0)
    X = jax.random.normal(key, (20, 3))
    w_true = jnp.array([1.0, -2.0, 0.5])
    y = X @ w_true
    y = y.at[0].set(1e6)  # inject outlier

    def median_regression_loss(w, X, y, mode="smooth"):
        residuals = y - X @ w
        return sj.median(sj.abs(residuals, mode=mode), mode=mode)

    w = jnp.zeros(3)
    print("Hard grad:", jax.grad(median_regression_loss)(w, X, y, mode="hard"))
    print("Soft grad:", jax.grad(median_regression_loss)(w, X, y, mode="smooth"))

    for _ in range(50):
        w = w - 0.1 * jax.grad(median_regression_loss)(w, X, y)
    print("Learned w:", w, " (true:", w_true, ")")


def top_k_feature_selection():
    # Top-k feature selection: learn gates g whose soft top-k mask keeps the
    # features a trained linear model relies on. The hard top-k gradient is 0.
    n_features, k = 10, 3
    k1, k2 = jax.random.split(jax.random.PRNGKey(42))
    X = jax.random.normal(k1, (100, n_features))
    w_model = jnp.array([0, 2.0, 0, -1.5, 0, 0, 0, 5.0, 0, 0])
    y = X @ w_model + 0.1 * jax.random.normal(k2, (100,))

    def feature_selection_loss(g, X, y, w_model, mode="smooth"):
        _, soft_idx = sj.top_k(g, k=k, mode=mode, gated_grad=False)
        mask = soft_idx.sum(axis=0)
        y_pred = (X * mask) @ w_model
        return jnp.mean(sj.abs(y_pred - y))

    g = jnp.zeros(n_features)
    print("Hard grad:", jax.grad(feature_selection_loss)(g, X, y, w_model, mode="hard"))
    print("Soft grad:", jax.grad(feature_selection_loss)(g, X, y, w_model, mode="smooth"))

    for _ in range(5):
        g = g - 0.001 * jax.grad(feature_selection_loss)(g, X, y, w_model)
    print("Selected features:", jax.lax.top_k(g, k=k)[1])


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
    x = jnp.array(
        [
            [0.2, 0.8],
            [0.5, 0.3],
            [0.9, 0.1],
            [0.4, 0.7],
            [0.1, 0.4],
            [0.2, 0.7],
            [0.4, 0.1],
            [0.4, 0.7],
            [0.7, 0.29],
            [0.3, 0.3],
            [0.61, 0.25],
            [0.4, 0.6],
            [0.0, 0.1],
            [0.5, 0.3],
            [0.4, 0.9],
            [0.1, 0.57],
        ]
    )
    labels = jnp.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0])

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
    robust_median_regression()
    top_k_feature_selection()
    threshold_filtering()
    rule_based_classifier()


if __name__ == "__main__":
    main()
