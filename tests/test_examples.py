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

The training examples (``examples/moe_routing.py``, ``examples/feature_pruning.py``,
``examples/histogram_matching.py``) run in subprocesses of their own; their tests check
what their summaries claim.
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


# The training examples print summaries, not reference numbers: their tests
# check what each example claims (the st router learns and the hard one cannot;
# the learned mask recovers the informative features and beats screening).
EXAMPLES = SCRIPT.parent
_MOE_LINE = re.compile(
    r"^(Hard|ST) mask: +test task loss (\S+) -> (\S+), load CV\^2 (\S+) -> (\S+), "
    r"routing accuracy (\S+) -> (\S+)$",
    re.MULTILINE,
)


def _run_example(name: str) -> str:
    script = EXAMPLES / f"{name}.py"
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def _moe_problems(stdout: str) -> list[str]:
    """What is wrong with ``examples/moe_routing.py``'s output (nothing: an empty list)."""
    rows = {m[1]: [float(v) for v in m.groups()[1:]] for m in _MOE_LINE.finditer(stdout)}
    norms = dict(re.findall(r"^Router gradient norm, (hard|st) mask: +(\S+)$", stdout, re.MULTILINE))
    if set(rows) != {"Hard", "ST"} or set(norms) != {"hard", "st"}:
        return ["missing summary lines"]
    problems = []
    if float(norms["hard"]) != 0.0 or not float(norms["st"]) > 0.0:
        problems.append(f"router gradient norms {norms}: expected 0 (hard) and > 0 (st)")
    loss0, loss1, cv0, cv1, acc0, acc1 = rows["Hard"]
    if (loss1, cv1, acc1) != (loss0, cv0, acc0):
        problems.append("the hard-mask router changed although its gradient is zero")
    loss0, loss1, cv0, cv1, acc0, acc1 = rows["ST"]
    if not loss1 < 0.1 * loss0:
        problems.append(f"st task loss {loss0} -> {loss1}: expected a 10x decrease")
    if not cv1 < 0.1 * cv0:
        problems.append(f"st load CV^2 {cv0} -> {cv1}: expected a 10x decrease")
    if not (acc1 >= 0.8 and acc1 > rows["Hard"][5] + 0.5):
        problems.append(f"st routing accuracy {acc1}: expected >= 0.8 and hard's + 0.5")
    return problems


def _list(stdout: str, label: str) -> list[int] | None:
    found = re.search(rf"^{re.escape(label)}: +\[([\d ]*)\]$", stdout, re.MULTILINE)
    return None if found is None else [int(v) for v in found[1].split()]


def _number(stdout: str, label: str) -> float | None:
    found = re.search(rf"^{re.escape(label)}: +(\S+)$", stdout, re.MULTILINE)
    return None if found is None else float(found[1])


def _pruning_problems(stdout: str) -> list[str]:
    """What is wrong with ``examples/feature_pruning.py``'s output (nothing: an empty list)."""
    informative = _list(stdout, "Informative features")
    learned = _list(stdout, "Learned top-4 mask")
    screened = _list(stdout, "Correlation screening top-4")
    acc_learned = _number(stdout, "Test accuracy, learned features")
    acc_screened = _number(stdout, "Test accuracy, screened features")
    if None in (informative, learned, screened, acc_learned, acc_screened):
        return ["missing summary lines"]
    problems = []
    if learned != informative:
        problems.append(f"learned mask {learned} != informative features {informative}")
    if screened == informative:
        problems.append("screening recovered the informative features: the data no longer shows its weakness")
    if not acc_learned > acc_screened + 0.03:
        problems.append(f"test accuracy {acc_learned} (learned) vs {acc_screened} (screening)")
    return problems


@pytest.mark.xdist_group("moe_routing")  # its own worker, beside the quickstart subprocess
def test_moe_routing_st_router_learns():
    stdout = _run_example("moe_routing")
    assert not _moe_problems(stdout), "\n".join(_moe_problems(stdout)) + "\n--- output ---\n" + stdout


@pytest.mark.xdist_group("feature_pruning")
def test_feature_pruning_recovers_informative_features():
    stdout = _run_example("feature_pruning")
    assert not _pruning_problems(stdout), "\n".join(_pruning_problems(stdout)) + "\n--- output ---\n" + stdout


