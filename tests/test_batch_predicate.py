"""Fast paths chosen once per batch stay one branch under ``jax.vmap``.

A ``lax.cond`` with a batched predicate becomes a ``select`` that runs every
branch: the quadratic fallbacks of the near-linear paths would run on every
``vmap``-ed call. ``all_rows``/``any_rows`` fold the mapped rows into the
batch's predicate instead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softjax as sj
from softjax._src.kernels import neuralsort as neuralsort_kernel
from softjax._src.kernels.batch_predicate import all_rows, any_rows
from softjax._src.methods import neuralsort


def _primitives(jaxpr) -> set[str]:
    """The primitives of ``jaxpr`` and of every jaxpr nested in its equations."""
    out = set()
    for eqn in jaxpr.eqns:
        out.add(eqn.primitive.name)
        for param in eqn.params.values():
            for sub in param if isinstance(param, tuple | list) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    out |= _primitives(inner)
    return out


def test_flags_reduce_over_mapped_axes():
    flags = jnp.array([[[True, True], [True, True]], [[True, False], [True, True]]])
    np.testing.assert_array_equal(all_rows(flags), False)
    np.testing.assert_array_equal(any_rows(~flags), True)
    # Nested vmaps: one scalar for everything mapped, broadcast back.
    np.testing.assert_array_equal(jax.vmap(jax.vmap(all_rows))(flags), [[False, False], [False, False]])
    np.testing.assert_array_equal(jax.vmap(all_rows)(flags[:1]), [True])
    np.testing.assert_array_equal(jax.vmap(any_rows)(~flags[:1]), [False])


def test_cond_stays_a_branch_under_vmap_and_autodiff():
    def f(x):
        ok = all_rows(x > 0)
        return jax.lax.cond(ok, lambda: jnp.sum(x**2), lambda: jnp.sum(x**3))

    x = jnp.array([[1.0, 2.0], [-1.0, 3.0]])
    assert "cond" in _primitives(jax.make_jaxpr(jax.vmap(f))(x).jaxpr)
    assert "select_n" not in _primitives(jax.make_jaxpr(jax.vmap(f))(x).jaxpr)
    # One row fails: the whole mapped batch takes the second branch.
    np.testing.assert_allclose(jax.vmap(f)(x), [9.0, 26.0])
    np.testing.assert_allclose(jax.vmap(jax.grad(f))(x), 3 * x**2)
    np.testing.assert_allclose(jax.grad(lambda v: jnp.sum(jax.vmap(f)(v)))(x), 3 * x**2)
    _, tangent = jax.jvp(jax.vmap(f), (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(tangent, [15.0, 30.0])
    np.testing.assert_allclose(jax.hessian(f)(x[0]), 2 * jnp.eye(2))


@pytest.fixture
def dense_row_calls(monkeypatch):
    """Counts the evaluations of NeuralSort's dense rows (a host callback)."""
    calls = []
    original = neuralsort_kernel.neuralsort_rows

    def counted(*args, **kwargs):
        jax.debug.callback(lambda: calls.append(1))
        return original(*args, **kwargs)

    monkeypatch.setattr(neuralsort, "neuralsort_rows", counted)
    return calls


@pytest.mark.parametrize("op", ["sort", "rank"])
def test_vmapped_neuralsort_skips_the_dense_rows(dense_row_calls, op):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 1100)), jnp.float64)

    def f(v, softness):
        return getattr(sj, op)(v, method="neuralsort", mode="smooth", softness=softness)

    batched = jax.jit(lambda v: getattr(sj, op)(v, axis=-1, method="neuralsort", mode="smooth"))(x)
    assert not dense_row_calls
    mapped = jax.jit(jax.vmap(lambda v: f(v, 0.1)))(x)
    jax.block_until_ready(mapped)
    assert not dense_row_calls, "the dense rows ran under vmap"
    np.testing.assert_allclose(mapped, batched, rtol=1e-10, atol=1e-10)
    # The probe sees the dense rows where they do run: at softness 30 every
    # row spreads over the whole input, so no window certifies.
    jax.block_until_ready(jax.jit(jax.vmap(lambda v: f(v, 30.0)))(x))
    assert dense_row_calls


def test_vmapped_softsort_top_k_runs_one_slice(monkeypatch):
    from softjax._src.methods import softsort

    lengths = []
    original = softsort.sort_window

    def recorded(x, *args, **kwargs):
        m = x.shape[-1]
        jax.debug.callback(lambda: lengths.append(m))
        return original(x, *args, **kwargs)

    monkeypatch.setattr(softsort, "sort_window", recorded)
    monkeypatch.setattr(softsort, "TOP_SLICE_MIN_N", 256)  # slices of 80, 160, 320 of 512
    x = jnp.asarray(np.random.default_rng(1).standard_normal((3, 512)), jnp.float64)

    def values(v):
        return sj.top_k(v, 16, method="softsort", mode="c0")[0]

    mapped = jax.block_until_ready(jax.jit(jax.vmap(values))(x))
    assert set(lengths) == {80}, f"sorted slices of lengths {sorted(set(lengths))}"
    np.testing.assert_allclose(mapped, values(x), rtol=1e-10, atol=1e-10)
