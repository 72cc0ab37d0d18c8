"""One result, however it is traced: eager, jit and vmap agree in float64.

Every axis-wise operator x every method serving it x every soft mode it
supports (the tables of ``axiswise_cases``; below the exhaustive tier, the thin
wrappers in ``WRAPPERS`` through the operator they call and ``ot`` in one mode
per solver), values and gradients, on a few rows of n = 4, to 1e-12 relative.
A solver whose answer depends on how XLA fuses and rounds the computation
(eager runs op by op, jit fuses, vmap batches) returns a wrong or unconverged
answer in at least one path; such bugs show as differences far above rounding
(neuralsort c2 once differed by 1e-2 between eager and jit).

The checks run in one subprocess per method, compiled as users compile:
``conftest.py`` turns off XLA's backend optimisation to save compile time,
and with it the FMA contraction and per-kernel recomputation that made the
c2 simplex projection depend on the trace, so in this process the bug above
was invisible. Compile cost dominates: one jit per (method, mode) holds every
operator vmapped over the rows (about half the compile time of one jit per
operator); eager runs of later rows and operators reuse JAX's per-primitive
caches. (jit of one row against jit of the batch is checked, for the core
operators, by ``test_axiswise_transforms.test_jit_and_vmap``.)

Run ``python tests/test_trace_consistency.py METHOD`` to print the report of
one method with the current ``XLA_FLAGS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xla_flags

from axiswise_cases import ALL_METHODS, ALL_OPS, MODES, combos, method_available

AVAILABLE = tuple(m for m in ALL_METHODS if method_available(m))
# Operators that call another one on transformed input (argmin(x) = argmax(-x),
# min(x) = -max(-x), percentile(x, p) = quantile(x, p / 100), median(x) =
# quantile(x, 0.5, "midpoint")): they run the same solver, whose answer is what
# can depend on the trace, so below the exhaustive tier they are checked through it.
WRAPPERS = {
    "argmin": "argmax",
    "min": "max",
    "argpercentile": "argquantile",
    "percentile": "quantile",
    "argmedian": "argquantile",
    "median": "quantile",
}
# ot's piecewise modes (c0, c1, c2) share one dual Newton solver and differ only
# in the regulariser: "smooth" (Sinkhorn) and "c1" cover both solvers below the
# exhaustive tier.
OT_MODES = ("smooth", "c1")
# Other methods: c1's kernels sit between c0's and c2's (the same projections
# with another exponent), so below the exhaustive tier its trace consistency
# is held by its two neighbours.
OTHER_MODES = ("smooth", "c0", "c2")
_EXHAUSTIVE = os.environ.get("SOFTJAX_TEST_TIER") == "exhaustive"
# (method, mode) -> operator names, from the shared operator x method x mode table.
GROUPS: dict[tuple[str, str], list[str]] = {}
for _name, _method, _mode in combos(ALL_OPS, methods=AVAILABLE):
    if _EXHAUSTIVE or (_name not in WRAPPERS and _mode in (OT_MODES if _method == "ot" else OTHER_MODES)):
        GROUPS.setdefault((_method, _mode), []).append(_name)

# Small rows with distinct gaps: a near-tie (0.9, 0.85) and well-spread
# entries, so the sparse modes have supports of several sizes.
ROWS = [
    [0.3, -0.5, 1.2, 0.1],
    [0.9, 0.85, -0.2, 0.4],
    [-1.0, 0.5, 0.45, 2.0],
]
SOFTNESS = {"fast_soft_sort": 1.0}
# Iterative solvers are compared at their converged answer: stopped at the
# default tolerance (1e-5) eager and jit may stop after different iterations
# (ot c0 quantile: 4e-7 relative apart), both within that tolerance.
OPTIONS = {"ot": {"ot_kwargs": {"sinkhorn_tol": 1e-12, "lbfgs_tol": 1e-12}}}
RTOL = 1e-12


def _values_and_grad(name, method, mode):
    """``x -> (op(x), grad of a fixed scalarisation of op at x)`` for one row."""
    fn = ALL_OPS[name][0]

    def scalar(x):
        y = fn(x, method=method, mode=mode, softness=SOFTNESS.get(method, 0.5), **OPTIONS.get(method, {}))
        return jnp.sum(y * jnp.cos(jnp.arange(y.size, dtype=y.dtype)).reshape(y.shape)), y

    def g(x):
        grad, y = jax.grad(scalar, has_aux=True)(x)
        return y, grad

    return g


def _mismatch(actual, expected):
    """``(worst, index)``: the largest deviation in units of the tolerance
    ``RTOL (|expected| + max(1, max |expected|))`` and where it is."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    err = np.abs(actual - expected) / (RTOL * (np.abs(expected) + scale))
    err = np.where(np.isnan(actual) & np.isnan(expected), 0.0, err)  # NaN == NaN
    err = np.where(np.isnan(err), np.inf, err)
    if not err.size:
        return 0.0, ()
    index = np.unravel_index(np.argmax(err), err.shape)
    return float(err[index]), tuple(int(i) for i in index)


