"""SoftJAX benchmark harness: speed, compile time and memory of every operator vs the hard op.

Run from the repository root (see benchmarks/README.md)::

    python benchmarks/run.py --quick                 # every operator and method, two sizes
    python benchmarks/run.py                         # full run (all modes, all sizes)
    python benchmarks/run.py --ops sort,rank --methods neuralsort --modes smooth --sizes 256,1024

Writes ``bench.csv``, ``bench.md`` and ``plots/<op>.png`` to ``--out``
(default ``benchmarks/results/``); ``--results-md benchmarks/RESULTS.md`` also
writes the report there with its plots copied next to it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax

import bench_cases as cases
import bench_measure as measure
import bench_report as report

AXIS_SIZES = (64, 256, 1024, 4096, 16384)
ELEMENTWISE_SIZES = (256, 1024, 4096, 16384, 65536, 131072)
QUICK_AXIS_SIZES = (64, 256)
QUICK_ELEMENTWISE_SIZES = (256, 4096)
QUICK_MODES = ("smooth",)
QUICK_ALL_METHODS_OPS = ("argmax", "sort")  # together they use all six methods
QUICK_ALL_MODES_OPS = ("max", "sign")  # cheap ops; sort in c0/c1/c2 costs ~25 s CPU
COMPILE_CAP_FACTOR = 3  # compilation is allowed 3x the time cap before larger sizes are skipped
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _csv(kind: type, allowed: Sequence[Any] | None = None, name: str = ""):
    def parse(text: str) -> tuple[Any, ...]:
        items = tuple(kind(t.strip()) for t in text.split(",") if t.strip())
        if not items:
            raise argparse.ArgumentTypeError(f"{name}: empty list")
        bad = [i for i in items if allowed is not None and i not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(
                f"{name}: unknown {bad}; allowed: {', '.join(map(str, allowed))}"
            )
        return items

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"axis sizes {QUICK_AXIS_SIZES}, elementwise sizes {QUICK_ELEMENTWISE_SIZES}, "
        f"3 repeats, mode smooth; every operator with its default method, every method on "
        f"{'/'.join(QUICK_ALL_METHODS_OPS)}, every mode on {'/'.join(QUICK_ALL_MODES_OPS)}; "
        "--methods/--modes switch to their full cross product",
    )
    p.add_argument("--ops", type=_csv(str, cases.all_ops(), "--ops"), help="operators (default: all)")
    p.add_argument(
        "--methods",
        type=_csv(str, cases.ALL_METHODS, "--methods"),
        help="soft methods of axis-wise operators (default: all allowed); the hard baseline always runs",
    )
    p.add_argument(
        "--modes", type=_csv(str, cases.SOFT_MODES, "--modes"), help="modes (default: smooth,c0,c1,c2)"
    )
    p.add_argument(
        "--sizes",
        type=_csv(int, None, "--sizes"),
        help=f"sizes for every operator (default: axis length {AXIS_SIZES}, elements {ELEMENTWISE_SIZES})",
    )
    p.add_argument(
        "--elementwise-sizes",
        type=_csv(int, None, "--elementwise-sizes"),
        help="sizes for elementwise/comparison operators (overrides --sizes for them)",
    )
    p.add_argument("--batch", type=int, default=8, help="batch rows of axis-wise inputs (default 8)")
    p.add_argument("--repeats", type=int, help="timed calls per measurement (default 5, --quick 3)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument(
        "--time-cap",
        type=float,
        default=20.0,
        help="seconds; once a size of a case runs longer (warm-up + timed calls), or compiles "
        f"longer than {COMPILE_CAP_FACTOR}x this, its larger sizes are skipped (default 20)",
    )
    p.add_argument("--out", default=DEFAULT_OUT, help="results folder (default benchmarks/results/)")
    p.add_argument(
        "--results-md",
        help="also write the Markdown report here (e.g. benchmarks/RESULTS.md), "
        "with its plots copied to a plots/ folder beside it",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    args = p.parse_args(argv)
    if args.batch < 1 or (args.repeats is not None and args.repeats < 1):
        p.error("--batch and --repeats must be positive")
    if args.sizes and min(args.sizes) < 1:
        p.error("--sizes must be positive")
    args.repeats = args.repeats or (3 if args.quick else 5)
    return args


def plan(args: argparse.Namespace) -> list[tuple[str, list[tuple[str, str]]]]:
    """The (method, mode) series to run per operator (the hard baseline runs in addition).

    Default: every allowed method x every mode. ``--quick`` without ``--methods``/``--modes``
    runs a covering subset: each operator with its default method in mode smooth, every
    method on QUICK_ALL_METHODS_OPS, every mode on QUICK_ALL_MODES_OPS (default method).
    """
    out = []
    for op in args.ops or cases.all_ops():
        methods = cases.methods_for(op)
        if cases.family(op) == cases.AXISWISE:
            if args.methods:
                methods = tuple(m for m in methods if m in args.methods)
            elif args.quick and op not in QUICK_ALL_METHODS_OPS:
                methods = (cases.default_method(op),)
        modes = args.modes or (QUICK_MODES if args.quick else cases.SOFT_MODES)
        series = [(m, mode) for m in methods for mode in modes]
        if args.quick and not args.modes and op in QUICK_ALL_MODES_OPS:
            first = cases.default_method(op) if cases.family(op) == cases.AXISWISE else "-"
            if first in methods:
                series += [(first, mode) for mode in cases.SOFT_MODES if mode not in modes]
        out.append((op, series))
    return out


def _sizes(args: argparse.Namespace, fam: str) -> tuple[int, ...]:
    if fam == cases.ELEMENTWISE:
        chosen = (
            args.elementwise_sizes
            or args.sizes
            or (QUICK_ELEMENTWISE_SIZES if args.quick else ELEMENTWISE_SIZES)
        )
    else:
        chosen = args.sizes or (QUICK_AXIS_SIZES if args.quick else AXIS_SIZES)
    return tuple(sorted(set(chosen)))


def _print_row(row: dict[str, Any]) -> None:
    def num(key: str, unit: str) -> str:
        v = row.get(key)
        return f"{v:9.3g}{unit}" if v is not None else " " * (9 + len(unit))

    def ratio(key: str) -> str:
        v = row.get(key)
        return f" ×{v:<6.3g}" if v is not None else " " * 8

    print(
        f"{row['op']:<14}{row['method']:<16}{row['mode']:<7}n={row['n']:<7}"
        f"fwd{num('fwd_ms', 'ms')}{ratio('fwd_ratio')} v+g{num('vg_ms', 'ms')}{ratio('vg_ratio')}"
        f" (/hard fwd{ratio('vg_fwd_ratio')}) "
        f"compile{num('compile_vg_s', 's')} mem{num('mem_vg_mb', 'MB')}  {row['status'][:70]}",
        flush=True,
    )


def _add_ratios(row: dict[str, Any], base: dict[str, Any] | None) -> None:
    pairs = (
        ("fwd_ratio", "fwd_ms"),
        ("vg_ratio", "vg_ms"),
        ("compile_ratio", "compile_vg_s"),
        ("mem_ratio", "mem_vg_mb"),
    )
    for ratio, col in pairs:
        a, b = row.get(col), (base or {}).get(col)
        row[ratio] = a / b if a is not None and b else None
    # value+grad against the hard op's *forward* (the figure the issues quote).
    a, b = row.get("vg_ms"), (base or {}).get("fwd_ms")
    row["vg_fwd_ratio"] = a / b if a is not None and b else None


def run_series(
    args: argparse.Namespace,
    op: str,
    method: str,
    mode: str,
    baselines: dict[int, dict[str, Any]],
    rows: list[dict[str, Any]],
) -> None:
    """One case (op, method, mode) over ascending sizes, applying the time cap and memory skips."""
    fam = cases.family(op)
    skip: str | None = None
    for n in _sizes(args, fam):
        row: dict[str, Any] = {
            "family": fam,
            "op": op,
            "method": method,
            "mode": mode,
            "n": n,
            "batch": args.batch if fam == cases.AXISWISE else 1,
            "dtype": args.dtype,
        }
        if skip is not None:
            row["status"] = skip
        else:
            try:
                built = cases.build(op, method, mode, n, args.batch, args.dtype)
                row.update(measure.measure(built.fn, built.inputs, args.repeats, args.time_cap))
            except Exception as err:  # noqa: BLE001 - building inputs can fail too (e.g. host OOM)
                row["status"] = measure.classify(err)
            status = row["status"]
            if status.startswith("unavailable"):
                skip = status  # same answer at every size; do not retrace
            elif status.startswith(("OOM", "skipped (memory")):
                skip = f"skipped (memory: n={n} did not fit)"
            else:
                compile_s = (row.get("compile_fwd_s") or 0.0) + (row.get("compile_vg_s") or 0.0)
                run_s = row.get("wall_s", 0.0) - compile_s
                if run_s > args.time_cap:
                    skip = f"skipped (time cap: n={n} ran {run_s:.0f} s > {args.time_cap:g} s)"
                elif compile_s > COMPILE_CAP_FACTOR * args.time_cap:
                    cap = COMPILE_CAP_FACTOR * args.time_cap
                    skip = f"skipped (time cap: n={n} compiled {compile_s:.0f} s > {cap:g} s)"
        if method == cases.HARD:
            baselines[n] = row
        _add_ratios(row, baselines.get(n))
        rows.append(row)
        _print_row(row)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    start_wall = time.perf_counter()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    info = measure.machine_info()
    print(
        f"JAX devices: {jax.devices()} (backend {jax.default_backend()}), jax {jax.__version__}, "
        f"dtype {args.dtype}, batch {args.batch}, repeats {args.repeats}, time cap {args.time_cap:g} s",
        flush=True,
    )

    rows: list[dict[str, Any]] = []
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "bench.csv")
    for op, series in plan(args):
        baselines: dict[int, dict[str, Any]] = {}
        run_series(args, op, cases.HARD, cases.HARD, baselines, rows)
        for method, mode in series:
            run_series(args, op, method, mode, baselines, rows)
            report.write_csv(rows, csv_path)  # kept current: an interrupted run keeps its rows

    report.write_csv(rows, csv_path)
    plots = [] if args.no_plots else report.write_plots(rows, os.path.join(args.out, "plots"))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/run.py " + shlex.join(sys.argv[1:] if argv is None else list(argv)),
        "machine": info,
        "load_start": f"{load_start:.1f}",
        "load_end": f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "nan",
        "wall_s": time.perf_counter() - start_wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "note": "`--quick` run (a covering subset at two small sizes), not the full benchmark"
        if args.quick
        else "",
    }
    text = report.report(rows, meta, plots, "plots")
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write(text)
    if args.results_md:
        folder = os.path.dirname(os.path.abspath(args.results_md))
        copied = report.copy_plots(plots, os.path.join(folder, "plots"))
        with open(args.results_md, "w") as f:
            f.write(report.report(rows, meta, copied, "plots"))

    print()
    for fam in (cases.AXISWISE, cases.ELEMENTWISE):
        fam_rows = [r for r in rows if r["family"] == fam]
        if fam_rows:
            print(report.markdown_table(fam_rows), end="\n\n")
    bad = sum(r["status"] != "ok" for r in rows)
    print(
        f"{len(rows)} rows ({bad} not ok) in {meta['wall_s']:.0f} s wall / {meta['cpu_s']:.0f} s CPU; "
        f"load average {meta['load_start']} -> {meta['load_end']}; results in {args.out}",
        flush=True,
    )
    return rows


if __name__ == "__main__":
    main()
