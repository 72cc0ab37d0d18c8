"""Soft ``argsort``, ``sort`` and ``rank``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from softjax._src import axiswise as aw
from softjax._src.docstrings import documented_like
from softjax._src.kernels.row_parallel import map_rows
from softjax._src.methods import registry
from softjax._src.types import Method, Mode, SoftIndex
from softjax._src.validation import ensure_float


def argsort(
    x: ArrayLike,
    axis: int | None = None,
    descending: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "neuralsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    return_log_probs: bool = False,
    log_prob_eps: float | ArrayLike | None = None,
) -> SoftIndex:
    r"""Soft ``jnp.argsort``: a soft permutation matrix.

    Entry ``[..., r, ..., j]`` is the probability that element ``j`` occupies
    sorted position ``r`` (ascending unless ``descending``); the sorted-position
    axis sits at ``axis`` and the distribution axis is last.

    Args:
        x: input array.
        axis: axis to sort; ``None`` sorts the flattened array.
        descending: sort in descending order.
        softness: ``s > 0`` (scalar); ``s -> 0`` recovers the hard result.
        mode: ``"hard"`` (one-hot rows of ``jnp.argsort``), or the simplex
            regulariser ``"smooth"`` (entropy), ``"c0"`` (L2, sparse),
            ``"c1"`` (p = 3/2), ``"c2"`` (p = 4/3).
        method: ``"neuralsort"`` (default) row $r$ is
            $\Pi_\Delta((c_r\hat x - A)/s)$ with $c_r = n + 1 - 2r$;
            ``"softsort"`` row $r$ is $\Pi_\Delta(-|\hat x_{(r)} - \hat x|/s)$;
            ``"ot"`` (entropic/sparse transport to ``n`` uniform anchors);
            ``"sorting_network"`` (soft bitonic network).
        standardize: standardize-and-squash ``x`` along ``axis`` first, so
            ``softness`` is scale-free.
        ot_kwargs: solver options for ``method="ot"``.
        return_log_probs: return log-probabilities (exact ``log_softmax`` in
            smooth mode; ``-inf`` at exact zeros in sparse modes).
        log_prob_eps: if set, clip probabilities to ``[eps, 1]`` and
            renormalise before the log (bounded log-probabilities).

    Returns:
        SoftIndex of shape ``x.shape + (n,)`` (``(n, n)`` for ``axis=None``).
            The full ``n x n`` matrix is materialised; use :func:`sort` /
            :func:`rank` for value outputs, which never do.

    Examples:
        >>> import softjax as sj
        >>> sj.argsort(jnp.array([3.0, 1.0, 2.0]), mode="hard")
        Array([[0., 1., 0.],
               [0., 0., 1.],
               [1., 0., 0.]], dtype=float32)
    """
    aw.check_log_args(return_log_probs, log_prob_eps)
    aw.check_mode_and_softness(mode, softness)
    descending = aw.static_bool("descending", descending)
    if mode == "hard":
        w = aw.layout(jnp.asarray(x), axis)
        order = map_rows(lambda r: aw.hard_order(r, descending), w.x)
        p = aw.one_hot(order, w.n, aw.float_dtype(w.x))
        return w.along_axis(aw.finish_probs(p, return_log_probs, log_prob_eps), trailing=1)
    spec, module = registry.load(method, "index", mode)
    argsort_fn = module.argsort
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)

    def rows(w: aw.Working, kw: dict[str, Any]) -> jax.Array:
        p = aw.index_output(
            lambda log: argsort_fn(w.xhat, descending=descending, log=log, **kw),
            return_log_probs,
            log_prob_eps,
        )
        return w.true_tangent(p)

    p, w = aw.per_row(
        x, axis, rows, standardize=standardize, method=spec, softness=softness, method_kwargs=kw
    )
    return w.along_axis(p, trailing=1)


def sort(
    x: ArrayLike,
    axis: int | None = None,
    descending: bool = False,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "neuralsort",
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
    gated_grad: bool = True,
) -> jax.Array:
    r"""Soft ``jnp.sort``.

    * ``softsort`` / ``neuralsort``: $P x$ with the rows of :func:`argsort`,
      fused: rows are generated 128 at a time and contracted immediately, so
      memory is ``O(128 n)``, never ``O(n^2)``. ``softsort`` forms no rows:
      after one sort, O(n) time and memory in ``"smooth"`` mode and
      O(n log² n) time in ``"c0"``/``"c1"``/``"c2"`` (each row's support
      window, found by binary search).
    * ``ot``: $P x$ with the transport plan.
    * ``sorting_network``: values of the soft bitonic network (mapped back
      from squashed space when ``standardize``).
    * ``fast_soft_sort``: projection of the anchors onto the permutahedron of
      ``x̂`` (mapped back from squashed space); ``smooth_sort``: its C∞
      relaxation on the raw values.

    Args:
        x: input array.
        axis: axis to sort; ``None`` sorts the flattened array.
        descending: sort in descending order.
        softness: ``s > 0`` (scalar); ``s -> 0`` recovers the hard result.
        mode: ``"hard"`` (``jnp.sort``), or ``"smooth"``, ``"c0"``, ``"c1"``,
            ``"c2"`` (the relaxation of the chosen ``method``).
        method: any of the six methods (default ``"neuralsort"``):
            ``"neuralsort"``, ``"softsort"``, ``"ot"``, ``"sorting_network"``,
            ``"fast_soft_sort"``, ``"smooth_sort"``.
        standardize: standardize-and-squash ``x`` along ``axis`` first, so
            ``softness`` is scale-free (values are read off the raw ``x``).
        ot_kwargs: solver options for ``method="ot"``.
        gated_grad: for ``softsort``/``neuralsort``/``ot``, let gradients flow
            through the soft permutation as well as through ``x``.

    Returns:
        Array of ``x``'s shape (flattened for ``axis=None``).

    Examples:
        >>> import softjax as sj
        >>> sj.sort(jnp.array([3.0, 1.0, 2.0]), mode="hard")
        Array([1., 2., 3.], dtype=float32)
    """
    aw.check_mode_and_softness(mode, softness)
    descending = aw.static_bool("descending", descending)
    if mode == "hard":
        # Row by row: JAX's derivative of sort pairs the data with an
        # unsharded index, which explicit-mesh types reject.
        w = aw.layout(jnp.asarray(x), axis)
        return w.along_axis(map_rows(lambda r: jnp.sort(r, axis=-1, descending=descending), w.x))
    spec, module = registry.load(method, "values", mode)
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)
    gated = aw.static_bool("gated_grad", gated_grad)
    values, w = aw.per_row(
        x,
        axis,
        lambda w, kw: aw.sorted_values(w, module, kw, descending, gated),
        standardize=standardize,
        method=spec,
        softness=softness,
        method_kwargs=kw,
    )
    return w.along_axis(values)


@documented_like(sort)
def rank(
    x: ArrayLike,
    axis: int | None = None,
    softness: float | ArrayLike = 0.1,
    mode: Mode = "smooth",
    method: Method = "neuralsort",
    descending: bool = True,
    standardize: bool = True,
    ot_kwargs: dict[str, Any] | None = None,
) -> jax.Array:
    r"""Soft ranks in ``[1, n]``; with ``descending=True`` (default) the largest gets 1.

    Note the parameter order (``descending`` after ``method``) and default,
    which differ from :func:`sort`.

    * ``neuralsort``: $r_i = \sum_j (j+1) P_{ji} / \sum_j P_{ji}$ (fused).
    * ``softsort``: $r_i = \sum_j (j+1)\,\Pi_\Delta(-|\hat x_i - \hat x_{(j)}|/s)_j$ (fused;
      ``"smooth"``: O(n) after one sort).
    * ``ot``, ``sorting_network``: position-weighted rows of the transposed plan/matrix.
    * ``fast_soft_sort``: projection of ``±x̂/s`` onto the permutahedron of
      the ranks; ``smooth_sort``: its C∞ relaxation on raw values.

    Args:
        axis: axis to rank along; ``None`` ranks the flattened array.
        softness: ``s > 0``; ``s -> 0`` recovers the hard ranks.
        mode: ``"hard"`` (ranks from a stable ``jnp.argsort``), ``"smooth"``,
            ``"c0"``, ``"c1"``, ``"c2"``.
        method: any of the six methods (default ``"neuralsort"``).
        descending: rank 1 is the largest element (default) or, if ``False``,
            the smallest.
        standardize: standardize-and-squash ``x`` along ``axis`` first.

    Returns:
        Float array of ``x``'s shape (flattened for ``axis=None``).

    Examples:
        >>> import softjax as sj
        >>> sj.rank(jnp.array([3.0, 1.0, 2.0]), mode="hard")
        Array([1., 3., 2.], dtype=float32)
    """
    aw.check_mode_and_softness(mode, softness)
    descending = aw.static_bool("descending", descending)
    if mode == "hard":
        w = aw.layout(ensure_float(x), axis)
        ranks = map_rows(lambda r: jnp.argsort(aw.hard_order(r, descending), axis=-1) + 1, w.x)
        return w.along_axis(ranks.astype(w.x.dtype))
    spec, module = registry.load(method, "values", mode)
    rank_fn = module.rank
    kw = aw.method_kwargs(softness, mode, ot_kwargs, spec)
    ranks, w = aw.per_row(
        x,
        axis,
        lambda w, kw: w.true_tangent(rank_fn(w.x, w.xhat, descending=descending, **kw)),
        standardize=standardize,
        method=spec,
        softness=softness,
        method_kwargs=kw,
    )
    return w.along_axis(ranks)
