"""``neuralsort`` in ``mode="smooth"``: the window path against the dense rows, in one run.

Run: ``python benchmarks/neuralsort_smooth_bench.py 1024 4096 16384`` (CPU,
float32, batch 8, the default softness). For ``sort``, ``rank`` and ``top_k``
values (``k = n / 16``) it prints a Markdown row per path: the hard
``jnp.sort`` forward, the soft forward and jitted value+grad of
``sum(w * op(x))`` (minimum of 3 calls, 1 for the dense rows at n >= 16384),
value+grad over the hard forward (``rank``: over the hard double argsort),
and the XLA temporary bytes of the value+grad. The dense rows are forced by
raising ``neuralsort_window.MIN_N`` and ``neuralsort.SMOOTH_INTERPOLATED_MIN_N``.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import softjax as sj
from bench_measure import best_ms
from softjax._src.kernels import neuralsort_window
from softjax._src.methods import neuralsort


def temp_mb(f, x):
    return f.lower(x).compile().memory_analysis().temp_size_in_bytes / 2**20


def loss(op: str, n: int, w: jax.Array):
    """``sum(w * op(x))``; ``top_k``: its values with ``k = n / 16``."""
    if op == "top_k":
        k = n // 16
        return lambda v: jnp.sum(w[:, :k] * sj.top_k(v, k)[0])
    return lambda v: jnp.sum(w * getattr(sj, op)(v, axis=-1))


def use_dense_rows(dense: bool) -> None:
    large = 10**9
    neuralsort_window.MIN_N = large if dense else 1024
    neuralsort.SMOOTH_INTERPOLATED_MIN_N = large if dense else 1024


def main(sizes: list[int]) -> None:
    print("| op | path | n | hard fwd ms | fwd ms | val+grad ms | val+grad ×hard fwd | XLA temp MB |")
    print("|---|---|---|---|---|---|---|---|")
    for n in sizes:
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal((8, n)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((8, n)), jnp.float32)
        hard = best_ms(jax.jit(lambda v: jnp.sort(v, axis=-1)), x, 5)
        hard_rank = best_ms(jax.jit(lambda v: jnp.argsort(jnp.argsort(v, axis=-1), axis=-1)), x, 5)
        for op in ("sort", "rank", "top_k"):
            for path in ("window", "dense"):
                if path == "dense" and n >= 16384 and op != "sort":
                    continue  # minutes each
                use_dense_rows(path == "dense")
                fn = loss(op, n, w)
                fwd, vg = jax.jit(fn), jax.jit(jax.value_and_grad(fn))
                reps = 1 if (path == "dense" and n >= 16384) else 3
                t_f, t_vg, mem = best_ms(fwd, x, reps), best_ms(vg, x, reps), temp_mb(vg, x)
                ratio = t_vg / (hard_rank if op == "rank" else hard)
                cells = (op, path, n, f"{hard:.2f}", f"{t_f:.1f}", f"{t_vg:.1f}", f"{ratio:.1f}", round(mem))
                print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    use_dense_rows(False)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1024, 4096])
