"""Griffe extension: document the typing aliases ``SoftBool`` and ``SoftIndex``.

The site is built by inspection, and inspection sees ``softjax.SoftBool`` as
the ``jaxtyping`` class it is bound to (an alias to ``jaxtyping``, which
cannot be resolved or documented). This extension replaces the members of
``softjax._src.types`` listed in ``ALIASES`` by attributes read statically
from the source, with the docstring written under each assignment, so that
``::: softjax.SoftBool`` renders an entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import griffe

MODULE = "softjax._src.types"
ALIASES = ("SoftBool", "SoftIndex")


class TypeAliasDocs(griffe.Extension):
    """Give the typing aliases of ``softjax._src.types`` their source docstrings."""

    def on_package(self, *, pkg: griffe.Module, loader: Any, **kwargs: Any) -> None:
        if pkg.path != "softjax":
            return
        mod = pkg.get_member(MODULE.removeprefix("softjax."))
        if not isinstance(mod.filepath, Path):
            return
        source = griffe.visit(MODULE, filepath=mod.filepath, code=mod.filepath.read_text(encoding="utf-8"))
        for name in ALIASES:
            static = source.members.get(name)
            if not isinstance(static, griffe.Attribute) or static.docstring is None:
                raise ValueError(f"{MODULE}.{name}: expected an assignment followed by a docstring")
            attribute = griffe.Attribute(
                name,
                lineno=static.lineno,
                endlineno=static.endlineno,
                value=static.value,
                docstring=griffe.Docstring(
                    static.docstring.value,
                    lineno=static.docstring.lineno,
                    endlineno=static.docstring.endlineno,
                    parser=mod.docstring.parser if mod.docstring else None,
                    parser_options=mod.docstring.parser_options if mod.docstring else None,
                ),
            )
            attribute.labels.add("type-alias")
            mod.set_member(name, attribute)
            # The re-export in softjax/__init__.py points at the new attribute.
            pkg.set_member(name, griffe.Alias(name, attribute, parent=pkg))
