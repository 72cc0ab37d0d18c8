"""Griffe extension: Sphinx roles as Markdown, and readable annotations.

The docstrings use ``:func:`name``` / ``:mod:`name``` (readable in ``help()``).
Here they become mkdocstrings cross-references when ``name`` is a documented
public object (``softjax.<name>`` or ``softjax.random.<name>``, resolved from
the docstring's own namespace first), and plain code otherwise.

The site is built by inspection (the ``*_st`` wrappers only exist at run
time), and inspection evaluates annotations (``ArrayLike`` shows as
``Union``). Signatures therefore take the annotations as written in the source
(``from __future__ import annotations`` keeps them as strings).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|mod|class|meth|attr|obj|data):`~?([^`]+)`")


def _public_names() -> set[str]:
    import softjax
    import softjax.random

    names = {"softjax", "softjax.random"}
    names.update(f"softjax.{n}" for n in dir(softjax) if not n.startswith("_"))
    names.update(f"softjax.random.{n}" for n in softjax.random.__all__)
    return names


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring griffe loads."""

    def __init__(self) -> None:
        super().__init__()
        self._public = _public_names()

    def _target(self, name: str, namespace: str) -> str | None:
        name = name.strip()
        candidates = [name] if name.startswith("softjax") else [f"{namespace}.{name}", f"softjax.{name}"]
        return next((c for c in candidates if c in self._public), None)

    def _convert(self, text: str, namespace: str) -> str:
        def repl(match: re.Match) -> str:
            name = match.group(1)
            target = self._target(name, namespace)
            label = name.rsplit(".", 1)[-1] if target else name
            return f"[`{label}`][{target}]" if target else f"`{name}`"

        return _ROLE.sub(repl, text)

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.is_alias or obj.docstring is None:
            return
        namespace = (
            "softjax.random" if obj.path.startswith(("softjax._src.random", "softjax.random")) else "softjax"
        )
        obj.docstring.value = self._convert(obj.docstring.value, namespace)

    def on_function_instance(self, *, node: Any, func: griffe.Function, agent: Any, **kwargs: Any) -> None:
        runtime = getattr(node, "obj", None)
        if not callable(runtime):
            return
        try:
            signature = inspect.signature(runtime)  # follows __wrapped__; strings stay strings
        except (TypeError, ValueError):
            return
        for param in func.parameters:
            written = signature.parameters.get(param.name)
            if written is not None and isinstance(written.annotation, str):
                param.annotation = written.annotation
        if isinstance(signature.return_annotation, str):
            func.returns = signature.return_annotation
