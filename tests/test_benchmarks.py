"""The benchmark harness (benchmarks/run.py) on a tiny configuration, so that it cannot rot.

No timing is asserted: only that every row is recorded with its status and
ratio columns, that the output files exist, and that failures become rows.
"""

from __future__ import annotations

import csv
import importlib.util
import math
import pathlib

import jax.numpy as jnp
import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"softjax_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # run.py puts benchmarks/ on sys.path for its helpers
    return module


run = _load("run")
measure = run.measure
cases = run.cases


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    md = out / "published" / "RESULTS.md"
    md.parent.mkdir()
    argv = [
        "--ops",
        "sort,greater",
        "--methods",
        "neuralsort",
        "--modes",
        "smooth",
        "--sizes",
        "16",
        "--repeats",
        "1",
        "--out",
        str(out),
        "--results-md",
        str(md),
    ]
    rows = run.main(argv)
    return rows, out, md


def test_tiny_run_rows(tiny):
    rows, _, _ = tiny
    keys = [(r["op"], r["method"], r["mode"], r["n"]) for r in rows]
    assert keys == [
        ("sort", "hard", "hard", 16),
        ("sort", "neuralsort", "smooth", 16),
        ("greater", "hard", "hard", 16),
        ("greater", "-", "smooth", 16),
    ]
    for r in rows:
        assert r["status"] == "ok", r
        assert r["dtype"] == "float32"
        for col in (
            "fwd_ms",
            "vg_ms",
            "compile_vg_s",
            "mem_vg_mb",
            "rss_peak_mb",
            "fwd_ratio",
            "vg_ratio",
            "vg_fwd_ratio",
            "compile_ratio",
            "mem_ratio",
        ):
            assert isinstance(r[col], float) and math.isfinite(r[col]) and r[col] > 0, (col, r)
        if r["method"] == "hard":
            assert r["fwd_ratio"] == r["vg_ratio"] == 1.0
            assert r["vg_fwd_ratio"] == r["vg_ms"] / r["fwd_ms"]


def test_tiny_run_files(tiny):
    rows, out, md = tiny
    with open(out / "bench.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert tuple(table[0]) == run.report.COLUMNS
    assert len(table) == len(rows) and all(t["status"] == "ok" and t["vg_ratio"] for t in table)
    text = (out / "bench.md").read_text()
    assert "×hard" in text and "| sort | neuralsort | smooth | 16 | ok |" in text
    assert "- **cpu**:" in text and "- **command**: `python benchmarks/run.py --ops sort,greater" in text
    assert md.read_text() == text  # same report; its plots are copied beside it
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return  # plotting lives in the optional `bench` extra
    for op in ("sort", "greater"):
        assert (out / "plots" / f"{op}.png").stat().st_size > 0
        assert (md.parent / "plots" / f"{op}.png").exists()


def test_failures_become_rows():
    x = jnp.linspace(-1.0, 1.0, 8, dtype=jnp.float32)

    def boom(x):
        raise ValueError("Invalid method: 'nope'")

    assert measure.measure(boom, (x,), 1, 5.0)["status"].startswith("unavailable: ValueError")
    assert measure.measure(lambda x: jnp.log(x), (x,), 1, 5.0)["status"] == "non-finite value"
    # sqrt is finite at 0 but its gradient is not
    assert (
        measure.measure(lambda x: jnp.sqrt(x * x), (x.at[3].set(0.0),), 1, 5.0)["status"] == "non-finite grad"
    )
    assert measure.classify(RuntimeError("RESOURCE_EXHAUSTED: Out of memory")).startswith("OOM")
    assert measure.classify(TypeError("bad\nline")) == "error: TypeError: bad line"


def test_quick_plan_covers_every_operator_and_method():
    plan = dict(run.plan(run.parse_args(["--quick"])))
    assert set(plan) == set(cases.all_ops())
    used = {m for series in plan.values() for m, _ in series}
    assert set(cases.ALL_METHODS) <= used
    assert {mode for m, mode in plan["max"]} == {mode for m, mode in plan["sign"]} == set(cases.SOFT_MODES)
    full = dict(run.plan(run.parse_args(["--ops", "max"])))
    assert len(full["max"]) == 6 * 4


def test_time_cap_skips_larger_sizes(monkeypatch):
    args = run.parse_args(["--ops", "max", "--sizes", "8,16,32", "--time-cap", "1"])
    results = iter(
        [
            {"status": "ok", "wall_s": 3.0, "compile_fwd_s": 1.0, "compile_vg_s": 1.5},  # ran 0.5 s
            {"status": "ok", "wall_s": 5.0, "compile_fwd_s": 1.0, "compile_vg_s": 1.5},  # ran 2.5 s
        ]
    )
    monkeypatch.setattr(measure, "measure", lambda *a, **k: next(results))
    rows: list = []
    run.run_series(args, "max", "softsort", "smooth", {}, rows)
    assert [r["status"] for r in rows] == ["ok", "ok", "skipped (time cap: n=16 ran 2 s > 1 s)"]
    assert rows[2]["fwd_ratio"] is None and rows[2]["n"] == 32
