"""The ``Examples:`` blocks of every public docstring run and print what they show.

They are Google-style ``Examples:`` sections of doctest lines, which the API
reference renders as code blocks with their output; the docstrings' other
sections are checked to render as one entry per parameter and one ``Returns:``
entry.

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
import re
import subprocess
import sys

import pytest

# One subprocess serves the whole module: keep its tests on one xdist worker
# (pyproject sets --dist loadgroup), or each worker would start its own.
pytestmark = pytest.mark.xdist_group("docstrings")

_FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def public_functions() -> dict[str, object]:
    """``{"softjax.name": fn}`` for every public callable of softjax, softjax.random and softjax.losses."""
    import softjax
    import softjax.losses
    import softjax.random

    out: dict[str, object] = {}
    for module in (softjax, softjax.random, softjax.losses):
        names = getattr(module, "__all__", None)
        if names is None:  # softjax has no __all__: every non-underscore re-export
            names = [n for n in dir(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name)
            if inspect.isfunction(obj) and obj.__module__.startswith("softjax"):
                out[f"{module.__name__}.{name}"] = obj
    return out


def example_block(doc: str) -> str:
    """The text of the ``Examples:`` section of a Google-style docstring.

    Only the plural title counts: the documentation renders ``Examples:`` as
    code, while ``Example:`` would become an admonition of plain text.
    """
    lines = inspect.cleandoc(doc).splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Examples:":
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
        [sys.executable, __file__, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_NAMES = sorted(public_functions())


@pytest.mark.parametrize("qualname", _NAMES)
def test_docstring_example_runs(doctest_results, qualname):
    result = doctest_results[qualname]
    assert result["examples"] > 0, f"{qualname}: no doctest in its Examples: section"
    assert result["failed"] == 0, result["report"]


@pytest.mark.parametrize("qualname", _NAMES)
def test_docstring_has_sections(qualname):
    doc = inspect.getdoc(public_functions()[qualname]) or ""
    summary = doc.splitlines()[0] if doc else ""
    assert summary.strip(), f"{qualname}: no one-line summary"
    assert example_block(doc).strip(), f"{qualname}: no Examples: section"
    assert "Example:" not in doc.splitlines(), f"{qualname}: 'Example:' renders as text, use 'Examples:'"


@pytest.mark.parametrize("qualname", _NAMES)
def test_docstring_lists_every_parameter(qualname):
    """Each parameter has its own ``Args:`` entry (no "as for ..." references)."""
    from softjax._src.docstrings import args_entries

    fn = public_functions()[qualname]
    listed = args_entries(fn.__doc__)
    params = list(inspect.signature(fn).parameters)
    missing = [p for p in params if p not in listed]
    assert not missing, f"{qualname}: parameters without an Args: entry: {missing}"
    unknown = [name for name in listed if name not in params]
    assert not unknown, f"{qualname}: Args: entries for no parameter: {unknown}"
    doc = inspect.getdoc(fn) or ""
    assert not re.search(r"\bas (?:for|there)\b", doc), f"{qualname}: refers to another docstring"


@pytest.mark.parametrize("qualname", _NAMES)
def test_docstring_returns_one_entry(qualname):
    """``Returns:`` is one entry: continuation lines are indented under it."""
    from softjax._src.docstrings import section

    lines = section(public_functions()[qualname].__doc__, "Returns")
    entries = [line for line in lines if line.strip() and not line.startswith(" " * 8)]
    assert len(entries) == 1, f"{qualname}: Returns: has {len(entries)} entries: {entries}"


def test_public_namespace_is_all_modules_and_dunders():
    """``dir(softjax)`` beyond ``__all__`` holds only modules and dunders."""
    import softjax

    extra = [
        name
        for name in dir(softjax)
        if name not in softjax.__all__
        and not (name.startswith("__") and name.endswith("__"))
        and not inspect.ismodule(getattr(softjax, name))
    ]
    assert not extra, f"stray public names in softjax: {extra}"


def test_collection_covers_the_api():
    names = set(_NAMES)
    # spot checks across families, so an empty or partial collection fails
    for expected in (
        "softjax.sort",
        "softjax.top_k_st",
        "softjax.st",
        "softjax.where",
        "softjax.sqrt",
        "softjax.random.categorical",
        "softjax.random.permutation_st",
        "softjax.losses.ndcg",
    ):
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
