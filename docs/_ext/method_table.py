"""The method tables of ``docs/choosing-a-method.md``, rendered from the method declarations.

    python docs/_ext/method_table.py     # writes docs/generated/tables/*.md

Each method is declared once (``softjax._src.methods.registry.METHODS``); the
tables of which operator takes which method, of the methods themselves and
of their options are read off those declarations, so a new method appears in
the docs from its declaration alone. The MkDocs hook (``docs/_ext/hooks.py``)
runs this before every build; the page includes the files with ``--8<--``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "generated" / "tables"

# Operator groups of the first table and what they need from a method.
OPERATOR_GROUPS = (
    (("argmax", "argmin"), "index"),
    (("max", "min"), "values"),
    (("argsort", "argquantile", "argmedian", "argpercentile"), "index"),
    (("sort", "rank", "top_k", "quantile", "median", "percentile"), "values"),
    (("top_k_mask",), "top_k_mask"),
)


def _code(names) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def operator_table() -> str:
    """Markdown: operators, their default ``method`` and the methods they take."""
    import softjax as sj
    from softjax._src import topk_mask
    from softjax._src.methods import registry

    every = registry.methods("values")
    lines = ["| operators | default `method` | allowed |", "|---|---|---|"]
    for operators, serves in OPERATOR_GROUPS:
        defaults = {inspect.signature(getattr(sj, op)).parameters["method"].default for op in operators}
        if len(defaults) != 1:
            raise ValueError(f"operators {operators} have different default methods {defaults}")
        allowed = topk_mask.methods() if serves == "top_k_mask" else registry.methods(serves)
        text = f"all {len(every)}" if allowed == every else _code(allowed)
        lines.append(f"| {_code(operators)} | `{defaults.pop()}` | {text} |")
    return "\n".join(lines) + "\n"


def method_table() -> str:
    """Markdown: one row per declared method (outputs, modes, standardization, summary, paper)."""
    from softjax._src.methods import registry
    from softjax._src.methods.declaration import SOFT_MODES

    lines = [
        "| method | outputs | modes | standardizes | summary | paper |",
        "|---|---|---|---|---|---|",
    ]
    for spec in registry.METHODS.values():
        outputs = "SoftIndex and values" if spec.index_outputs else "values only"
        modes = "all" if spec.modes == SOFT_MODES else _code(spec.modes)
        standardizes = "yes" if spec.standardizes else "no (raw values)"
        lines.append(
            f"| `{spec.name}` | {outputs} | {modes} | {standardizes} | "
            f"{_cell(spec.summary)} | {_cell(spec.citation)} |"
        )
    return "\n".join(lines) + "\n"


def options_table() -> str:
    """Markdown: the ``ot_kwargs`` keys of every method that declares options."""
    from softjax._src.methods import registry

    lines = ["| method | key | default | meaning |", "|---|---|---|---|"]
    lines.extend(
        f"| `{spec.name}` | `{option.name}` | `{option.default!r}` | {_cell(option.meaning)} |"
        for spec in registry.METHODS.values()
        for option in spec.options.values()
    )
    return "\n".join(lines) + "\n"


TABLES = {"operators.md": operator_table, "methods.md": method_table, "options.md": options_table}


def write(output: Path = OUTPUT) -> list[Path]:
    """Write the tables; a file whose content is unchanged is left alone.

    (No rebuild loop under ``mkdocs serve``.)
    """
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, render in TABLES.items():
        path = output / name
        text = render()
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}")