def check_group(method: str, mode: str) -> list[str]:
    """Mismatches of jit(vmap) against eager for every operator of a (method, mode)."""
    names = GROUPS[method, mode]
    fns = [_values_and_grad(name, method, mode) for name in names]
    rows = jnp.asarray(ROWS, dtype=jnp.float64)
    batched = jax.jit(jax.vmap(lambda x: [g(x) for g in fns]))(rows)
    bad = []
    for name, g, out in zip(names, fns, batched, strict=True):
        for i, row in enumerate(rows):
            for part, eager, traced_batch in zip(("value", "grad"), g(row), out, strict=True):
                traced = np.asarray(traced_batch[i])
                err, at = _mismatch(traced, eager)
                if not err <= 1.0:
                    bad.append(
                        f"{name} {part}, row {ROWS[i]}: {err:.3g} x tolerance, at {list(at)} "
                        f"jit(vmap) {traced[at]!r} vs eager {np.asarray(eager)[at]!r}"
                    )
    return bad


def _report(method: str) -> dict[str, list[str]]:
    return {mode: check_group(method, mode) for m, mode in GROUPS if m == method}


_REPORTS: dict[str, dict[str, list[str]]] = {}


def _subprocess_report(method: str) -> dict[str, list[str]]:
    if method not in _REPORTS:
        # Without conftest.py's compile flags: they change the generated code.
        flags = xla_flags.without_suite_flags(os.environ.get("XLA_FLAGS", ""))
        env = dict(os.environ, XLA_FLAGS=flags, JAX_ENABLE_X64="1")
        env["JAX_PLATFORMS"] = os.environ.get("JAX_PLATFORMS", "cpu")
        proc = subprocess.run(
            [sys.executable, __file__, method, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        _REPORTS[method] = json.loads(proc.stdout.strip().splitlines()[-1])
    return _REPORTS[method]


# One subprocess per method: its modes go to one xdist worker (pyproject sets
# --dist loadgroup), methods may run in parallel.
@pytest.mark.parametrize(
    "method,mode",
    [pytest.param(m, mode, marks=pytest.mark.xdist_group(f"trace-{m}")) for m, mode in GROUPS],
)
def test_eager_jit_vmap_agree(method, mode):
    bad = _subprocess_report(method)[mode]
    assert not bad, f"{method} {mode}:\n" + "\n".join(bad)


def test_groups_cover_every_operator_and_mode():
    covered = {name for names in GROUPS.values() for name in names}
    assert covered | {w for w, target in WRAPPERS.items() if target in covered} == set(ALL_OPS)
    assert {mode for _, mode in GROUPS} == set(MODES)
    assert {mode for method, mode in GROUPS if method == "ot"} >= set(OT_MODES)
    assert {method for method, _ in GROUPS} == set(AVAILABLE)


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    report = _report(sys.argv[1])
    if "--json" in sys.argv:
        print(json.dumps(report))
    else:
        for mode, bad in report.items():
            print(f"{sys.argv[1]} {mode}: " + ("ok" if not bad else "\n  " + "\n  ".join(bad)))
