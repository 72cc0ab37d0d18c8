"""Acceptance test: ``examples/quickstart.py`` prints its documented float64 numbers.

The script runs once in a subprocess (it enables float64 itself). Its output is
split into records: a record starts at a line that does not begin with
whitespace and continues over indented lines (NumPy wraps long arrays). The
expected records of every example present in the script are matched in
order (header or blank lines in between are ignored), the printed numbers are
parsed and compared with full-precision reference values:

* scalars (printed with ``repr`` precision): relative 1e-9, absolute 1e-12;
* array entries (NumPy prints 8 decimals): additionally half a unit of the
  8th decimal (of the mantissa for scientific notation);
* integers: exactly.

To add an example: define its function in ``examples/quickstart.py`` (called
from ``main()`` in the order of ``EXPECTED``) and list its records in ``EXPECTED`` below.
"""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

# One subprocess serves the whole module: keep its tests on one xdist worker
# (pyproject sets --dist loadgroup), or each worker would start its own.
pytestmark = pytest.mark.xdist_group("examples")

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"

# example function -> [(record prefix, full-precision numbers in print order)], in run order.
EXPECTED = {
    "robust_median_regression": [
        ("Hard grad:", [-0.5108380866625906, 0.432083904775904, -0.012175530717731647]),
        ("Soft grad:", [-0.8061135328109571, 0.5254332694722335, 0.098950165104301]),
        ("Learned w:", [0.9999999999010641, -1.9999999994652036, 0.4999999987957427, 1.0, -2.0, 0.5]),
    ],
    "top_k_feature_selection": [
        ("Hard grad:", [0.0] * 10),
        (
            "Soft grad:",
            [
                2268.416045211027,
                -2371.1378378215604,
                2268.416045211027,
                1126.1997709309273,
                2268.416045211027,
                2268.416045211027,
                2268.416045211027,
                -14633.974249586556,
                2268.416045211027,
                2268.416045211027,
            ],
        ),
        ("Selected features:", [7, 1, 3]),
    ],
    "threshold_filtering": [
        ("Hard grad:", [0.0]),
        ("Soft grad:", [-0.6600359275215457]),
        ("Learned threshold:", [0.6211048323197621]),
    ],
    "rule_based_classifier": [
        ("Hard grad:", [0.0, 0.0]),
        ("Soft grad:", [-4.2777020549582465, 1.4152325250121145]),
        ("Learned [lo, hi]:", [0.2925220147434947, 0.5998945118569076]),
    ],
}

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _present_examples() -> list[str]:
    source = SCRIPT.read_text()
    return [name for name in EXPECTED if re.search(rf"^def {name}\(", source, re.MULTILINE)]


def _records(stdout: str) -> list[str]:
    records: list[str] = []
    for line in stdout.splitlines():
        if line[:1].isspace() and records:
            records[-1] += " " + line.strip()
        elif line.strip():
            records.append(line.strip())
    return records


def _tolerance(token: str, expected: float, in_array: bool) -> float:
    tol = max(1e-9 * abs(expected), 1e-12)
    if in_array:
        exponent = int(token.lower().split("e")[1]) if "e" in token.lower() else 0
        tol += 0.5 * 10.0 ** (exponent - 8)
    return tol


def _compare(record: str, prefix: str, expected: list[float]) -> list[str]:
    body = record[len(prefix) :]
    tokens = _NUMBER.findall(body)
    if len(tokens) != len(expected):
        return [f"{record!r}: expected {len(expected)} numbers, found {len(tokens)}"]
    problems = []
    for token, want in zip(tokens, expected, strict=True):
        got = float(token)
        if isinstance(want, int):
            ok = got == want and re.fullmatch(r"[-+]?\d+", token)
        else:
            ok = math.isclose(got, want, rel_tol=0, abs_tol=_tolerance(token, want, "[" in body))
        if not ok:
            problems.append(f"{prefix} printed {token}, expected {want!r}")
    return problems


@pytest.fixture(scope="module")
def matched():
    """Run the script once; map each present example to its matched records."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=900, check=False
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    records = _records(proc.stdout)
    result, i = {}, 0
    for name in _present_examples():
        found = []
        for prefix, _ in EXPECTED[name]:
            while i < len(records) and not records[i].startswith(prefix):
                i += 1
            found.append(records[i] if i < len(records) else None)
            i += 1
        result[name] = found
    return result, proc.stdout


@pytest.mark.parametrize("name", list(EXPECTED))
def test_example_output(matched, name):
    if name not in _present_examples():
        pytest.skip(f"{name}() is not in examples/quickstart.py yet")
    result, stdout = matched
    problems = []
    for (prefix, values), record in zip(EXPECTED[name], result[name], strict=True):
        if record is None:
            problems.append(f"missing line {prefix!r} (in spec order)")
        else:
            problems += _compare(record, prefix, values)
    assert not problems, "\n".join(problems) + "\n--- output ---\n" + stdout


def test_script_enables_float64_first():
    lines = [ln for ln in SCRIPT.read_text().splitlines() if ln.startswith(("import", "from", "jax.config"))]
    assert lines[:2] == ["import jax", 'jax.config.update("jax_enable_x64", True)']


def test_compare_helper_tolerances():
    # guard against a checker that accepts anything
    assert _compare("Soft grad: -0.6600359275215457", "Soft grad:", [-0.6600359275215457]) == []
    assert _compare("Soft grad: -0.66003593", "Soft grad:", [-0.6600359275215457]) != []
    assert (
        _compare(
            "Soft grad: [-4.27770205  1.41523253]", "Soft grad:", [-4.2777020549582465, 1.4152325250121145]
        )
        == []
    )
    assert (
        _compare(
            "Soft grad: [-4.27770215  1.41523253]", "Soft grad:", [-4.2777020549582465, 1.4152325250121145]
        )
        != []
    )
    assert _compare("Selected features: [7 1 3]", "Selected features:", [7, 1, 3]) == []
    assert _compare("Selected features: [7 3 1]", "Selected features:", [7, 1, 3]) != []
    assert _compare("Hard grad: [0. 0.]", "Hard grad:", [0.0]) != []
    assert _records("A: [1.\n   2.]\n\n# header\nB: 3") == ["A: [1. 2.]", "# header", "B: 3"]
