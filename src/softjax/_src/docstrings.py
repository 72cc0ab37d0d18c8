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
from typing import Any, TypeVar

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


_ORDER = ("Args", "Returns", "Raises", "Examples")
_F = TypeVar("_F", bound=Callable[..., Any])


def _split_sections(doc: str) -> tuple[list[str], dict[str, list[str]]]:
    """The lines before the first section, and ``{title: lines}`` of the sections (title excluded)."""
    lines = inspect.cleandoc(doc).splitlines()
    starts = [i for i, line in enumerate(lines) if re.fullmatch(r"[A-Z]\w*( \w+)*:", line)]
    head = lines[: starts[0]] if starts else lines
    sections = {lines[i][:-1]: section(doc, lines[i][:-1]) for i in starts}
    while head and not head[-1].strip():
        head = head[:-1]
    return head, sections


def documented_like(source: Callable[..., Any], *titles: str, **replace: str) -> Callable[[_F], _F]:
    """Decorator: fill the docstring's missing sections from a sibling operator's.

    Operators of one family (``greater`` and ``less``, ``argquantile`` and
    ``argpercentile``, ...) take the same arguments and raise the same errors;
    writing those sections once keeps them from drifting. The decorated
    function's ``Args:`` lists each of its parameters, in signature order, from
    its own docstring if it documents it, else from ``replace``, else from
    ``source``; each section in ``titles`` (``"Returns"``, ``"Raises"``) that
    its docstring lacks is copied from ``source``. A parameter documented
    nowhere is an error at import time.
    """

    def decorate(fn: _F) -> _F:
        head, own = _split_sections(fn.__doc__ or "")
        theirs = _split_sections(source.__doc__ or "")[1]
        mine, sources = args_entries(fn.__doc__), args_entries(source.__doc__)
        args: list[str] = []
        for name in inspect.signature(fn).parameters:
            if name in mine:
                args += mine[name]
            elif name in replace:
                args += entry(name, replace[name])
            elif name in sources:
                args += sources[name]
            else:
                raise TypeError(
                    f"{fn.__name__}: parameter {name!r} is documented neither here nor by {source.__name__}"
                )
        sections = {**{t: theirs[t] for t in titles if t in theirs}, **own, "Args": args}
        order = [t for t in _ORDER if t in sections] + [t for t in sections if t not in _ORDER]
        body = [*head]
        for title in order:
            body += ["", f"{title}:", *sections[title]]
        fn.__doc__ = "\n".join(body) + "\n"
        return fn

    return decorate
