"""Write benchmark rows as CSV, a Markdown report (RESULTS-style) and PNG plots."""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterable
from typing import Any

COLUMNS = (
    "family",
    "op",
    "method",
    "mode",
    "n",
    "batch",
    "dtype",
    "status",
    "fwd_ms",
    "fwd_ratio",
    "vg_ms",
    "vg_ratio",
    "vg_fwd_ratio",
    "compile_fwd_s",
    "compile_vg_s",
    "compile_ratio",
    "mem_fwd_mb",
    "mem_vg_mb",
    "mem_ratio",
    "rss_peak_mb",
    "device_peak_mb",
    "repeats_done",
    "wall_s",
)
# (column, header) pairs of the Markdown table; every time has its ratio to hard next to it.
TABLE = (
    ("op", "op"),
    ("method", "method"),
    ("mode", "mode"),
    ("n", "n"),
    ("status", "status"),
    ("fwd_ms", "fwd ms"),
    ("fwd_ratio", "fwd ×hard"),
    ("vg_ms", "val+grad ms"),
    ("vg_ratio", "val+grad ×hard"),
    ("vg_fwd_ratio", "val+grad ×hard fwd"),
    ("compile_vg_s", "compile s"),
    ("compile_ratio", "compile ×hard"),
    ("mem_vg_mb", "XLA mem MB"),
    ("mem_ratio", "mem ×hard"),
    ("rss_peak_mb", "peak RSS MB"),
    ("repeats_done", "repeats"),
)
HEADLINE_SIZES = (4096, 16384)


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def write_csv(rows: list[dict[str, Any]], path: str) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _fmt(row.get(c)) for c in COLUMNS})


