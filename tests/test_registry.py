"""Method declarations: one ``MethodSpec`` per method, read by operators, tests and docs."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import inspect
import sys
import types
import typing
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import axiswise_cases
import softjax as sj
from softjax._src import topk_mask
from softjax._src.kernels.transport import OTOptions
from softjax._src.methods import registry
from softjax._src.methods.declaration import MethodSpec, OptionSpec
from softjax._src.types import Method

X = jnp.array([0.2, 1.7, -0.5, 0.9, 0.3])
ROOT = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("method_table", ROOT / "docs" / "_ext" / "method_table.py")
method_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(method_table)


@contextlib.contextmanager
def throwaway_method(name: str = "throwaway"):
    """A method registered from its declaration alone; its module delegates to ``softsort``."""
    from softjax._src.methods import softsort

    module = types.ModuleType(f"_softjax_test_{name}")
    module.__doc__ = f'``method="{name}"``: SoftSort under another name (Prillo & Eisenschlos 2020).'
    for function in ("argmax", "argsort", "top_k", "quantile_rows", "sort", "rank", "top_k_mask"):
        setattr(module, function, getattr(softsort, function))
    sys.modules[module.__name__] = module
    spec = MethodSpec(
        name,
        module.__name__,
        "SoftSort under another name (a test method)",
        citation="Prillo & Eisenschlos 2020",
        modes=("smooth", "c0"),
        top_k_mask=True,
    )
    registry.register(spec)
    try:
        yield spec
    finally:
        registry.unregister(name)
        del sys.modules[module.__name__]


def test_method_registered_from_its_declaration_alone():
    with throwaway_method() as spec:
        # (a) accepted by method= validation, and listed in the invalid-method message
        for op, kw in (
            (sj.sort, {}),
            (sj.argsort, {}),
            (sj.rank, {}),
            (sj.max, {}),
            (sj.argmax, {}),
            (sj.quantile, {"q": 0.3}),
            (sj.argquantile, {"q": 0.3}),
        ):
            np.testing.assert_allclose(
                op(X, method="throwaway", **kw), op(X, method="softsort", **kw), err_msg=op.__name__
            )
            with pytest.raises(ValueError, match=r"Invalid method: 'bubble'. .*'throwaway'"):
                op(X, method="bubble", **kw)
        _, index = sj.top_k(X, 2, method="throwaway")
        np.testing.assert_allclose(index, sj.top_k(X, 2, method="softsort")[1])
        np.testing.assert_allclose(
            sj.top_k_mask(X, 2, method="throwaway"), sj.top_k_mask(X, 2, method="softsort")
        )
        with pytest.raises(ValueError, match=r"Invalid method: 'bubble'. .*'throwaway'.*'threshold'"):
            sj.top_k_mask(X, 2, method="bubble")
        # its declared modes, with the one message
        np.testing.assert_allclose(
            sj.sort(X, method="throwaway", mode="c0"), sj.sort(X, method="softsort", mode="c0")
        )
        with pytest.raises(
            ValueError, match="throwaway only supports mode='smooth' or mode='c0', got mode='c1'"
        ):
            sj.sort(X, method="throwaway", mode="c1")
        np.testing.assert_array_equal(sj.sort(X, method="throwaway", mode="hard"), jnp.sort(X))
        # (b) in the docs' tables
        assert (
            "| `throwaway` | SoftIndex and values | `smooth`, `c0` | yes | SoftSort under another name"
            in method_table.method_table()
        )
        argsort_row = next(row for row in method_table.operator_table().splitlines() if "`argsort`" in row)
        assert "`throwaway`" in argsort_row
        # (c) in the tests' parametrisation
        assert "throwaway" in axiswise_cases.methods_for("argsort")
        assert "throwaway" in axiswise_cases.methods_for("top_k_index")
        assert "throwaway" in topk_mask.methods()
        combos = axiswise_cases.combos(axiswise_cases.ALL_OPS)
        assert ("sort", "throwaway", "c0") in combos and ("sort", "throwaway", "c1") not in combos
        assert spec.functions == ("argmax", "argsort", "quantile_rows", "top_k", "sort", "rank", "top_k_mask")
    # unregistered: gone everywhere
    with pytest.raises(ValueError, match="Invalid method: 'throwaway'"):
        sj.sort(X, method="throwaway")
    assert "throwaway" not in method_table.method_table()
    assert "throwaway" not in axiswise_cases.methods_for("sort")


def test_values_only_method():
    with throwaway_method("valuesonly") as spec:
        registry.unregister("valuesonly")
        registry.register(
            dataclasses.replace(spec, index_outputs=False, sorted_values=True, top_k_mask=False)
        )
        np.testing.assert_allclose(sj.sort(X, method="valuesonly"), sj.sort(X, method="softsort"))
        assert sj.top_k(X, 2, method="valuesonly")[1] is None
        with pytest.raises(ValueError, match="Invalid method: 'valuesonly'"):
            sj.argsort(X, method="valuesonly")
        assert "valuesonly" not in axiswise_cases.methods_for("argmax")
        assert "values only" in next(
            row for row in method_table.method_table().splitlines() if "`valuesonly`" in row
        )


def test_registration_errors():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.METHODS["ot"])
    with pytest.raises(ValueError, match="not registered"):
        registry.unregister("bubble")
    with pytest.raises(ValueError, match="modes"):
        MethodSpec("bad", "x", "", modes=("hard",))
    with pytest.raises(ValueError, match="read values off its sort"):
        MethodSpec("bad", "x", "", index_outputs=False)
    with pytest.raises(ValueError, match="near_linear_sort_modes"):
        MethodSpec("bad", "x", "", modes=("smooth",), near_linear_sort_modes=("c0",))
    for bad_n in (-1, 2.0, True):
        with pytest.raises(ValueError, match="near_linear_sort_min_n"):
            MethodSpec("bad", "x", "", near_linear_sort_min_n=bad_n)
    with pytest.raises(ValueError, match="does not define"):
        types_module = types.ModuleType("_softjax_test_empty")
        sys.modules[types_module.__name__] = types_module
        try:
            MethodSpec("empty", types_module.__name__, "").load()
        finally:
            del sys.modules[types_module.__name__]


def test_derived_views():
    assert tuple(registry.METHODS) == (
        "ot",
        "softsort",
        "neuralsort",
        "sorting_network",
        "fast_soft_sort",
        "smooth_sort",
    )
    assert registry.INDEX_METHODS == ("ot", "softsort", "neuralsort", "sorting_network")
    assert tuple(registry.METHODS) == registry.ALL_METHODS
    assert registry.SORTED_VALUE_METHODS == ("sorting_network", "fast_soft_sort", "smooth_sort")
    assert set(typing.get_args(Method)) == set(registry.METHODS)  # the static typing alias
    assert tuple(registry.METHODS) == axiswise_cases.ALL_METHODS
    assert topk_mask.methods() == (
        "ot",
        "softsort",
        "neuralsort",
        "sorting_network",
        "fast_soft_sort",
        "threshold",
    )
    assert topk_mask.real_k_methods() == ("fast_soft_sort", "threshold")


@pytest.mark.parametrize("name", list(registry.METHODS))
def test_method_modules_have_one_shape(name):
    spec = registry.METHODS[name]
    module = spec.load()
    first_line = module.__doc__.splitlines()[0]  # names the method and the paper it follows
    assert first_line.startswith(f'``method="{name}"``: ') and first_line.endswith(f"({spec.citation}).")
    reference = registry.METHODS["ot"].load()
    for function in spec.functions:
        fn = getattr(module, function)
        assert fn.__doc__, f"{name}.{function} has no docstring"
        expected = list(inspect.signature(getattr(reference, function)).parameters)
        if function == "sort" and spec.near_linear_sort_modes:
            expected.append("count")  # top_k's values: the first `count` positions only
        assert list(inspect.signature(fn).parameters) == expected, f"{name}.{function}"
    assert set(module.__all__) == set(spec.functions)


def test_ot_options_are_declared():
    options = registry.METHODS["ot"].options
    assert tuple(options) == OTOptions._fields
    for key, option in options.items():
        assert isinstance(option, OptionSpec) and option.name == key
        assert option.default is not None and option.meaning
        assert option.default == OTOptions._field_defaults[key]  # the solver's own default
    for name, spec in registry.METHODS.items():
        if name != "ot":
            assert not spec.options


def test_unknown_ot_kwargs_key_is_a_value_error():
    valid = (
        "valid keys: use_entropic_ot_sinkhorn_on_entropic, sinkhorn_tol, sinkhorn_max_iter, "
        "lbfgs_tol, lbfgs_max_iter, implicit_diff"
    )
    for op in (sj.sort, sj.argmax, sj.rank):
        with pytest.raises(ValueError, match=f"Unknown ot_kwargs key\\(s\\) 'bogus'; {valid}"):
            op(X, method="ot", ot_kwargs={"bogus": 1})
    with pytest.raises(ValueError, match="return_log_probs is an operator argument"):
        sj.argsort(X, method="ot", ot_kwargs={"return_log_probs": True})
    # methods without options ignore ot_kwargs, as before
    np.testing.assert_allclose(
        sj.sort(X, method="softsort", ot_kwargs={"bogus": 1}), sj.sort(X, method="softsort")
    )
