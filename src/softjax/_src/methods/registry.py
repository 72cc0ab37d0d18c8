"""The declared methods, which operator each serves, and loading their modules.

Every method is declared once, as a :class:`~.declaration.MethodSpec` in
:data:`METHODS` (in the order the docs and error messages list them).
Operators validate ``method=`` with :func:`load`, which reads the
declarations; tests and the docs' method table read them too. A new method
needs only its module and a :func:`register` call.

Method modules are imported on first use so that a method whose optional
machinery is heavy (``ot``) costs nothing to users who never select it: the
declarations below name modules, they do not import them.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from softjax._src.methods.declaration import MethodSpec, OptionSpec
from softjax._src.validation import validate_choice

_PACKAGE = "softjax._src.methods"

METHODS: dict[str, MethodSpec] = {}

# What an operator needs from a method.
_SERVES: dict[str, Callable[[MethodSpec], bool]] = {
    # argmax, argmin, argsort, arg*quantile, top_k's index, the samplers
    "index": lambda spec: spec.index_outputs,
    # max, min, sort, rank, quantile, median, percentile, top_k's values
    "values": lambda spec: True,
    "top_k_mask": lambda spec: spec.top_k_mask,
}


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method from its declaration alone (after the declared ones).

    Raises:
        ValueError: a method of that name is already registered.
    """
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"register expects a MethodSpec, got {type(spec).__name__}")
    if spec.name in METHODS:
        raise ValueError(f"method={spec.name!r} is already registered")
    METHODS[spec.name] = spec
    return spec


def unregister(name: str) -> MethodSpec:
    """Remove a registered method (tests); returns its declaration."""
    if name not in METHODS:
        raise ValueError(f"method={name!r} is not registered")
    return METHODS.pop(name)


def methods(serves: str = "values") -> tuple[str, ...]:
    """Names of the registered methods serving ``serves`` (``"index"``, ``"values"``, ``"top_k_mask"``)."""
    accepts = _SERVES[serves]
    return tuple(name for name, spec in METHODS.items() if accepts(spec))


def validate(method: Any, serves: str = "values", extra: tuple[str, ...] = ()) -> str:
    """``method`` if a registered method serves ``serves`` (or it is one of ``extra``).

    The one place the invalid-method message is produced.

    Raises:
        ValueError: ``"Invalid method: ..."`` listing the allowed methods.
    """
    return validate_choice("method", method, methods(serves) + tuple(extra))


def load(method: Any, serves: str, mode: str | None = None) -> tuple[MethodSpec, ModuleType]:
    """Validate ``method`` (and a soft ``mode``) and return its declaration and module.

    Raises:
        ValueError: ``"Invalid method: ..."`` listing the methods that serve
            ``serves``; ``"<method> only supports mode=..."`` when ``mode``
            is not one of the method's modes.
    """
    spec = METHODS[validate(method, serves)]
    if mode is not None:
        spec.check_mode(mode)
    return spec, spec.load()


def standardizes(spec: MethodSpec) -> bool:
    """Whether the method works on standardized-and-squashed values."""
    return spec.standardizes


def raw_power(spec: MethodSpec) -> int:
    """The power of ``x`` the method divides by softness on raw (unstandardized) input."""
    return spec.raw_power


def __getattr__(name: str) -> tuple[str, ...]:
    # Derived views of METHODS, computed on access so that registered methods appear.
    views = {
        "INDEX_METHODS": lambda: methods("index"),
        "ALL_METHODS": lambda: methods("values"),
        # value operators read off soft-sorted values instead of contracting a SoftIndex
        "SORTED_VALUE_METHODS": lambda: tuple(n for n, s in METHODS.items() if s.sorted_values),
    }
    if name in views:
        return views[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_OT_OPTIONS = {
    option.name: option
    for option in (
        OptionSpec(
            "use_entropic_ot_sinkhorn_on_entropic",
            True,
            "mode='smooth': solve with Sinkhorn; False solves the entropic dual with the "
            "Newton solver of the sparse modes",
        ),
        OptionSpec(
            "sinkhorn_tol",
            1e-5,
            "Sinkhorn stops once the marginal violation (relative to the mass) is below this",
        ),
        OptionSpec(
            "sinkhorn_max_iter", 10000, "iteration cap of Sinkhorn (sj.OTConvergenceWarning when reached)"
        ),
        OptionSpec(
            "lbfgs_tol",
            1e-5,
            "tolerance on the marginal violation of the Newton dual solver (c0, c1, c2, and "
            "smooth without Sinkhorn)",
        ),
        OptionSpec(
            "lbfgs_max_iter",
            10000,
            "iteration cap of the Newton dual solver (sj.OTConvergenceWarning when reached)",
        ),
        OptionSpec(
            "implicit_diff",
            True,
            "differentiate the Newton solver's solution implicitly; False unrolls its "
            "iterations (Sinkhorn is always differentiated implicitly)",
        ),
    )
}

for _spec in (
    MethodSpec(
        "ot",
        f"{_PACKAGE}.ot",
        "optimal transport to a few anchors in [0, 1] (Sinkhorn for `smooth`, Newton on the dual "
        "for `c0`/`c1`/`c2`); quantiles and top-k with few anchors; solver options via `ot_kwargs`",
        citation="Cuturi et al. 2019",
        # transport costs are squared distances: on raw input they grow as x**2 / softness
        raw_power=2,
        top_k_mask=True,
        options=_OT_OPTIONS,
    ),
    MethodSpec(
        "softsort",
        f"{_PACKAGE}.softsort",
        "simplex projection of the negative distances to the hard sorted anchors; "
        "`argmax`/`max`, `top_k` with small k in O(kn), `sort`/`rank`/`top_k` values in "
        "O(n log n) (every mode)",
        citation="Prillo & Eisenschlos 2020",
        top_k_mask=True,
        near_linear_sort_modes=("smooth", "c0", "c1", "c2"),
    ),
    MethodSpec(
        "neuralsort",
        f"{_PACKAGE}.neuralsort",
        "simplex projection of (n + 1 - 2r) x̂ - A (A: soft pairwise distance sums); "
        "the default: accurate, dense gradients, robust; `sort`/`rank`/`top_k` values on "
        "certified windows from n = 1024 (every mode)",
        citation="Grover et al. 2019",
        top_k_mask=True,
        # Certified windows of the sorted row from n = 1024 (neuralsort_window.MIN_N).
        near_linear_sort_modes=("smooth", "c0", "c1", "c2"),
        near_linear_sort_min_n=1024,
    ),
    MethodSpec(
        "sorting_network",
        f"{_PACKAGE}.sorting_network",
        "bitonic network of soft compare-and-swaps; cheap values for large n (not permutation-equivariant)",
        citation="Petersen et al. 2021/2022",
        sorted_values=True,
        top_k_mask=True,
    ),
    MethodSpec(
        "fast_soft_sort",
        f"{_PACKAGE}.fast_soft_sort",
        "projection onto the permutahedron (isotonic regression), O(n log n); "
        "`sort`/`rank` values of long rows; `top_k_mask` with a real k",
        citation="Blondel et al. 2020",
        index_outputs=False,
        sorted_values=True,
        top_k_mask=True,
        real_k=True,
    ),
    MethodSpec(
        "smooth_sort",
        f"{_PACKAGE}.smooth_sort",
        "C∞ relaxation of the permutahedron (smooth bounds) on the raw values; "
        "when second derivatives must be smooth",
        citation="extends Blondel et al. 2020",
        index_outputs=False,
        sorted_values=True,
        modes=("smooth",),
        standardizes=False,
    ),
):
    register(_spec)
del _spec
