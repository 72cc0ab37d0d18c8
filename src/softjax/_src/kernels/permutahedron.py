r"""Projection onto the permutahedron (Blondel et al. 2020), ``fast_soft_sort``'s kernel.

For rows $z, w \in \mathbb{R}^n$ (``z`` already divided by the softness) and
$p = 2, 3/2, 4/3$ for ``c0``, ``c1``, ``c2``:

$$\mathrm{PROJ}(z, w) = \arg\max_{y \in \mathcal{P}(w)} \langle z, y\rangle
  - \tfrac1p \textstyle\sum_i |y_i|^p,$$

and for ``smooth`` the log of the entropic projection,
$\log \arg\max_{\mu \in \mathcal{P}(e^w)} \langle z, \mu\rangle - \sum_i \mu_i(\log\mu_i - 1)$,
where $\mathcal{P}(w)$ is the convex hull of the permutations of $w$. Both reduce
to a non-increasing isotonic regression on $z$ sorted descending against $w$
sorted descending (:mod:`softjax._src.kernels.isotonic`), so the cost is two
sorts plus O(n log n); memory is O(n), and so is every derivative.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from softjax._src.kernels.isotonic import ISOTONIC_MODES, _psi, isotonic_offsets
from softjax._src.validation import validate_mode


def _working_dtype(dtype, mode: str):
    # c1/c2 solve piecewise polynomial equations: run them in the default float
    # (float64 under x64); c0/smooth keep the input dtype.
    if mode in ("c1", "c2"):
        return jnp.promote_types(dtype, jnp.result_type(float))
    return dtype


# Jitted (as is project_permutahedron below) so that eager, op-by-op callers
# reuse one compiled projection per shape and mode: un-jitted, every eager
# call re-traced and re-compiled the isotonic while-loop (0.1-0.4 s a call).
@functools.partial(jax.jit, static_argnames="mode")
def project_presorted(zeta: jax.Array, omega: jax.Array, mode: str) -> jax.Array:
    r"""The projection in sorted coordinates.

    Args:
        zeta: scores sorted descending along the last axis, shape ``(..., n)``.
        omega: anchors sorted descending, same shape.
        mode: ``"smooth"``, ``"c0"``, ``"c1"`` or ``"c2"``.

    Returns:
        $y_\pi$ of shape ``(..., n)``: $\psi(\zeta - v)$ where $v$ is the
        isotonic solution, non-increasing along the last axis.
    """
    validate_mode(mode, ISOTONIC_MODES)
    dtype = jnp.result_type(zeta, omega)
    work = _working_dtype(dtype, mode)
    t = isotonic_offsets(zeta.astype(work), omega.astype(work), mode)
    return _psi(t, mode).astype(dtype)


@functools.partial(jax.jit, static_argnames="mode")
def project_permutahedron(z: jax.Array, w: jax.Array, mode: str) -> jax.Array:
    r"""Project ``z`` onto the permutahedron of ``w`` along the last axis.

    Args:
        z: scores, shape ``(..., n)``, **already divided by the softness**.
        w: the points whose permutations span the polytope, same shape.
        mode: ``"smooth"`` (entropic, returns $\log\mu^*$), ``"c0"`` (Euclidean),
            ``"c1"`` ($p = 3/2$) or ``"c2"`` ($p = 4/3$).

    Returns:
        Array of shape ``(..., n)``; as the softness goes to 0 it tends to ``w``
        permuted into the order of ``z`` (largest ``w`` where ``z`` is largest).

    Raises:
        ValueError: if the shapes differ or ``mode`` is not a soft mode.

    Examples:
        >>> from softjax._src.kernels.permutahedron import project_permutahedron
        >>> z = jnp.array([0.3, -0.2, 0.25, 0.1]) / 0.3
        >>> project_permutahedron(z, jnp.array([0.9, 0.1, 0.5, 0.3]), "c0")
        Array([0.78333336, 0.1       , 0.6166667 , 0.3       ], dtype=float32)
    """
    validate_mode(mode, ISOTONIC_MODES)
    z, w = jnp.asarray(z), jnp.asarray(w)
    if z.shape != w.shape:
        raise ValueError(f"z and w must have the same shape, got {z.shape} and {w.shape}")
    if z.ndim == 0:
        raise ValueError("z and w must have at least one dimension")
    dtype = jnp.result_type(z, w)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)
    z, w = z.astype(dtype), w.astype(dtype)
    perm = jnp.argsort(-z, axis=-1, stable=True)
    zeta = jnp.take_along_axis(z, perm, axis=-1)
    omega = jnp.sort(w, axis=-1, descending=True)
    y_sorted = project_presorted(zeta, omega, mode)
    return unpermute(y_sorted, perm)


def unpermute(values: jax.Array, perm: jax.Array) -> jax.Array:
    """``out[..., perm[..., i]] = values[..., i]`` (inverse of ``take_along_axis``).

    A per-row scatter under ``vmap`` (the scatter's batch dimension is explicit,
    so a sharded batch stays sharded; ``put_along_axis`` builds the row indices
    itself and XLA's partitioner gathers the batch).
    """
    shape = values.shape
    n = shape[-1]

    def row(v, p):
        return jnp.zeros_like(v).at[p].set(v, unique_indices=True, mode="promise_in_bounds")

    out = jax.vmap(row)(values.reshape(-1, n), perm.reshape(-1, n))
    return out.reshape(shape)


__all__ = ["project_permutahedron", "project_presorted", "unpermute"]
