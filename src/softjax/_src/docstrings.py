"""Docstrings of generated functions: copy another function's ``Args:`` section.

The straight-through twins (``sj.sort_st``, ``sj.random.choice_st``, ...) take
exactly the arguments of the operator they wrap. Their docstrings get that
operator's ``Args:`` entries at import time, so that ``help()`` and the API
reference list every parameter on the twin's own entry without a second,
hand-kept copy that could drift.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

_ENTRY = re.compile(r"^    (\*{0,2}\w+)(?: \([^)]*\))?:")
_WIDTH = 79


def section(doc: str | None, title: str) -> list[str]:
    """The lines of the ``title:`` section of a Google-style docstring (title excluded).

    Lines keep their indentation relative to the cleaned docstring, so entries
    start with four spaces.
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    if f"{title}:" not in lines:
        return []
    out = []
    for line in lines[lines.index(f"{title}:") + 1 :]:
        if line.strip() and not line.startswith(" "):
            break  # the next section
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return out


def args_entries(doc: str | None) -> dict[str, list[str]]:
    """``{name: lines}`` of the ``Args:`` entries of a docstring."""
    entries: dict[str, list[str]] = {}
    current = None
    for line in section(doc, "Args"):
        match = _ENTRY.match(line)
        if match:
            current = match.group(1).lstrip("*")
            entries[current] = [line]
        elif current is not None:
            entries[current].append(line)
    return entries


def entry(name: str, text: str) -> list[str]:
    """An ``Args:`` entry ``name: text``, wrapped with Google-style continuation indents."""
    return textwrap.wrap(
        f"{name}: {text}",
        _WIDTH,
        initial_indent=" " * 4,
        subsequent_indent=" " * 8,
        break_long_words=False,
        break_on_hyphens=False,
    )


def with_args_of(doc: str, fn: Callable[..., Any], replace: Mapping[str, str] | None = None) -> str:
    """``doc`` with an ``Args:`` section listing every parameter of ``fn``.

    Entries are copied from ``fn``'s docstring, in signature order; ``replace``
    gives new descriptions for some parameters (e.g. ``mode``). The section
    goes before ``Returns:`` (or ``Examples:``, or at the end). A parameter
    that ``fn`` does not document gets a pointer to ``fn`` (never an import
    error); ``tests/test_docstrings.py`` requires every public function to
    document all of its parameters.
    """
    entries = args_entries(fn.__doc__)
    replace = replace or {}
    block = ["Args:"]
    for name in inspect.signature(fn).parameters:
        if name in replace:
            block += entry(name, replace[name])
        elif name in entries:
            block += entries[name]
        else:
            block += entry(name, f"see :func:`{fn.__name__}`.")
    lines = inspect.cleandoc(doc).splitlines()
    at = next((lines.index(t) for t in ("Returns:", "Examples:") if t in lines), len(lines))
    if at == len(lines):
        block = ["", *block]
    return "\n".join([*lines[:at], *block, "", *lines[at:]]).rstrip() + "\n"


def st_mode(fn: Callable[..., Any]) -> str:
    """The ``mode`` entry of ``st(fn)``: the soft mode whose derivative is returned."""
    param = inspect.signature(fn).parameters.get("mode")
    default = "smooth" if param is None or param.default is inspect.Parameter.empty else param.default
    return (
        'soft mode whose derivative is returned: ``"smooth"``, ``"c0"``, ``"c1"`` or '
        f'``"c2"`` (default ``"{default}"``); ``"hard"`` gives the plain hard function '
        "(hard value and hard derivative)."
    )