def _histogram_problems(stdout: str) -> list[str]:
    """What is wrong with ``examples/histogram_matching.py``'s output (nothing: an empty list)."""
    grads = dict(re.findall(r"^Gradient norm, (hard|soft) histogram: +(\S+)$", stdout, re.MULTILINE))
    loss = re.search(r"^Hard histogram loss: (\S+) -> (\S+)$", stdout, re.MULTILINE)
    tv = re.search(r"^Total variation to the data: (\S+) -> (\S+)$", stdout, re.MULTILINE)
    if set(grads) != {"hard", "soft"} or loss is None or tv is None:
        return ["missing summary lines"]
    problems = []
    if float(grads["hard"]) != 0.0 or not float(grads["soft"]) > 0.0:
        problems.append(f"gradient norms {grads}: expected 0 (hard) and > 0 (soft)")
    if not float(loss[2]) < 0.05 * float(loss[1]):
        problems.append(f"hard histogram loss {loss[1]} -> {loss[2]}: expected a 20x decrease")
    if not float(tv[2]) < 0.1:
        problems.append(f"total variation to the data {tv[2]}: expected < 0.1")
    return problems


@pytest.mark.xdist_group("histogram_matching")
def test_histogram_matching_fits_the_data():
    stdout = _run_example("histogram_matching")
    assert not _histogram_problems(stdout), (
        "\n".join(_histogram_problems(stdout)) + "\n--- output ---\n" + stdout
    )


def test_training_example_checks_can_fail():
    # guard against checkers that accept anything
    moe = (
        "Router gradient norm, hard mask: 0.0000\n"
        "Router gradient norm, st mask:   1.0845\n"
        "Hard mask: test task loss 1.2750 -> 1.2750, load CV^2 0.3202 -> 0.3202, "
        "routing accuracy 0.0078 -> 0.0078\n"
        "ST mask:   test task loss 1.2750 -> 0.0192, load CV^2 0.3202 -> 0.0003, "
        "routing accuracy 0.0078 -> 0.9668\n"
    )
    assert _moe_problems(moe) == []
    assert _moe_problems(moe.replace("-> 0.9668", "-> 0.4000")) != []
    assert _moe_problems(moe.replace("-> 0.0192", "-> 0.5000")) != []
    assert _moe_problems(moe.replace("st mask:   1.0845", "st mask:   0.0000")) != []
    assert _moe_problems(moe.replace("0.0078 -> 0.0078", "0.0078 -> 0.9000")) != []
    assert _moe_problems(moe.replace("ST mask:", "St mask:")) != []
    pruning = (
        "Informative features:          [ 3  8 14 19]\n"
        "Learned top-4 mask:            [ 3  8 14 19]\n"
        "Correlation screening top-4:   [ 1  8 14 19]\n"
        "Test accuracy, learned features:  0.7710\n"
        "Test accuracy, screened features: 0.6875\n"
    )
    assert _pruning_problems(pruning) == []
    assert _pruning_problems(pruning.replace("mask:            [ 3", "mask:            [ 2")) != []
    assert _pruning_problems(pruning.replace("features: 0.6875", "features: 0.7700")) != []
    assert _pruning_problems(pruning.replace("[ 1  8 14 19]", "[ 3  8 14 19]")) != []
    assert _pruning_problems(pruning.replace("Learned top-4", "Learned top-5")) != []
    histogram = (
        "Gradient norm, hard histogram: 0.0000\n"
        "Gradient norm, soft histogram: 0.0915\n"
        "Hard histogram loss: 0.04554 -> 0.00057\n"
        "Total variation to the data: 0.500 -> 0.047\n"
    )
    assert _histogram_problems(histogram) == []
    assert _histogram_problems(histogram.replace("soft histogram: 0.0915", "soft histogram: 0.0000")) != []
    assert _histogram_problems(histogram.replace("-> 0.00057", "-> 0.01000")) != []
    assert _histogram_problems(histogram.replace("-> 0.047", "-> 0.200")) != []
    assert _histogram_problems(histogram.replace("Hard histogram loss", "Loss")) != []
