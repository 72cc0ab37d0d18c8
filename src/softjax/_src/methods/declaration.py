"""The declaration of a sorting method: one frozen record of everything it serves.

A :class:`MethodSpec` says which operators a method serves, in which modes,
on which input (standardized or raw), which options it takes, where its
functions live and how the docs describe it. The registry
(:mod:`softjax._src.methods.registry`) holds one per method; operators,
tests and the docs' method table read these declarations instead of keeping
their own lists. Declaring a method imports nothing: its module is imported
on first use (:meth:`MethodSpec.load`).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import Any

from softjax._src.validation import SOFT_MODES

# Functions of a method module (signatures in softjax._src.methods), by what
# the method serves.
VALUE_FUNCTIONS = ("sort", "rank")
INDEX_FUNCTIONS = ("argmax", "argsort", "quantile_rows")


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """One key of a method's ``ot_kwargs`` options: its default and what it means."""

    name: str
    default: Any
    meaning: str


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """The declaration of one ``method=`` of the axis-wise operators.

    Attributes:
        name: the ``method=`` string.
        module: dotted path of the module defining the method's functions,
            imported on first use.
        summary: one line for the docs' method table.
        citation: the paper the method follows (authors, year).
        index_outputs: serves SoftIndex outputs (``argmax``, ``argsort``,
            ``arg*quantile``, ``top_k``'s index, the samplers); ``False`` for
            methods that produce values (sorted values, ranks) only.
        sorted_values: the value operators (``max``, ``quantile``, ``top_k``
            values, ...) read off the method's soft ``sort`` instead of
            contracting a SoftIndex with the input; ``top_k``'s index is
            then ``None``. Methods without index outputs always do.
        modes: the soft modes the method supports (``"hard"`` is always
            handled by the operators).
        standardizes: works on the standardized-and-squashed input; ``False``
            means it always receives the raw values (``standardize`` is
            ignored).
        raw_power: the power of ``x`` the method divides by softness on raw
            input, so that rows near the dtype's maximum are scaled down
            enough (2 for squared-distance costs).
        top_k_mask: serves ``sj.top_k_mask`` through its ``top_k_mask``
            function.
        real_k: its ``top_k_mask`` is itself a projection onto the capped
            simplex: ``k`` may be a real (and traced) number, and the mask is
            used as returned (otherwise ``k`` is a static int and the mask is
            projected onto the capped simplex afterwards).
        near_linear_sort_modes: the modes in which the module's ``sort``
            costs O(n log n) (plus O(W) per output position on windows of
            width W, where it certifies them); ``top_k`` values for all but
            small ``k`` are then read off that sort, asked for its first
            ``count = k`` positions, instead of contracting ``k`` rows with
            the input (O(kn)).
        near_linear_sort_min_n: the row length from which that holds
            (shorter rows contract the rows).
        options: the keys the method accepts in ``ot_kwargs`` (methods
            without options ignore ``ot_kwargs``).
    """

    name: str
    module: str
    summary: str
    citation: str = ""
    index_outputs: bool = True
    sorted_values: bool = False
    modes: tuple[str, ...] = SOFT_MODES
    standardizes: bool = True
    raw_power: int = 1
    top_k_mask: bool = False
    real_k: bool = False
    near_linear_sort_modes: tuple[str, ...] = ()
    near_linear_sort_min_n: int = 0
    options: Mapping[str, OptionSpec] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name.isidentifier()):
            raise ValueError(f"a method name must be an identifier, got {self.name!r}")
        modes = tuple(self.modes)
        if not modes or any(m not in SOFT_MODES for m in modes):
            raise ValueError(f"{self.name}: modes must be a non-empty subset of {SOFT_MODES}, got {modes}")
        if not self.index_outputs and not self.sorted_values:
            raise ValueError(f"{self.name}: a method without index outputs must read values off its sort")
        if any(m not in modes for m in self.near_linear_sort_modes):
            raise ValueError(f"{self.name}: near_linear_sort_modes must be a subset of modes {modes}")
        if isinstance(self.near_linear_sort_min_n, bool) or not (
            isinstance(self.near_linear_sort_min_n, int) and self.near_linear_sort_min_n >= 0
        ):
            raise ValueError(f"{self.name}: near_linear_sort_min_n must be a non-negative int")
        if self.real_k and not self.top_k_mask:
            raise ValueError(f"{self.name}: real_k needs top_k_mask")
        if isinstance(self.raw_power, bool) or self.raw_power not in (1, 2):
            raise ValueError(f"{self.name}: raw_power must be 1 or 2, got {self.raw_power!r}")
        options = dict(self.options)
        for key, option in options.items():
            if not isinstance(option, OptionSpec) or option.name != key:
                raise ValueError(f"{self.name}: options[{key!r}] must be an OptionSpec named {key!r}")
        object.__setattr__(self, "modes", modes)
        object.__setattr__(self, "near_linear_sort_modes", tuple(self.near_linear_sort_modes))
        object.__setattr__(self, "options", MappingProxyType(options))

    @property
    def functions(self) -> tuple[str, ...]:
        """The functions the method's module must define for what it serves."""
        names: tuple[str, ...] = INDEX_FUNCTIONS if self.index_outputs else ()
        if self.index_outputs and not self.sorted_values:
            names += ("top_k",)
        names += VALUE_FUNCTIONS
        return names + (("top_k_mask",) if self.top_k_mask else ())

    def load(self) -> ModuleType:
        """The method's module (imported on first use), checked to define :attr:`functions`.

        Raises:
            ValueError: the module is missing (a partial install) or lacks a function.
        """
        try:
            module = importlib.import_module(self.module)
        except ModuleNotFoundError as err:  # pragma: no cover - only in partial installs
            if err.name != self.module:
                raise
            raise ValueError(f"method={self.name!r} is not available in this version of softjax") from None
        missing = [f for f in self.functions if not callable(getattr(module, f, None))]
        if missing:
            raise ValueError(f"method={self.name!r}: module {self.module} does not define {missing}")
        return module

    def check_mode(self, mode: str) -> None:
        """Raise ``ValueError`` when the soft ``mode`` is not one of :attr:`modes`."""
        if mode not in self.modes:
            allowed = " or ".join(f"mode={m!r}" for m in self.modes)
            raise ValueError(f"{self.name} only supports {allowed}, got mode={mode!r}")

    def check_options(self, given: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` for keys of ``given`` (``ot_kwargs``) that are not declared options.

        Methods that declare no options ignore ``ot_kwargs``.
        """
        if not self.options:
            return
        unknown = sorted(set(given) - set(self.options), key=str)
        if unknown:
            raise ValueError(unknown_options_message(unknown, tuple(self.options)))


def unknown_options_message(unknown: Any, valid: tuple[str, ...]) -> str:
    """The error message for unknown ``ot_kwargs`` keys, listing the valid ones."""
    return f"Unknown ot_kwargs key(s) {', '.join(map(repr, unknown))}; valid keys: {', '.join(valid)}" + (
        " (return_log_probs is an operator argument)" if "return_log_probs" in unknown else ""
    )


__all__ = [
    "INDEX_FUNCTIONS",
    "VALUE_FUNCTIONS",
    "MethodSpec",
    "OptionSpec",
    "unknown_options_message",
]
