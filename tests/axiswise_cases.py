"""Operator x method tables shared by the axis-wise tests."""


import softjax as sj

MODES = ("smooth", "c0", "c1", "c2")
INDEX_METHODS = ("softsort", "neuralsort", "sorting_network", "ot")
VALUE_ONLY_METHODS = ("fast_soft_sort", "smooth_sort")
ALL_METHODS = INDEX_METHODS + VALUE_ONLY_METHODS

# name -> (callable taking (x, **kw) and returning one array, allowed methods)
INDEX_OPS = {
    "argmax": (lambda x, **kw: sj.argmax(x, **kw), INDEX_METHODS),
    "argmin": (lambda x, **kw: sj.argmin(x, **kw), INDEX_METHODS),
    "argsort": (lambda x, **kw: sj.argsort(x, **kw), INDEX_METHODS),
    "argsort_desc": (lambda x, **kw: sj.argsort(x, descending=True, **kw), INDEX_METHODS),
    "argquantile": (lambda x, **kw: sj.argquantile(x, 0.3, **kw), INDEX_METHODS),
    "argmedian": (lambda x, **kw: sj.argmedian(x, **kw), INDEX_METHODS),
    "argpercentile": (lambda x, **kw: sj.argpercentile(x, 75.0, **kw), INDEX_METHODS),
    # sorting_network's top_k returns None as the index.
    "top_k_index": (
        lambda x, **kw: sj.top_k(x, min(2, x.shape[-1]), **kw)[1],
        ("softsort", "neuralsort", "ot"),
    ),
}
VALUE_OPS = {
    "max": (lambda x, **kw: sj.max(x, **kw), ALL_METHODS),
    "min": (lambda x, **kw: sj.min(x, **kw), ALL_METHODS),
    "sort": (lambda x, **kw: sj.sort(x, **kw), ALL_METHODS),
    "sort_desc": (lambda x, **kw: sj.sort(x, descending=True, **kw), ALL_METHODS),
    "rank": (lambda x, **kw: sj.rank(x, **kw), ALL_METHODS),
    "quantile": (lambda x, **kw: sj.quantile(x, 0.3, **kw), ALL_METHODS),
    "median": (lambda x, **kw: sj.median(x, **kw), ALL_METHODS),
    "percentile": (lambda x, **kw: sj.percentile(x, 75.0, **kw), ALL_METHODS),
    "top_k_values": (lambda x, **kw: sj.top_k(x, min(2, x.shape[-1]), **kw)[0], ALL_METHODS),
}
ALL_OPS = {**INDEX_OPS, **VALUE_OPS}
# One operator per distinct code path (argmin/min negate, median/percentile
# call quantile): the transform tests run on these, the thin wrappers are
# covered by the hard-mode and reference tests.
CORE_OPS = {
    name: ALL_OPS[name]
    for name in ("argmax", "argsort_desc", "argquantile", "top_k_index",
                 "max", "sort", "rank", "quantile", "top_k_values")
}


def method_available(method: str) -> bool:
    """True once the method module exists (methods land in separate changes)."""
    from softjax._src.methods import registry

    try:
        registry.load(method, registry.ALL_METHODS)
    except ValueError as err:
        if "not available" in str(err):
            return False
        raise
    return True


def supports(method: str, mode: str) -> bool:
    return not (method == "smooth_sort" and mode != "smooth")


def combos(ops, methods=ALL_METHODS, modes=MODES):
    """(op name, method, mode) triples that the operators allow."""
    out = []
    for name, (_, allowed) in ops.items():
        for method in allowed:
            if method not in methods:
                continue
            for mode in modes:
                if supports(method, mode):
                    out.append((name, method, mode))
    return out
