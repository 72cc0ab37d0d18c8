"""Operator x method tables shared by the axis-wise tests.

Which methods an operator takes is read from the method declarations
(``registry.METHODS``): :func:`methods_for` and :func:`combos` read them at
call time, so a method registered from its declaration alone is tested too;
the tuples below are snapshots taken at import.
"""

import softjax as sj
from softjax._src.methods import registry

MODES = ("smooth", "c0", "c1", "c2")


def methods_for(op: str) -> tuple[str, ...]:
    """The registered methods that the operator ``op`` (a key of ``ALL_OPS``) accepts."""
    if op == "top_k_index":  # methods reading values off their sort return None as the index
        return tuple(
            name for name, spec in registry.METHODS.items() if spec.index_outputs and not spec.sorted_values
        )
    return registry.methods("index" if op in _INDEX_FNS else "values")


# name -> callable taking (x, **kw) and returning one array
_INDEX_FNS = {
    "argmax": lambda x, **kw: sj.argmax(x, **kw),
    "argmin": lambda x, **kw: sj.argmin(x, **kw),
    "argsort": lambda x, **kw: sj.argsort(x, **kw),
    "argsort_desc": lambda x, **kw: sj.argsort(x, descending=True, **kw),
    "argquantile": lambda x, **kw: sj.argquantile(x, 0.3, **kw),
    "argmedian": lambda x, **kw: sj.argmedian(x, **kw),
    "argpercentile": lambda x, **kw: sj.argpercentile(x, 75.0, **kw),
    "top_k_index": lambda x, **kw: sj.top_k(x, min(2, x.shape[-1]), **kw)[1],
}
_VALUE_FNS = {
    "max": lambda x, **kw: sj.max(x, **kw),
    "min": lambda x, **kw: sj.min(x, **kw),
    "sort": lambda x, **kw: sj.sort(x, **kw),
    "sort_desc": lambda x, **kw: sj.sort(x, descending=True, **kw),
    "rank": lambda x, **kw: sj.rank(x, **kw),
    "quantile": lambda x, **kw: sj.quantile(x, 0.3, **kw),
    "median": lambda x, **kw: sj.median(x, **kw),
    "percentile": lambda x, **kw: sj.percentile(x, 75.0, **kw),
    "top_k_values": lambda x, **kw: sj.top_k(x, min(2, x.shape[-1]), **kw)[0],
}

INDEX_METHODS = registry.methods("index")
ALL_METHODS = registry.methods("values")
VALUE_ONLY_METHODS = tuple(m for m in ALL_METHODS if m not in INDEX_METHODS)

# name -> (callable taking (x, **kw) and returning one array, allowed methods)
INDEX_OPS = {name: (fn, methods_for(name)) for name, fn in _INDEX_FNS.items()}
VALUE_OPS = {name: (fn, methods_for(name)) for name, fn in _VALUE_FNS.items()}
ALL_OPS = {**INDEX_OPS, **VALUE_OPS}
# One operator per distinct code path (argmin/min negate, median/percentile
# call quantile): the transform tests run on these, the thin wrappers are
# covered by the hard-mode and reference tests.
CORE_OPS = {
    name: ALL_OPS[name]
    for name in (
        "argmax",
        "argsort_desc",
        "argquantile",
        "top_k_index",
        "max",
        "sort",
        "rank",
        "quantile",
        "top_k_values",
    )
}


def method_available(method: str) -> bool:
    """True once the method module exists (methods land in separate changes)."""
    try:
        registry.load(method, "values")
    except ValueError as err:
        if "not available" in str(err):
            return False
        raise
    return True


def supports(method: str, mode: str) -> bool:
    """Whether ``method`` takes the soft ``mode`` (its declared modes; any name not registered does)."""
    spec = registry.METHODS.get(method)
    return spec is None or mode not in MODES or mode in spec.modes


def combos(ops, methods=None, modes=MODES):
    """(op name, method, mode) triples that the operators allow (``methods``: a subset, default all)."""
    out = []
    for name in ops:
        for method in methods_for(name):
            if methods is not None and method not in methods:
                continue
            out.extend((name, method, mode) for mode in modes if supports(method, mode))
    return out
