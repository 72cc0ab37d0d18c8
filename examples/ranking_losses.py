"""Learning to rank with a soft NDCG loss (``softjax.losses.ndcg``).

Run with ``python examples/ranking_losses.py``. float64 is enabled first so
that the printed numbers are reproducible.

Synthetic queries: every query has 20 documents with 8 features each; a
document's graded relevance (0 to 4) is a noisy linear function of its
features. A linear scorer ``s = X @ w`` is trained by plain gradient descent
on ``1 - ndcg@10`` with soft ranks. The hard NDCG@10 is piecewise constant in
``w``, so its gradient is zero; the soft one is informative. The script prints
the hard NDCG@10 on held-out queries before and after training.
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from softjax import losses  # noqa: E402

N_FEATURES, N_DOCS, K = 8, 20, 10
SOFTNESS = 1.0
LEARNING_RATE = 2.0
STEPS = 100


def make_queries(key, n_queries, w_true):
    """Features ``(n_queries, N_DOCS, N_FEATURES)`` and relevance grades 0..4."""
    k_x, k_noise = jax.random.split(key)
    X = jax.random.normal(k_x, (n_queries, N_DOCS, N_FEATURES))
    latent = X @ w_true + 0.5 * jax.random.normal(k_noise, (n_queries, N_DOCS))
    relevance = jnp.digitize(latent, jnp.array([0.5, 1.5, 2.5, 3.5])).astype(X.dtype)
    return X, relevance


def hard_ndcg(w, X, relevance):
    return jnp.mean(losses.ndcg(X @ w, relevance, k=K, mode="hard"))


def loss(w, X, relevance, mode="smooth"):
    return 1.0 - jnp.mean(losses.ndcg(X @ w, relevance, k=K, softness=SOFTNESS, mode=mode))


def main():
    k_true, k_train, k_test, k_init = jax.random.split(jax.random.PRNGKey(0), 4)
    w_true = jax.random.normal(k_true, (N_FEATURES,))
    X_train, rel_train = make_queries(k_train, 200, w_true)
    X_test, rel_test = make_queries(k_test, 200, w_true)
    w = 0.1 * jax.random.normal(k_init, (N_FEATURES,))

    grad = jax.jit(jax.grad(loss), static_argnames="mode")
    print(f"Hard-mode gradient norm: {float(jnp.linalg.norm(grad(w, X_train, rel_train, mode='hard'))):.4f}")
    print(f"Soft-mode gradient norm: {float(jnp.linalg.norm(grad(w, X_train, rel_train))):.4f}")
    evaluate = jax.jit(hard_ndcg)
    before = float(evaluate(w, X_test, rel_test))

    for _ in range(STEPS):
        w = w - LEARNING_RATE * grad(w, X_train, rel_train)

    after = float(evaluate(w, X_test, rel_test))
    print(f"Test NDCG@{K} before training: {before:.4f}")
    print(f"Test NDCG@{K} after training:  {after:.4f}")
    cosine = float(jnp.dot(w, w_true) / (jnp.linalg.norm(w) * jnp.linalg.norm(w_true)))
    print(f"Cosine(w, w_true): {cosine:.4f}")
    print(f"Test NDCG@{K} of w_true:       {float(evaluate(w_true, X_test, rel_test)):.4f}")


if __name__ == "__main__":
    main()
