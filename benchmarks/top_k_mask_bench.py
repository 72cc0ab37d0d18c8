"""Benchmark of ``sj.top_k_mask`` (``method="fast_soft_sort"``, the default).

Run from the repository root (float32, x64 disabled, CPU or any JAX device)::

    python benchmarks/top_k_mask_bench.py [--repeats 5]

Prints, as the minimum of ``--repeats`` compiled calls after one warm-up
call (``block_until_ready``), batch 8:

1. value+grad of ``sum(w * top_k_mask(x, k))`` at n = 16384 for k = 64 and
   k = n / 2, divided by the forward time of hard ``jnp.sort`` measured in
   the same run;
2. the same at n = 4096, k = 256, against the route users took before
   ``top_k_mask`` existed, ``top_k(x, k)[1].sum(-2)`` (O(k n)).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

import softjax as sj


def best_time(f, *args, repeats: int) -> float:
    jax.block_until_ready(f(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    for n, ks in ((16384, (64, 8192)), (4096, (256,))):
        x = jax.random.normal(jax.random.key(0), (8, n), jnp.float32)
        w = jax.random.normal(jax.random.key(1), (8, n), jnp.float32)
        hard = best_time(jax.jit(lambda v: jnp.sort(v, axis=-1)), x, repeats=args.repeats)
        for k in ks:
            mask = jax.jit(jax.value_and_grad(lambda v, k=k, w=w: jnp.sum(w * sj.top_k_mask(v, k))))
            t = best_time(mask, x, repeats=args.repeats)
            line = (
                f"n={n} k={k}: top_k_mask value+grad {t * 1e3:.2f} ms = {t / hard:.1f}x "
                f"hard jnp.sort forward ({hard * 1e3:.2f} ms)"
            )
            if n == 4096:
                route = jax.jit(
                    jax.value_and_grad(lambda v, k=k, w=w: jnp.sum(w * sj.top_k(v, k)[1].sum(-2)))
                )
                tr = best_time(route, x, repeats=max(1, args.repeats // 2))
                line += f"; top_k(x, k)[1].sum(-2) value+grad {tr * 1e3:.1f} ms ({tr / t:.0f}x slower)"
            print(line, flush=True)


if __name__ == "__main__":
    main()
