"""Data parallelism on 8 simulated CPU devices (batch axis sharded as ``P("data", None)``)
on ``Auto`` meshes, on ``Explicit`` meshes (``jax.make_mesh``'s default) and under
``shard_map`` / ``vmap(..., spmd_axis_name=...)``.

``tests/sharding_check.py`` runs once in a subprocess (``XLA_FLAGS`` must name
the device count before JAX is imported; this process imported JAX already)
and prints a JSON report; the tests below read it. Per method (one group
holding its operators in every mode it supports):

* the group runs on one device (reference), then in every stage of
  ``sharding_check.STAGES``: sharded ``jax.jit`` on an Auto mesh and on an
  Explicit mesh (set with ``jax.set_mesh``), ``shard_map`` over the explicit
  batch axis, and ``jax.vmap`` with ``spmd_axis_name``;
* sharded values and gradients equal the single-device ones (relative 1e-6,
  absolute 1e-6 of the array's scale);
* every output keeps the batch sharding (on explicit meshes, in its type);
* the compiled HLO gathers nothing: no all-gather / all-to-all /
  collective-permute / reduce-scatter, no all-reduce of anything but scalars
  (the convergence flags of iterative solvers), no host callback.

A plain-SGD training step on a sharded batch must decrease its loss, on both
axis types. 2-D meshes (batch over both axes or one), a mesh mixing Explicit
and Auto axes, and a sharded operator axis (gathered once) run the smooth
operators of every method.

Default tier: one operator per (method, mode) plus the elementwise families
in two modes (see ``sharding_check._quick_ops``), about three minutes on two
cores. ``SOFTJAX_SHARDING_FULL=1`` runs every public operator, ``*_st`` variant
and sampler in every mode, one subprocess per (method, mode), two at a time. Known defects of
``src/`` are strict xfails (``KNOWN_ISSUES``): the test fails once one is
fixed, so the entry gets removed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import xla_flags

import sharding_check

# One subprocess serves the whole module: keep its tests on one xdist worker
# (pyproject sets --dist loadgroup), or each worker would start its own.
pytestmark = pytest.mark.xdist_group("sharding")

FULL = os.environ.get("SOFTJAX_SHARDING_FULL") == "1" or os.environ.get("SOFTJAX_TEST_TIER") == "exhaustive"
SCRIPT = Path(__file__).with_name("sharding_check.py")
METHODS = [method for method, _, _ in sharding_check.groups(FULL)]

# (check, method) -> reason. Found by this test; to be fixed in src/.
KNOWN_ISSUES: dict[tuple[str, str], str] = {}


def _known(request, check: str, method: str) -> None:
    reason = KNOWN_ISSUES.get((check, method))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def _run_check(*args: str, timeout: int, ops: str | None = None) -> dict:
    """Run sharding_check.py on 8 simulated CPU devices; its JSON report."""
    data = _run_check_raw(*args, timeout=timeout, ops=ops)
    data["by_group"] = {g["method"]: g for g in data["groups"]}
    return data


def _run_check_raw(*args: str, timeout: int, ops: str | None = None) -> dict:
    env = dict(os.environ)
    if ops is not None:
        env["SOFTJAX_SHARDING_OPS"] = ops
    # Not the elemental emitters of conftest.py: see the comment there.
    env["XLA_FLAGS"] = " ".join(("--xla_force_host_platform_device_count=8", *xla_flags.CHEAP_COMPILE))
    env["JAX_PLATFORMS"] = "cpu"
    env.pop("JAX_ENABLE_X64", None)  # float32, the users' default
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"sharding_check.py failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _full_report() -> dict:
    """The full report, from one run per (method, mode) and per extra part, two at a time.

    One program holding a method's every operator in every mode compiles for
    minutes (ot: over three) and five times over; the pieces are smaller and
    run side by side.
    """
    from concurrent.futures import ThreadPoolExecutor

    jobs = [
        (("--parts=groups", method), f"@{mode}")
        for method in METHODS
        for mode in sharding_check.MODES
        if method == "elementwise" or sharding_check.supports(method, mode)
    ]
    jobs += [(("--parts=variants", method), "@smooth") for method in sharding_check.VARIANT_METHODS_FULL]
    jobs.append((("--parts=training,long_rows",), None))
    with ThreadPoolExecutor(max_workers=2) as pool:
        pieces = list(pool.map(lambda job: _run_check_raw(*job[0], timeout=3600, ops=job[1]), jobs))
    data = sharding_check.merge_reports(pieces)
    if path := os.environ.get("SOFTJAX_SHARDING_REPORT"):  # keep the report for a closer look
        Path(path).write_text(json.dumps(data))
    data["by_group"] = {g["method"]: g for g in data["groups"]}
    return data


@pytest.fixture(scope="module")
def report():
    return _full_report() if FULL else _run_check(timeout=1800)


def test_smoke_every_stage_on_both_axis_types():
    """Fast tier: softsort and the elementwise families, smooth mode, every stage."""
    if os.environ.get("SOFTJAX_TEST_TIER", "fast") != "fast":
        pytest.skip("the full report checks all of this")
    data = _run_check("--smoke", timeout=600)
    assert [g["method"] for g in data["groups"]] == list(sharding_check.SMOKE_METHODS)
    for method in sharding_check.SMOKE_METHODS:
        group = _group(data, method)
        for stage_name in (*JIT_STAGES, "shard_map"):
            stage = group[stage_name]
            assert stage["error"] is None, f"{method} {stage_name}: {stage['error']}"
            bad = _mismatches(stage, method, stage_name)
            assert not bad, "\n".join(bad)
            gathers = _gathers(stage["hlo"])
            assert not gathers, f"{method} {stage_name}: collectives {gathers}"
            if stage_name != "shard_map":
                assert not stage["not_batch_sharded"], stage["not_batch_sharded"]


def _group(report, method):
    group = report["by_group"][method]
    assert group["single_error"] is None, f"{method} single device: {group['single_error']}"
    return group


def _limit(method, key):
    """Allowed mismatch, in units of the 1e-6 relative tolerance."""
    if method == "ot":
        # An iterative solve stopped at its tolerance (1e-5 on the marginals):
        # each device stops after different round-off, so sharded and
        # single-device results agree to the solver's accuracy, not to 1e-6
        # (full tier, float32: at most 2.1e-5 relative, median 1.4e-8).
        return 100.0
    # float32 rounding: XLA fuses the per-device program differently, and the
    # sampler gradients (simplex weights of Gumbel-perturbed scores) amplify
    # it to a few 1e-6 (full tier: at most 3.2x the 1e-6 tolerance in c2,
    # 1.08x for smooth choice_st with the sampled axis sharded and gathered).
    return 5.0 if key.startswith("random.") and "/grad" in key else 1.0


def _mismatches(stage, method, where):
    return [
        f"{method} {where}: {key} off by {err:.3g} x tolerance"
        for key, err in sorted(stage["max_err"].items())
        if not err <= _limit(method, key)
    ]


def _gathers(hlo):
    """Collectives other than all-reduces of scalars (loop-convergence flags)."""
    bad = []
    for entry in hlo["collectives"]:
        kind, shape = entry.split(" ", 1)
        shapes = shape.split(" @ ")[0]
        scalars = all(
            part.strip(" ()").split("{")[0].endswith("[]") for part in shapes.split(",") if part.strip(" ()")
        )
        if not (kind == "all-reduce" and scalars):
            bad.append(entry)
    return bad


JIT_STAGES = ("jit", "explicit_jit", "vmap_spmd")


@pytest.mark.full
@pytest.mark.parametrize("stage_name", JIT_STAGES)
@pytest.mark.parametrize("method", METHODS)
def test_jit_matches_single_device(report, method, stage_name):
    stage = _group(report, method)[stage_name]
    assert stage["error"] is None, f"{method} {stage_name}: {stage['error']}"
    bad = _mismatches(stage, method, stage_name)
    assert not bad, "\n".join(bad)


@pytest.mark.full
@pytest.mark.parametrize("stage_name", JIT_STAGES)
@pytest.mark.parametrize("method", METHODS)
def test_jit_keeps_batch_sharding(request, report, method, stage_name):
    _known(request, "sharding", method)
    stage = _group(report, method)[stage_name]
    assert stage["error"] is None, stage["error"]
    assert stage["ops"], "no outputs"
    assert not stage["not_batch_sharded"], (
        f"{method} {stage_name}: outputs not sharded as P('data', ...): {stage['not_batch_sharded']}"
    )


@pytest.mark.full
@pytest.mark.parametrize("stage_name", JIT_STAGES)
@pytest.mark.parametrize("method", METHODS)
def test_jit_hlo_gathers_nothing(request, report, method, stage_name):
    _known(request, "hlo", method)
    stage = _group(report, method)[stage_name]
    assert stage["error"] is None, stage["error"]
    hlo = stage["hlo"]
    # OT's convergence callback is judged in test_ot_convergence_callback.
    gathers = [c for c in _gathers(hlo) if not c.endswith("/debug_callback")]
    callbacks = [c for c in hlo["callbacks"] if not (method == "ot" and c.endswith("/debug_callback"))]
    assert not gathers, f"{method}: batch collectives in the compiled HLO: {gathers}"
    assert not callbacks and not hlo["host_transfers"], (
        f"{method}: host callbacks {callbacks} / transfers {hlo['host_transfers']}"
    )


@pytest.mark.full
def test_ot_convergence_callback(request, report):
    """The warning callback runs per shard: no per-problem data crosses devices."""
    _known(request, "ot_callback", "ot")
    hlo = _group(report, "ot")["jit"]["hlo"]
    assert hlo is not None
    assert any(c.endswith("/debug_callback") for c in hlo["callbacks"]), "callback missing"
    gathers = [c for c in hlo["collectives"] if c.endswith("/debug_callback")]
    assert not gathers, f"ot: the convergence callback gathers {gathers}, callbacks {hlo['callbacks']}"


@pytest.mark.full
@pytest.mark.parametrize("method", METHODS)
def test_shard_map_matches_single_device(request, report, method):
    _known(request, "shard_map", method)
    stage = _group(report, method)["shard_map"]
    assert stage["error"] is None, f"{method} shard_map: {stage['error']}"
    bad = _mismatches(stage, method, "shard_map")
    assert not bad, "\n".join(bad)
    gathers = [c for c in _gathers(stage["hlo"]) if not c.endswith("/debug_callback")]
    assert not gathers, f"{method} shard_map: collectives {gathers}"
    assert set(stage["ops"]) == {op for op in _group(report, method)["ops"] if "[shared key]" not in op}


VARIANTS = [name for name, *_ in sharding_check.MESH_VARIANTS]


@pytest.mark.full
@pytest.mark.parametrize("variant", VARIANTS)
def test_other_meshes_match_single_device(report, variant):
    """2-D meshes, mixed Auto/Explicit axes and a sharded operator axis."""
    entries = [e for e in report["mesh_variants"] if e["variant"] == variant]
    expected = sharding_check.VARIANT_METHODS_FULL if FULL else sharding_check.VARIANT_METHODS
    assert {e["method"] for e in entries} == set(expected)
    for entry in entries:
        method = entry["method"]
        assert entry["error"] is None, f"{variant} {method}: {entry['error']}"
        bad = [f"{key}: {err:.3g}" for key, err in entry["max_err"].items() if not err <= _limit(method, key)]
        assert not bad, f"{variant} {method}: {bad}"
        gathers = [c for c in _gathers(entry["hlo"]) if not c.endswith("/debug_callback")]
        if variant == "operator_axis":
            # The rows are gathered once (documented cost); outputs are batch-replicated.
            assert all(spec.startswith("(None") for spec in entry["out_specs"]), entry["out_specs"]
        else:
            # Rows replicated over "model" (2d_one) are invariant over it: no
            # sum of their gradient over it either.
            assert not gathers, f"{variant} {method}: collectives {gathers}"
            batch = "('data', 'model')" if variant == "2d_both" else "'data'"
            assert all(spec.startswith(f"({batch}") for spec in entry["out_specs"]), entry["out_specs"]


@pytest.mark.full
def test_groups_cover_every_method_and_mode(report):
    assert [g["method"] for g in report["groups"]] == METHODS
    assert set(sharding_check.ALL_METHODS) | {"elementwise"} == set(METHODS)
    for method in sharding_check.ALL_METHODS:
        modes = {op.rsplit("@", 1)[1] for op in _group(report, method)["ops"]}
        expected = sharding_check.MODES if FULL else sharding_check.quick_modes(method)
        assert modes == {m for m in expected if sharding_check.supports(method, m)}, method
    elementwise = {op.rsplit("@", 1)[1] for op in _group(report, "elementwise")["ops"]}
    assert elementwise == set(sharding_check.MODES if FULL else sharding_check.ELEMENTWISE_QUICK_MODES)


@pytest.mark.full
def test_long_rows_fast_paths(report):
    """The paths only long rows take (n = 2048, float32), both axis types."""
    assert len(report["long_rows"]) == 2 * len(sharding_check.LONG_ROW_PATHS)
    for entry in report["long_rows"]:
        where = f"{entry['method']} on {entry['axis_type']} axes"
        assert entry["error"] is None, f"{where}: {entry['error']}"
        # smooth_sort's float32 fast path is accurate to about 2e-4 (values)
        # and 4e-4 (gradients) of the row's scale against float64 at n = 2048,
        # on one device and sharded alike; GSPMD partitions its reductions in
        # another order on Auto axes, so the two agree to that accuracy only
        # (measured: 1.7e-5 values, 4.9e-4 gradients). Limit 1e-3.
        # fast_soft_sort: XLA orders the float32 sums of a row differently for
        # another batch size (Explicit axes: 2 rows per device) or another
        # partitioning (Auto axes). Against float64 the sharded result is
        # 2.5e-6 (values) / 1.6e-6 (gradients) off, one device 8.5e-7 / 6.8e-7;
        # the two differ by 1.6e-6 / 2.4e-6. Limit 1e-5.
        # softsort c1 (sparse windows): 7.2 measured, within the limit of 10.
        # neuralsort c2 (banded A, windowed rows): float32 gradients at
        # n = 2048 are 4.0e-3 (a batch of 8) and 3.7e-3 (row by row) of the
        # gradient's scale from float64 on one device, 4.3e-3 apart, with the
        # pairwise or the banded A alike: the rows' own conditioning (see the
        # numerical guarantees), not sharding. Limit 1e-2.
        limit = {"smooth_sort": 1000.0, "neuralsort": 1e4}.get(entry["method"], 10.0)
        bad = {k: v for k, v in entry["max_err"].items() if not v <= limit}
        assert not bad, f"{where}: {bad}"
        assert entry["batch_sharded"], where
        if entry["axis_type"] == "explicit" or entry["method"] != "smooth_sort":
            assert not _gathers(entry["hlo"]), f"{where}: {_gathers(entry['hlo'])}"
        # On Auto axes GSPMD partitions smooth_sort's flattened bound pass
        # (n >= 2048) across the batch and moves data: correct, not free
        # (documented on the Scaling out page).


@pytest.mark.full
@pytest.mark.parametrize("mesh_kind", ["training", "training_explicit"])
def test_sharded_training_step_decreases_loss(report, mesh_kind):
    train = report[mesh_kind]
    first, _, last = train["losses"]
    assert last < 0.5 * first, f"loss did not decrease: {train['losses']}"
    assert train["params_replicated"]
    # The learned softness moved: its gradient crossed the per-device rows.
    assert abs(train["softness"] - 0.1) > 1e-3, train["softness"]
    # ot's NaN selection branches per device; the softness gradient still adds up.
    assert train["nan_rows_grad_err"] < 1e-4, train["nan_rows_grad_err"]
    # Summing the gradient over the batch is the one legitimate collective.
    others = [c for c in train["hlo"]["collectives"] if not c.startswith("all-reduce")]
    assert not others and not train["hlo"]["callbacks"], train["hlo"]


@pytest.mark.full
def test_sharding_example_matches_one_device():
    """``examples/sharding.py`` trains on an Explicit mesh with the one-device loss curve."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)  # the example sets its own device count
    env.pop("JAX_ENABLE_X64", None)
    script = Path(__file__).resolve().parents[1] / "examples" / "sharding.py"
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "sharded as P('data', None)" in out, out
    worst = float(out.split("over 31 steps:")[1].split()[0])
    assert worst < 1e-5, out
    for line in out.splitlines():
        if line.startswith("step"):
            sharded, single = line.split("loss")[1].split("(one device:")
            assert abs(float(sharded) - float(single.rstrip(")"))) < 1e-3, line
