"""Benchmark of ``method="ot"`` (issue 5): speed against hard ``jnp.sort`` and the c0 backward.

Run from the repository root (float32, x64 disabled, CPU or any JAX device)::

    python benchmarks/ot_bench.py              # all three sections
    python benchmarks/ot_bench.py --repeats 5 --skip-2048

Prints, each time as the median of ``--repeats`` calls after one warm-up call
(compiled, ``block_until_ready``):

1. ``sort(x, method="ot", mode="smooth")`` forward and value+grad of
   ``sum(w * sort(x))`` at n = 256 and 1024, batch 8, and the same divided by
   the forward time of hard ``jnp.sort`` measured in the same run;
2. the gradient of ``sum(w * sort(x, method="ot", mode="c0"))`` at n = 1024
   (batch 1 and batch 8) - the prior implementation took 8-10 s per call
   because of a dense SVD of the dual Hessian;
3. c0 forward + backward at n = 2048 (prior: tried to allocate 137 GB), with
   XLA's compiled memory estimate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("JAX_ENABLE_X64", "0")

import jax
import jax.numpy as jnp

import softjax as sj


def timed(fn, *args, repeats: int) -> tuple[float, float]:
    """(median seconds per call, first-call seconds incl. compile)."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), first


def compiled_mb(fn, *args) -> float:
    mem = fn.lower(*args).compile().memory_analysis()
    if mem is None:
        return float("nan")
    total = mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes
    return total / 2**20


def sort_case(mode: str, n: int, batch: int):
    x = jax.random.normal(jax.random.key(0), (batch, n), jnp.float32)
    w = jax.random.normal(jax.random.key(1), (batch, n), jnp.float32)

    def value(x):
        return sj.sort(x, axis=-1, method="ot", mode=mode)

    def loss(x):
        return jnp.sum(w * value(x))

    return x, jax.jit(value), jax.jit(jax.value_and_grad(loss))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-2048", action="store_true")
    args = parser.parse_args()
    print(f"devices: {jax.devices()}  dtype: float32  repeats: {args.repeats}")

    print("\n1. sort, method='ot', mode='smooth', batch 8 (ratio = time / hard jnp.sort forward)")
    print(
        f"{'n':>6} {'hard fwd ms':>12} {'ot fwd ms':>10} {'x hard':>8} {'ot val+grad ms':>15} {'x hard':>8}"
    )
    for n in (256, 1024):
        x, fwd, vg = sort_case("smooth", n, 8)
        hard, _ = timed(jax.jit(lambda x: jnp.sort(x, axis=-1)), x, repeats=max(args.repeats, 10))
        t_fwd, _ = timed(fwd, x, repeats=args.repeats)
        t_vg, _ = timed(vg, x, repeats=args.repeats)
        print(
            f"{n:>6} {hard * 1e3:>12.3f} {t_fwd * 1e3:>10.1f} {t_fwd / hard:>8.0f} "
            f"{t_vg * 1e3:>15.1f} {t_vg / hard:>8.0f}"
        )

    print("\n2. sort, method='ot', mode='c0', n = 1024: value+grad (target < 2 s)")
    for batch in (1, 8):
        x, fwd, vg = sort_case("c0", 1024, batch)
        t_fwd, _ = timed(fwd, x, repeats=args.repeats)
        t_vg, first = timed(vg, x, repeats=args.repeats)
        print(
            f"  batch {batch}: forward {t_fwd:.3f} s, value+grad {t_vg:.3f} s "
            f"(first call incl. compile {first:.1f} s)"
        )

    if not args.skip_2048:
        print("\n3. sort, method='ot', mode='c0', n = 2048, batch 1: forward + backward")
        x, fwd, vg = sort_case("c0", 2048, 1)
        t_vg, first = timed(vg, x, repeats=1)
        _, g = vg(x)
        print(
            f"  value+grad {t_vg:.2f} s (first call {first:.1f} s), grad finite: "
            f"{bool(jnp.all(jnp.isfinite(g)))}, XLA compiled memory {compiled_mb(vg, x):.0f} MB"
        )


if __name__ == "__main__":
    main()
