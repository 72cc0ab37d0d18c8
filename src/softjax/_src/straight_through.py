r"""Straight-through estimation (Bengio et al. 2013): hard values, soft gradients.

A straight-through (ST) function returns the value of a *forward* computation
(the exact, non-differentiable operator) with the derivative of a *backward*
computation (its soft relaxation). Three layers:

* :func:`splice` combines two pytrees leaf by leaf;
* :func:`grad_replace` splices ``fn(..., forward=True)`` with
  ``fn(..., forward=False)``;
* :func:`st` splices ``fn(..., mode="hard")`` with ``fn(..., mode=mode)``; the
  ``*_st`` operators are ``st`` applied to the soft operators.

The splice is a ``jax.custom_jvp`` whose primal output *is* the forward array
and whose tangent is the backward tangent. The usual formula
$\mathrm{sg}(f - b) + b$ rounds (it differs from ``jax.nn.relu`` in 43 % of
float32 entries), and even $\mathrm{sg}(f) + (b - \mathrm{sg}(b))$ turns
``-0.0`` into ``+0.0``; the custom rule is bit-exact by construction, keeps
forward mode (``jvp``/``jacfwd``) working and is soft at every order of
differentiation.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from softjax._src import comparison, elementwise
from softjax._src.docstrings import st_mode, with_args_of
from softjax._src.kernels.vma import vary_like

__all__ = [
    "abs_st",
    "clip_st",
    "equal_st",
    "grad_replace",
    "greater_equal_st",
    "greater_st",
    "heaviside_st",
    "isclose_st",
    "less_equal_st",
    "less_st",
    "make_st",
    "not_equal_st",
    "relu_st",
    "round_st",
    "sign_st",
    "splice",
    "st",
]

_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD


# --------------------------------------------------------------------------- splice


@jax.custom_jvp
def _splice_array(forward: jax.Array, backward: jax.Array) -> jax.Array:
    del backward
    return forward


@_splice_array.defjvp
def _splice_array_jvp(
    primals: tuple[jax.Array, jax.Array], tangents: tuple[jax.Array, jax.Array]
) -> tuple[jax.Array, jax.Array]:
    forward, backward = primals
    _, backward_dot = tangents
    # Calling the spliced function again (not returning ``forward``) keeps the
    # primal output straight-through when this rule is itself differentiated.
    out = _splice_array(forward, backward)
    # A non-finite soft value has no meaningful derivative: the leaf then acts
    # as sg(forward), without NaN.
    out_dot = jnp.where(jnp.isfinite(backward), backward_dot, jnp.zeros_like(backward_dot))
    return out, out_dot


def _is_none(x: Any) -> bool:
    return x is None


def _splice_leaf(forward: Any, backward: Any) -> Any:
    if forward is None or backward is None:
        return forward
    f = jnp.asarray(forward)
    b = jnp.asarray(backward)
    dtype = jnp.result_type(f, b)
    if not jnp.issubdtype(dtype, jnp.inexact):
        return forward  # integer/bool leaves carry no derivative
    shape = jnp.broadcast_shapes(f.shape, b.shape)
    # Cast only when needed so a weakly typed forward value stays weakly typed.
    f = jnp.broadcast_to(f if f.dtype == dtype else f.astype(dtype), shape)
    b = jnp.broadcast_to(b if b.dtype == dtype else b.astype(dtype), shape)
    # Inside shard_map the custom JVP needs value and tangent to vary over the
    # same mesh axes: a hard value built from constants must vary like b.
    f, b = vary_like(f, b), vary_like(b, f)
    return _splice_array(f, b)


def splice(forward: Any, backward: Any) -> Any:
    r"""Value of ``forward`` with the derivative of ``backward``, leaf by leaf.

    Both arguments are pytrees with the same leaf order; ``None`` counts as a
    leaf. For each pair of leaves $(f, b)$ the result $y$ satisfies

    * $y = f$ bit for bit (after promotion to the common dtype of $f$ and $b$
      and broadcasting to their common shape), and
    * $\partial y = \partial b$ in forward and reverse mode, at every order,
      i.e. $y$ behaves like $\mathrm{sg}(f) + (b - \mathrm{sg}(b))$.

    Special cases: if $f$ or $b$ is ``None`` the leaf is $f$
    unchanged (the hard value, with whatever derivative it has); integer and
    boolean leaf pairs are returned as $f$; where $b$ is not finite (e.g. $f$
    and $b$ are the same infinity) the derivative is $0$, never NaN.

    Args:
        forward: pytree of forward (hard) values; its structure is kept.
        backward: pytree of backward (soft) values with as many leaves.

    Returns:
        A pytree with ``forward``'s structure.

    Raises:
        ValueError: if the two pytrees have different numbers of leaves.

    Examples:
        >>> import jax
        >>> from softjax._src.straight_through import splice
        >>> f = lambda x: splice(jnp.round(x), x**2)
        >>> f(1.3), jax.grad(f)(1.3)
        (Array(1., dtype=float32, weak_type=True), Array(2.6, dtype=float32, weak_type=True))
    """
    f_leaves, f_def = jax.tree_util.tree_flatten(forward, is_leaf=_is_none)
    b_leaves, b_def = jax.tree_util.tree_flatten(backward, is_leaf=_is_none)
    if len(f_leaves) != len(b_leaves):
        raise ValueError(
            "straight-through: the forward and backward outputs must have the same "
            f"pytree structure, got {f_def} and {b_def}."
        )
    return jax.tree_util.tree_unflatten(
        f_def, [_splice_leaf(f, b) for f, b in zip(f_leaves, b_leaves, strict=True)]
    )


# --------------------------------------------------------------------------- helpers


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature
        return None


def _fn_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _var_keyword(sig: inspect.Signature) -> str | None:
    return next((p.name for p in sig.parameters.values() if p.kind is _VAR_KEYWORD), None)


def _require_keyword(fn: Callable[..., Any], sig: inspect.Signature | None, name: str, caller: str) -> None:
    """Fail when decorating, not at the first call, if ``fn`` cannot take ``name`` as a keyword."""
    if sig is None:
        return
    param = sig.parameters.get(name)
    if param is None:
        if _var_keyword(sig) is None:
            raise TypeError(
                f"{caller}() needs a function that accepts a {name!r} keyword argument "
                f"(a parameter named {name!r} or **kwargs); {_fn_name(fn)}{sig} has neither."
            )
    elif param.kind in (_VAR_POSITIONAL, _VAR_KEYWORD) or (
        param.kind is _POSITIONAL_ONLY and name == "forward"
    ):
        raise TypeError(
            f"{caller}(): the parameter {name!r} of {_fn_name(fn)}{sig} must be an "
            f"ordinary parameter that can be passed by keyword, got kind {param.kind.description}."
        )


# --------------------------------------------------------------------------- grad_replace


def grad_replace(fn: Callable[..., Any]) -> Callable[..., Any]:
    r"""Turn ``fn(*args, forward: bool, **kwargs)`` into a straight-through function.

    The returned function evaluates ``fw = fn(*args, **kwargs, forward=True)``
    and ``bw = fn(*args, **kwargs, forward=False)`` and returns
    :func:`splice` ``(fw, bw)``: the value of the forward branch with the
    derivative of the backward branch, leaf by leaf over the output pytree
    (``None`` counts as a leaf; a ``None`` on either side returns the forward
    leaf unchanged). Both branches are always evaluated.

    Args:
        fn: a function accepting the boolean keyword argument ``forward`` (a
            parameter of that name or ``**kwargs``).

    Returns:
        A function with ``fn``'s signature minus ``forward``.

    Raises:
        TypeError: at decoration time if ``fn`` cannot accept ``forward`` as a
            keyword; at call time if ``forward`` is passed explicitly.

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> @sj.grad_replace
        ... def f(x, *, forward):
        ...     return x if forward else 2 * x
        >>> f(3.0), jax.grad(f)(3.0)
        (Array(3., dtype=float32, weak_type=True), Array(2., dtype=float32, weak_type=True))
    """
    sig = _signature(fn)
    _require_keyword(fn, sig, "forward", "grad_replace")

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if "forward" in kwargs:
            raise TypeError(f"{_fn_name(fn)}: 'forward' is set by grad_replace and cannot be passed.")
        fw = fn(*args, **kwargs, forward=True)
        bw = fn(*args, **kwargs, forward=False)
        return splice(fw, bw)

    if sig is not None and "forward" in sig.parameters:
        params = [p for p in sig.parameters.values() if p.name != "forward"]
        wrapped.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]  # read by inspect
    return wrapped


# --------------------------------------------------------------------------- st


# ``bind(args, kwargs) -> (mode_or_None, call)``, see :func:`_mode_binder`.
_Binder = Callable[[tuple[Any, ...], dict[str, Any]], tuple[Any, Callable[[Any], Any]]]


def _mode_binder(fn: Callable[..., Any], sig: inspect.Signature | None) -> _Binder:
    """Return ``bind(args, kwargs) -> (mode_or_None, call)`` for ``fn``.

    ``call(m)`` runs ``fn`` with the caller's arguments and mode ``m``. Binding
    with the signature puts every argument where Python would.
    """
    if sig is None:  # no introspection possible: pass ``mode`` as a keyword

        def bind_kwargs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Callable[[Any], Any]]:
            kwargs = dict(kwargs)
            mode = kwargs.pop("mode", None)
            return mode, lambda m: fn(*args, **kwargs, mode=m)

        return bind_kwargs

    param = sig.parameters.get("mode")
    if param is None:  # ``mode`` travels through **kwargs
        var_kw = _var_keyword(sig)
        assert var_kw is not None  # _require_keyword: without a mode parameter fn takes **kwargs

        def bind_var_kw(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Callable[[Any], Any]]:
            bound = sig.bind(*args, **kwargs)
            extra = dict(bound.arguments.get(var_kw, {}))
            mode = extra.pop("mode", None)

            def call(m: Any) -> Any:
                bound.arguments[var_kw] = {**extra, "mode": m}
                return fn(*bound.args, **bound.kwargs)

            return mode, call

        return bind_var_kw

    required = param.default is inspect.Parameter.empty

    def bind_param(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Callable[[Any], Any]]:
        if not required:
            bound = sig.bind(*args, **kwargs)
            mode = bound.arguments.get("mode")
        else:  # a missing required mode is allowed; bind again to check the rest
            bound = sig.bind_partial(*args, **kwargs)
            mode = bound.arguments.setdefault("mode", None)
            bound = sig.bind(*bound.args, **bound.kwargs)
        if param.kind is _POSITIONAL_ONLY:
            bound.apply_defaults()  # a positional-only mode needs all slots before it

        def call(m: Any) -> Any:
            bound.arguments["mode"] = m
            return fn(*bound.args, **bound.kwargs)

        return mode, call

    return bind_param


def make_st(fn: Callable[..., Any], hard_mode: str = "hard") -> Callable[..., Any]:
    """:func:`st` with a configurable forward mode (e.g. the samplers' ``"_hard"``).

    The forward pass runs ``fn(..., mode=hard_mode)``; calling the result with
    ``mode=hard_mode`` returns that pass alone (value and derivative of the
    hard function). Any other mode, ``"hard"`` included, is spliced.
    """
    if not callable(fn):
        raise TypeError(f"st() expects a callable, got {fn!r}")
    sig = _signature(fn)
    _require_keyword(fn, sig, "mode", "st")
    default_mode = "smooth"
    if sig is not None and "mode" in sig.parameters:
        declared = sig.parameters["mode"].default
        if declared is not inspect.Parameter.empty:  # a required mode defaults to "smooth"
            default_mode = declared
    bind = _mode_binder(fn, sig)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        mode, call = bind(args, kwargs)
        if mode is None:
            mode = default_mode
        if isinstance(mode, str) and mode == hard_mode:
            return call(hard_mode)
        return splice(call(hard_mode), call(mode))

    return wrapped


def st(fn: Callable[..., Any]) -> Callable[..., Any]:
    r"""Straight-through decorator: hard value, gradient of a soft mode.

    ``st(fn)(*args, mode=m, **kwargs)`` evaluates ``fn`` twice with the same
    arguments, once with ``mode="hard"`` and once with ``mode=m``, and returns
    the hard output with the derivative of the soft one (see :func:`splice`):
    $y = \mathrm{hard}$ exactly, $\partial y = \partial\,\mathrm{soft}_m$.

    How ``mode`` is found: the call is bound to ``fn``'s signature, so ``mode``
    may be passed by keyword or by position exactly as ``fn`` accepts it
    (later positional arguments keep their places; after ``*args`` it is
    keyword-only). If it is not passed, the default of ``fn``'s ``mode``
    parameter is used, or ``"smooth"`` when that parameter has no default or
    ``fn`` takes ``mode`` only through ``**kwargs``. ``mode="hard"`` returns
    the plain hard function (hard value and hard derivative). Both passes are
    traced; when nothing is differentiated, ``jit`` drops the unused soft
    pass (dead code), otherwise both run.

    Apply ``st`` around a whole composite function with a shared ``mode``
    rather than stacking ``*_st`` operators: a soft gradient multiplied by the
    hard zero derivative of another operator vanishes.

    Args:
        fn: a function with a ``mode`` parameter, or with ``**kwargs``.

    Returns:
        A function with the same signature (``functools.wraps``).

    Raises:
        TypeError: at decoration time if ``fn`` can receive no ``mode``
            argument (neither a ``mode`` parameter nor ``**kwargs``).

    Examples:
        >>> import jax
        >>> import softjax as sj
        >>> @sj.st
        ... def count_positive(x, mode="smooth"):
        ...     return sj.heaviside(x, mode=mode).sum()
        >>> x = jnp.array([-0.25, 0.25, 0.5])
        >>> count_positive(x)  # hard count
        Array(2., dtype=float32)
        >>> jax.grad(count_positive)(x, mode="c1")  # gradient of the c1 relaxation
        Array([1.125, 1.125, 0.   ], dtype=float32)
    """
    return make_st(fn)


# --------------------------------------------------------------------------- *_st operators

# The Args: section is copied from the soft operator's docstring (with_args_of).
_TWIN_DOC = """Straight-through :func:`softjax.{soft}`: the hard value with a soft gradient.

Evaluates ``{soft}(..., mode="hard")`` and ``{soft}(..., mode=mode)`` with the
same arguments and returns the first with the derivative of the second (see
:func:`softjax.st`). Signature and arguments are those of
:func:`softjax.{soft}`.{extra}

Returns:
    Exactly the value of ``{soft}(..., mode="hard")``, with the derivative of
        ``{soft}(..., mode=mode)``; in the common dtype of the hard and soft
        results (float for integer inputs that the hard operator keeps integer).

Examples:
    >>> import jax
    >>> import softjax as sj
{setup}
    >>> sj.{soft}_st({args})  # the value of sj.{soft}({args}, mode="hard")
    {value}
    >>> jac_st = jax.jit(jax.jacobian({st_fn}))({jac_args})
    >>> jac_soft = jax.jit(jax.jacobian({soft_fn}))({jac_args})
    >>> bool(jnp.allclose(jac_st, jac_soft))  # the soft derivative
    True
"""


def _st_twin(
    soft_fn: Callable[..., Any],
    args: str,
    value: str,
    setup: str = "x = jnp.array([0.3, -1.2, 2.0, 0.7])",
    output: str = "",
    extra: str = "",
) -> Callable[..., Any]:
    """``st(soft_fn)`` named ``<name>_st``, with the signature of ``soft_fn``.

    ``setup`` (doctest lines defining the inputs), ``args`` and ``value`` (the
    printed float32 hard value) make the docstring example; ``output`` selects
    the differentiated output of a tuple (e.g. ``"[0]"``).
    """
    wrapped = make_st(soft_fn)
    soft = soft_fn.__name__
    wrapped.__name__ = wrapped.__qualname__ = f"{soft}_st"
    wrapped.__module__ = __name__
    rest = args.split(", ", 1)[1] if ", " in args else ""
    if output or "=" in rest:
        tail = f", {rest}" if rest else ""
        st_fn, soft_fn_src = (f"lambda x: sj.{name}(x{tail}){output}" for name in (f"{soft}_st", soft))
        jac_args = "x"
    else:
        st_fn, soft_fn_src, jac_args = f"sj.{soft}_st", f"sj.{soft}", args
    doc = _TWIN_DOC.format(
        soft=soft,
        args=args,
        value=value.replace("\n", "\n    "),
        st_fn=st_fn,
        setup="\n".join(f"    >>> {line}" for line in setup.splitlines()),
        soft_fn=soft_fn_src,
        jac_args=jac_args,
        extra=extra,
    )
    wrapped.__doc__ = with_args_of(doc, soft_fn, {"mode": st_mode(soft_fn)})
    return wrapped


_XE = "x = jnp.array([-1.0, 0.5, 0.0, 0.8])"
_XY = _XE + "\ny = jnp.array([0.0, 0.5, 0.1, 0.2])"

abs_st = _st_twin(elementwise.abs, "x", "Array([1. , 0.5, 0. , 0.8], dtype=float32)", _XE)
clip_st = _st_twin(elementwise.clip, "x, -0.5, 0.5", "Array([-0.5,  0.5,  0. ,  0.5], dtype=float32)", _XE)
heaviside_st = _st_twin(elementwise.heaviside, "x", "Array([0. , 1. , 0.5, 1. ], dtype=float32)", _XE)
relu_st = _st_twin(elementwise.relu, "x", "Array([0. , 0.5, 0. , 0.8], dtype=float32)", _XE)
round_st = _st_twin(
    elementwise.round,
    "x",
    "Array([-1.,  0.,  2.,  2.], dtype=float32)",
    "x = jnp.array([-0.7, 0.3, 1.5, 2.5])",
)
sign_st = _st_twin(elementwise.sign, "x", "Array([-1.,  1.,  0.,  1.], dtype=float32)", _XE)
greater_st = _st_twin(comparison.greater, "x, y", "Array([0., 0., 0., 1.], dtype=float32)", _XY)
greater_equal_st = _st_twin(comparison.greater_equal, "x, y", "Array([0., 1., 0., 1.], dtype=float32)", _XY)
less_st = _st_twin(comparison.less, "x, y", "Array([1., 0., 1., 0.], dtype=float32)", _XY)
less_equal_st = _st_twin(comparison.less_equal, "x, y", "Array([1., 1., 1., 0.], dtype=float32)", _XY)
equal_st = _st_twin(comparison.equal, "x, y", "Array([0., 1., 0., 0.], dtype=float32)", _XY)
not_equal_st = _st_twin(comparison.not_equal, "x, y", "Array([1., 0., 1., 1.], dtype=float32)", _XY)
isclose_st = _st_twin(comparison.isclose, "x, y", "Array([0., 1., 0., 0.], dtype=float32)", _XY)
