r"""``method="fast_soft_sort"``: projections onto the permutahedron (Blondel et al. 2020).

Both operators solve one isotonic regression per row
(:mod:`softjax._src.kernels.permutahedron`): O(n log n) time, O(n) memory, for
the value and every derivative (``jvp``, ``grad``, ``jacfwd``, ``hessian``, ...).
Only ``sort``, ``rank`` and ``top_k_mask`` are provided; ``max``, ``min``,
``quantile``, ``median``, ``percentile`` and ``top_k`` read their values off
``sort``. ``top_k_mask`` is the projection onto the capped simplex, the
permutahedron of $(1, \dots, 1, 0, \dots, 0)$ (Sander et al. 2023), with a
real ``k``.

**Softness scales differ between ``sort`` and ``rank``**. In
``sort`` the anchors $\rho_j / s$ are spaced $1/((n-1)s)$ while the squashed data
$\hat x$ lie in $(0, 1)$, so blocks pool only where neighbouring order
statistics of $\hat x$ are closer than about $1/((n-1)s)$: for small ``n`` the
output equals the hard sort over a wide range of softness (for 5 elements,
every ``softness <= 1``), and gradients are then the hard sort's permutation.
In ``rank`` the scores are $\hat x / s$ against anchors spaced $1/(n-1)$, so the
same softness is much softer. To soften ``sort`` at moderate ``n`` use a
softness of order ``1`` or larger.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from softjax._src.kernels.capped_simplex import project_capped_simplex
from softjax._src.kernels.permutahedron import project_presorted, unpermute


def _positions(n: int, dtype, offset: int) -> jax.Array:
    return (jnp.arange(n, dtype=dtype) + offset) / max(n - 1, 1)


def sort(x, xhat, *, softness, mode, descending, gated, unsquash, options):
    r"""Soft sort: $\mathrm{PROJ}(\rho / s, \hat x)$ read in ascending order.

    $\rho_j = j / \max(n-1, 1)$; the output is the projection of the anchors onto
    the permutahedron of $\hat x$ (for ``smooth`` the log of the entropic
    projection onto that of $e^{\hat x}$), mapped back from squashed space by
    ``unsquash``. Output is sorted and lies within $[\min x, \max x]$.
    ``gated`` and ``options`` are unused. See the module docstring for the
    softness scale.
    """
    del x, gated, options
    n = xhat.shape[-1]
    # z = rho / s is ascending, so its descending order is the reversal.
    zeta = jnp.broadcast_to(_positions(n, xhat.dtype, 0)[::-1] / softness, xhat.shape)
    omega = jnp.sort(xhat, axis=-1, descending=True)
    y = project_presorted(zeta, omega, mode)  # descending
    return unsquash(y if descending else y[..., ::-1])


def rank(x, xhat, *, softness, mode, descending, options):
    r"""Soft ranks: $(n-1)\,\mathrm{PROJ}(\pm\hat x / s, \rho')$ with $\rho'_j = (j+1)/(n-1)$.

    Scores are $-\hat x / s$ when ``descending`` (rank 1 = largest), else
    $\hat x / s$. Ranks lie in $[1, n]$ (the projection stays in the
    permutahedron; float rounding is clipped in value only, gradients are
    untouched). ``options`` is unused. See the module docstring for the
    softness scale.
    """
    del x, options
    n = xhat.shape[-1]
    scale = max(n - 1, 1)
    z = (-xhat if descending else xhat) / softness
    perm = jnp.argsort(-z, axis=-1, stable=True)
    zeta = jnp.take_along_axis(z, perm, axis=-1)
    omega = jnp.broadcast_to(_positions(n, z.dtype, 1)[::-1], z.shape)
    ranks = unpermute(project_presorted(zeta, omega, mode), perm) * scale
    return ranks + jax.lax.stop_gradient(jnp.clip(ranks, 1, n) - ranks)


def top_k_mask(xhat, k, *, softness, mode, options):
    r"""Each element's share of the top ``k``, ``(..., n)``.

    The projection of $\hat x / s$ onto the capped simplex
    $\{y \in [0, 1]^n : \sum y = k\}$; ``k`` is a real number (possibly
    traced), ``softness`` a scalar or one per row. The result is a valid mask
    as it is. ``options`` is unused.
    """
    del options
    return project_capped_simplex(xhat / softness, k, mode)


__all__ = ["rank", "sort", "top_k_mask"]
