"""Which method serves which operator, and loading the method modules.

Method modules are imported on first use so that a method whose optional
machinery is heavy (``ot``) costs nothing to users who never select it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable

from softjax._src.validation import validate_choice

INDEX_METHODS = ("ot", "softsort", "neuralsort", "sorting_network")
ALL_METHODS = INDEX_METHODS + ("fast_soft_sort", "smooth_sort")
# Methods whose value operators (max, quantile, top_k values, ...) read off
# soft-sorted values instead of contracting a SoftIndex with the input.
SORTED_VALUE_METHODS = ("sorting_network", "fast_soft_sort", "smooth_sort")


def load(method: Any, allowed: tuple[str, ...]) -> ModuleType:
    """Validate ``method`` against ``allowed`` and return its module.

    Raises:
        ValueError: ``"Invalid method: ..."`` listing the allowed methods.
    """
    validate_choice("method", method, allowed)
    try:
        return importlib.import_module(f"softjax._src.methods.{method}")
    except ModuleNotFoundError as err:  # pragma: no cover - only in partial installs
        if err.name != f"softjax._src.methods.{method}":
            raise
        raise ValueError(f"method={method!r} is not available in this version of softjax") from None


def function(module: ModuleType, name: str, method: str) -> Callable[..., Any]:
    """The function ``name`` of a method module, with a clear error if it has none."""
    fn = getattr(module, name, None)
    if fn is None:
        raise ValueError(f"method={method!r} does not provide {name!r}")
    return fn


def standardizes(module: ModuleType) -> bool:
    """Whether the method works on standardized-and-squashed values."""
    return getattr(module, "STANDARDIZES", True)


def raw_power(module: ModuleType) -> int:
    """The power of ``x`` the method divides by softness on raw (unstandardized) input."""
    return getattr(module, "RAW_POWER", 1)
