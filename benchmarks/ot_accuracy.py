"""Float32 robustness sweep of ``method="ot"`` (issue 5 acceptance).

For every mode and the operators ``sort``, ``rank``, ``argsort``, ``max``,
``top_k`` and ``quantile`` on random normal float32 input (batch 8), checks
that values and gradients are finite and that the float32 gradient agrees
with the float64 one to 1e-2 relative (Frobenius norm), and prints a table::

    python benchmarks/ot_accuracy.py                    # n = 8, 16, 64, 256, 1024
    python benchmarks/ot_accuracy.py --sizes 8,64       # a quicker subset

Exit status 1 if any case fails. Each (operator, mode, n, dtype) compiles
its own solver, so the full sweep takes tens of minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import softjax as sj  # noqa: E402

OPS = {
    "sort": lambda x, **kw: sj.sort(x, **kw),
    "rank": lambda x, **kw: sj.rank(x, **kw),
    "argsort": lambda x, **kw: sj.argsort(x, **kw),
    "max": lambda x, **kw: sj.max(x, **kw),
    "top_k": lambda x, **kw: sj.top_k(x, min(3, x.shape[-1]), **kw)[0],
    "quantile": lambda x, **kw: sj.quantile(x, 0.3, **kw),
}
MODES = ("smooth", "c0", "c1", "c2")


def loss_and_grad(name, mode, softness):
    def loss(x):
        y = OPS[name](x, axis=-1, method="ot", mode=mode, softness=softness)
        w = jnp.cos(jnp.arange(y.size, dtype=y.dtype)).reshape(y.shape)
        return jnp.sum(w * y)

    return jax.jit(jax.value_and_grad(loss))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,16,64,256,1024")
    parser.add_argument("--softness", type=float, default=0.1)
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    failures = 0
    print(f"device: {jax.devices()[0]}  softness {args.softness}  batch 8")
    print(f"{'op':9s} {'mode':6s} {'n':>5s} {'finite':>6s} {'rel grad err':>12s} {'s':>6s}")
    for n in sizes:
        x64 = jax.random.normal(jax.random.key(n), (8, n), jnp.float64)
        for name in args.ops.split(","):
            for mode in args.modes.split(","):
                t0 = time.perf_counter()
                fn = loss_and_grad(name, mode, args.softness)
                v32, g32 = fn(x64.astype(jnp.float32))
                _v64, g64 = fn(x64)
                finite = bool(np.isfinite(v32)) and bool(np.all(np.isfinite(g32)))
                err = float(jnp.linalg.norm(g32 - g64) / jnp.maximum(jnp.linalg.norm(g64), 1e-30))
                ok = finite and err <= 1e-2
                failures += not ok
                print(
                    f"{name:9s} {mode:6s} {n:5d} {finite!s:>6s} {err:12.2e} "
                    f"{time.perf_counter() - t0:6.1f}{'' if ok else '  FAIL'}",
                    flush=True,
                )
    print(f"{failures} failing case(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
