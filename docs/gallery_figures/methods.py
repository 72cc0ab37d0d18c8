"""The methods page: accuracy versus softness, a quick timing, and the benchmark harness's plots."""

from __future__ import annotations

import os
import shutil
import time

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import softjax as sj

from .common import METHODS, METHODS_DIR, ROOT, save_figure


def method_figures(n: int = 256, batch: int = 8, repeats: int = 5) -> dict[str, dict]:
    """Accuracy vs softness and a quick value+grad timing of ``sort`` per method.

    One normally optimised compile per method; ``softness`` is a traced
    argument so every softness value reuses it.
    """
    key_x, key_w = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(key_x, (batch, n), dtype=jnp.float32)
    w = jax.random.normal(key_w, (batch, n), dtype=jnp.float32)
    hard = np.sort(np.asarray(x), axis=-1)
    softnesses = np.array([0.01, 0.03, 0.1, 0.3, 1.0], dtype=np.float32)
    stats: dict[str, dict] = {}
    for method in METHODS:

        def loss(x, s, method=method):
            y = sj.sort(x, axis=-1, softness=s, method=method)
            return jnp.sum(w * y), y

        fn = jax.jit(jax.value_and_grad(loss, has_aux=True))
        t0 = time.perf_counter()
        compiled = fn.lower(x, jnp.float32(0.1)).compile()
        compile_s = time.perf_counter() - t0
        errors = []
        for s in softnesses:
            (_, y), _ = compiled(x, jnp.float32(s))
            errors.append(float(np.mean(np.abs(np.asarray(y) - hard))))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(x, jnp.float32(0.1)))
            times.append(time.perf_counter() - t0)
        print(f"gallery:   sort timing, {method}: compile {compile_s:.1f} s", flush=True)
        stats[method] = {"errors": errors, "ms": 1e3 * float(np.median(times)), "compile_s": compile_s}

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for method in METHODS:
        ax.loglog(softnesses, stats[method]["errors"], marker="o", label=method)
    ax.set_xlabel("softness")
    ax.set_ylabel("mean |sort_soft - sort_hard|")
    ax.set_title(f"accuracy of soft sort, x ~ N(0, 1), batch {batch} x n={n} (mode='smooth')")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    save_figure(fig, METHODS_DIR / "accuracy.png", left=0.13, bottom=0.15, top=0.9)

    fig, (ax_t, ax_c) = plt.subplots(1, 2, figsize=(9, 3.4))
    labels = list(METHODS)
    ax_t.barh(labels, [stats[m]["ms"] for m in labels], color="C0")
    ax_t.set_xlabel(f"ms, log scale (median of {repeats:d} calls)")
    ax_t.set_title(f"value+grad of sort, batch {batch} x n={n}")
    ax_c.barh(labels, [stats[m]["compile_s"] for m in labels], color="C1")
    ax_c.set_xlabel("s")
    ax_c.set_title("compile time of that function")
    ax_c.set_yticklabels([])
    ax_t.set_xscale("log")
    for ax, key, fmt in ((ax_t, "ms", "{:.3g} ms"), (ax_c, "compile_s", "{:.2g} s")):
        for row, m in enumerate(labels):
            ax.annotate(
                fmt.format(stats[m][key]),
                (stats[m][key], row),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
        ax.margins(x=0.25)
        ax.invert_yaxis()
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(
        f"QUICK TIMING during the docs build ({jax.devices()[0].platform}, float32, {os.cpu_count()} cores "
        "visible; not the benchmark harness)",
        fontsize=9,
    )
    save_figure(fig, METHODS_DIR / "timing.png", left=0.15, bottom=0.15, top=0.8, wspace=0.05)
    return stats


def harness_snippet() -> str:
    """Copy the benchmark harness's sort/rank/top_k plots if present; write the snippet.

    The snippet is included into ``docs/choosing-a-method.md``, so its image
    paths are relative to ``docs/``.
    """
    plots = [ROOT / "benchmarks" / "results" / "plots", ROOT / "benchmarks" / "plots"]
    found = next((p for p in plots if (p / "sort.png").is_file()), None)
    lines = []
    if found is None:
        lines.append(
            "*No benchmark-harness plots were present when these docs were built "
            "(run `python benchmarks/run.py --quick` first to include them here).*"
        )
    else:
        rel = found.relative_to(ROOT)
        lines.append(
            f"Plots of the benchmark harness, copied from `{rel}/` at build time "
            "(see `benchmarks/README.md` for what is measured and on which machine):"
        )
        lines.append("")
        for op in ("sort", "rank", "top_k"):
            if (found / f"{op}.png").is_file():
                shutil.copy(found / f"{op}.png", METHODS_DIR / f"harness_{op}.png")
                lines.append(f"![benchmark harness plot for {op}](generated/methods/harness_{op}.png)")
                lines.append("")
    text = "\n".join(lines) + "\n"
    (METHODS_DIR / "harness.md").write_text(text)
    return "harness plots copied" if found else "no harness plots"
