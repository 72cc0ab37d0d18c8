"""``top_k`` values of ``softsort``/``neuralsort``: near-linear sort path against ``k``-row contraction.

Run: ``python benchmarks/top_k_values_bench.py [METHOD ...]`` (CPU, float32, batch 8,
n = 4096, k = n / 16). Prints the minimum over 5 calls of the jitted
value+grad of ``sum(w * top_k(x, k)[0])`` per mode and path, and the hard
``jnp.sort`` forward of the same run. The row contraction is forced by
raising ``softjax._src.topk.VALUES_FROM_SORT_MIN_K`` above ``k``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import softjax as sj
from bench_measure import best_ms
from softjax._src import topk
from softjax._src.methods import registry

N, BATCH, REPEATS = 4096, 8, 5
METHODS = ("softsort", "neuralsort")
K = N // 16


def main(methods: tuple[str, ...] = METHODS) -> None:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((BATCH, N)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((BATCH, K)), jnp.float32)
    hard = best_ms(jax.jit(lambda v: jnp.sort(v, axis=-1)), x, REPEATS)
    print(f"hard jnp.sort forward: {hard:.2f} ms (n = {N}, batch {BATCH})")
    default = topk.VALUES_FROM_SORT_MIN_K
    try:
        for method in methods:
            for mode in registry.METHODS[method].near_linear_sort_modes:
                for path, threshold in (("sort path", default), ("k rows", K + 1)):
                    topk.VALUES_FROM_SORT_MIN_K = threshold
                    f = jax.jit(
                        jax.value_and_grad(
                            lambda v, m=mode, me=method: jnp.sum(w * sj.top_k(v, K, method=me, mode=m)[0])
                        )
                    )
                    ms = best_ms(f, x, REPEATS)
                    print(f"{method:10s} {mode:6s} {path:9s}: {ms:7.1f} ms = {ms / hard:5.1f}x hard sort fwd")
    finally:
        topk.VALUES_FROM_SORT_MIN_K = default


if __name__ == "__main__":
    import sys

    main(tuple(sys.argv[1:]) or METHODS)