def markdown_table(rows: Iterable[dict[str, Any]], status_width: int = 60) -> str:
    lines = ["| " + " | ".join(h for _, h in TABLE) + " |", "|" + "---|" * len(TABLE)]
    for row in rows:
        cells = []
        for col, _ in TABLE:
            text = _fmt(row.get(col))
            if col == "status" and len(text) > status_width:
                text = text[: status_width - 1] + "…"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def headline(rows: list[dict[str, Any]], op: str = "sort") -> str:
    """Ratios to hard of ``op`` at n = 4096 and 16384, one line per method and mode."""
    picked = {(r["method"], r["mode"], r["n"]): r for r in rows if r["op"] == op and r["n"] in HEADLINE_SIZES}
    keys = sorted({(m, mo) for m, mo, _ in picked}, key=lambda k: (k[0] != "hard", k))
    if not keys:
        return ""
    kinds = ("fwd ×hard", "val+grad ×hard", "val+grad ×hard fwd")
    head = ["method", "mode"] + [f"{h} (n={n})" for n in HEADLINE_SIZES for h in kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, mode in keys:
        cells = [method, mode]
        for n in HEADLINE_SIZES:
            r = picked.get((method, mode, n), {})
            if r.get("status") != "ok":
                cells += [r.get("status", "—")[:30], "", ""]
            elif method == "hard":  # the baseline's own times, for scale
                cells += [f"{_fmt(r.get('fwd_ms'))} ms", f"{_fmt(r.get('vg_ms'))} ms", ""]
            else:
                cells += [_fmt(r.get(c)) for c in ("fwd_ratio", "vg_ratio", "vg_fwd_ratio")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_plots(rows: list[dict[str, Any]], folder: str) -> list[str]:
    """One PNG per operator: log-log forward time, value+grad time and memory vs size.

    One line per method (colour) and mode (line style); the hard baseline is black.
    Returns the written paths; ``[]`` with a printed note if matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plots written")
        return []
    os.makedirs(folder, exist_ok=True)
    styles = {"smooth": "-", "c0": "--", "c1": "-.", "c2": ":", "hard": "-"}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    panels = (
        ("fwd_ms", "forward time [ms]"),
        ("vg_ms", "value+grad time [ms]"),
        ("mem_vg_mb", "value+grad XLA memory [MB]"),
    )
    paths = []
    for op in dict.fromkeys(r["op"] for r in rows):
        op_rows = [r for r in rows if r["op"] == op]
        series: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in op_rows:
            series.setdefault((r["method"], r["mode"]), []).append(r)
        if not any(r.get("fwd_ms") is not None for r in op_rows):
            continue
        methods = [m for m in dict.fromkeys(k[0] for k in series) if m != "hard"]
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        for (method, mode), pts in series.items():
            is_hard = method == "hard"
            colour = "black" if is_hard else colours[methods.index(method) % len(colours)]
            label = "hard (jax)" if is_hard else (method if method != "-" else "soft") + f" / {mode}"
            for ax, (col, _) in zip(axes, panels, strict=True):
                xy = sorted((r["n"], r[col]) for r in pts if r.get(col) is not None)
                if xy:
                    ax.plot(
                        *zip(*xy, strict=True),
                        styles.get(mode, "-"),
                        color=colour,
                        marker="o",
                        ms=3,
                        lw=2.2 if is_hard else 1.3,
                        label=label,
                    )
        sizes = sorted({r["n"] for r in op_rows})
        xlabel = "n (axis length)" if op_rows[0]["family"] == "axiswise" else "n (elements)"
        for ax, (_, title) in zip(axes, panels, strict=True):
            ax.set(xscale="log", yscale="log", xlabel=xlabel, title=title)
            ax.set_xticks(sizes, [str(n) for n in sizes])
            ax.minorticks_off()  # log minor ticks dominate plotting time
            ax.grid(True, alpha=0.3)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="center right", fontsize=8)
        fig.suptitle(
            f"{op}  (batch {op_rows[0]['batch']}, {op_rows[0]['dtype']})"
            if op_rows[0]["family"] == "axiswise"
            else f"{op}  ({op_rows[0]['dtype']})"
        )
        fig.subplots_adjust(left=0.05, right=0.83, bottom=0.13, top=0.85, wspace=0.25)  # tight_layout is slow
        path = os.path.join(folder, f"{op}.png")
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths


def report(rows: list[dict[str, Any]], meta: dict[str, Any], plots: list[str], plot_dir_rel: str) -> str:
    """The RESULTS-style Markdown: machine, date, command, headline, plots, full table."""
    out = ["# SoftJAX benchmark results", ""]
    out += [f"- **date**: {meta['date']}", f"- **command**: `{meta['command']}`"]
    if meta.get("note"):
        out += [f"- **note**: {meta['note']}"]
    out += [f"- **{k}**: {v}" for k, v in meta["machine"].items()]
    out += [
        f"- **load average** (1 min) at start / end: {meta['load_start']} / {meta['load_end']}",
        f"- **total**: {meta['wall_s']:.0f} s wall, {meta['cpu_s']:.0f} s CPU (user+sys), {len(rows)} rows",
        "",
        (
            "Times are medians over repeats after one warm-up call (`block_until_ready`); "
            "`×hard` is the ratio to the matching `jax.numpy`/`jax.lax` operator measured in the "
            "same run (same n, batch, dtype); *val+grad ×hard fwd* divides by the hard op's forward time; "
            "*repeats* 0 means a single call slower than the time cap. *val+grad* differentiates "
            "`sum(w * op(x))` for a fixed "
            "random `w`. *XLA mem* is `memory_analysis()` temp + argument + output bytes of the compiled "
            "value+grad function; *peak RSS* is the process high-water mark so far (cumulative)."
        ),
        "",
    ]
    for op in ("sort",):
        table = headline(rows, op)
        if table:
            out += [f"## `{op}`: ratio to hard at n = {', '.join(map(str, HEADLINE_SIZES))}", "", table, ""]
    if plots:
        out += ["## Plots", ""]
        out += [f"![{os.path.basename(p)[:-4]}]({plot_dir_rel}/{os.path.basename(p)})" for p in plots]
        out += [""]
    for fam, title in (
        ("axiswise", "Axis-wise operators"),
        ("elementwise", "Elementwise and comparison operators"),
    ):
        fam_rows = [r for r in rows if r["family"] == fam]
        if fam_rows:
            out += [f"## {title}", "", markdown_table(fam_rows), ""]
    failures = [r for r in rows if r["status"] != "ok"]
    out += [f"Rows not `ok`: {len(failures)} of {len(rows)}.", ""]
    return "\n".join(out)


def copy_plots(plots: list[str], folder: str) -> list[str]:
    os.makedirs(folder, exist_ok=True)
    copied = []
    for p in plots:
        dest = os.path.join(folder, os.path.basename(p))
        if not (os.path.exists(dest) and os.path.samefile(p, dest)):
            shutil.copyfile(p, dest)
        copied.append(dest)
    return copied
