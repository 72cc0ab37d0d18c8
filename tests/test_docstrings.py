"""The ``Example:`` blocks of every public docstring run and print what they show.

Docstring outputs are written for JAX's default float32 (x64 disabled), while
``conftest.py`` enables x64 for the whole session. The examples therefore run
in ONE subprocess with x64 off (one interpreter keeps JAX compile caches warm);
its per-function results are then reported as one test per public name.

Run this file directly (``python tests/test_docstrings.py``) to print a
readable report of every failing example.
"""

from __future__ import annotations

import doctest
import inspect
import json
import os
import subprocess
import sys

import pytest

# One subprocess serves the whole module: keep its tests on one xdist worker
# (pyproject sets --dist loadgroup), or each worker would start its own.
pytestmark = pytest.mark.xdist_group("docstrings")

_FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def public_functions() -> dict[str, object]:
    """``{"softjax.name": fn}`` for every public callable of softjax and softjax.random."""
    import softjax
    import softjax.random

    out: dict[str, object] = {}
    for module in (softjax, softjax.random):
        names = getattr(module, "__all__", None)
        if names is None:  # softjax has no __all__: every non-underscore re-export
            names = [n for n in dir(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__.startswith("softjax"):
                out[f"{module.__name__}.{name}"] = obj
    return out


def example_block(doc: str) -> str:
    """The text of the ``Example:``/``Examples:`` section of a Google-style docstring."""
    lines = inspect.cleandoc(doc).splitlines()
    for i, line in enumerate(lines):
        if line.strip() in ("Example:", "Examples:"):
            block = []
            for body in lines[i + 1 :]:
                if body.strip() and not body.startswith((" ", "\t")):
                    break  # next top-level section
                block.append(body)
            return "\n".join(block)
    return ""


def _run_all() -> dict[str, dict]:
    """Run every example block (called in the x64-off subprocess)."""
    import jax
    import jax.numpy as jnp

    assert not jax.config.jax_enable_x64, "doctests must run with x64 disabled"
    results: dict[str, dict] = {}
    parser = doctest.DocTestParser()
    for qualname, fn in public_functions().items():
        text = example_block(fn.__doc__ or "")
        test = parser.get_doctest(text, {"jnp": jnp, "jax": jax}, qualname, None, 0)
        report: list[str] = []
        runner = doctest.DocTestRunner(optionflags=_FLAGS, verbose=False)
        runner.run(test, out=report.append)
        results[qualname] = {
            "examples": len(test.examples),
            "failed": runner.failures,
            "report": "".join(report),
        }
    return results


@pytest.fixture(scope="module")
def doctest_results() -> dict[str, dict]:
    env = dict(os.environ, JAX_ENABLE_X64="0", JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    proc = subprocess.run(
        [sys.executable, __file__, "--json"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_NAMES = sorted(public_functions())


@pytest.mark.parametrize("qualname", _NAMES)
def test_docstring_example_runs(doctest_results, qualname):
    result = doctest_results[qualname]
    assert result["examples"] > 0, f"{qualname}: no doctest in its Example: section"
    assert result["failed"] == 0, result["report"]


@pytest.mark.parametrize("qualname", _NAMES)
def test_docstring_has_sections(qualname):
    doc = inspect.getdoc(public_functions()[qualname]) or ""
    summary = doc.splitlines()[0] if doc else ""
    assert summary.strip(), f"{qualname}: no one-line summary"
    assert example_block(doc).strip(), f"{qualname}: no Example: section"


def test_collection_covers_the_api():
    names = set(_NAMES)
    # spot checks across families, so an empty or partial collection fails
    for expected in ("softjax.sort", "softjax.top_k_st", "softjax.st", "softjax.where",
                     "softjax.sqrt", "softjax.random.categorical", "softjax.random.permutation_st"):
        assert expected in names
    assert len(names) >= 90


if __name__ == "__main__":
    res = _run_all()
    if "--json" in sys.argv:
        print(json.dumps(res))
    else:
        bad = {k: v for k, v in res.items() if v["failed"] or not v["examples"]}
        for k, v in bad.items():
            print(f"=== {k} ({v['examples']} examples)\n{v['report']}")
        print(f"{len(res)} functions, {len(bad)} failing")
