"""Straight-through twins of the axis-wise operators.

Built like every ``*_st`` operator (the machinery is in
:mod:`softjax._src.straight_through`): ``st`` applied to the soft operator,
so the forward value is the hard operator's bit for bit and the derivative
is that of the requested soft mode.
"""

from __future__ import annotations

from softjax._src import (
    extrema,
    median_percentile,
    nan_quantiles,
    nan_stats,
    quantiles,
    sorting,
    topk,
    topk_mask,
)
from softjax._src.straight_through import _st_twin

__all__ = [
    "argmax_st",
    "argmedian_st",
    "argmin_st",
    "argpercentile_st",
    "argquantile_st",
    "argsort_st",
    "max_st",
    "median_st",
    "min_st",
    "nanargmax_st",
    "nanargmin_st",
    "nanmax_st",
    "nanmedian_st",
    "nanmin_st",
    "nanpercentile_st",
    "nanquantile_st",
    "percentile_st",
    "quantile_st",
    "rank_st",
    "sort_st",
    "top_k_mask_st",
    "top_k_st",
]

argmax_st = _st_twin(extrema.argmax, "x", "Array([0., 0., 1., 0.], dtype=float32)")
max_st = _st_twin(extrema.max, "x", "Array(2., dtype=float32)")
argmin_st = _st_twin(extrema.argmin, "x", "Array([0., 1., 0., 0.], dtype=float32)")
min_st = _st_twin(extrema.min, "x", "Array(-1.2, dtype=float32)")
argquantile_st = _st_twin(quantiles.argquantile, "x, 0.5", "Array([0.5, 0. , 0. , 0.5], dtype=float32)")
quantile_st = _st_twin(quantiles.quantile, "x, 0.5", "Array(0.5, dtype=float32)")
argmedian_st = _st_twin(median_percentile.argmedian, "x", "Array([0.5, 0. , 0. , 0.5], dtype=float32)")
median_st = _st_twin(median_percentile.median, "x", "Array(0.5, dtype=float32)")
argpercentile_st = _st_twin(
    median_percentile.argpercentile, "x, 50.0", "Array([0.5, 0. , 0. , 0.5], dtype=float32)"
)
percentile_st = _st_twin(median_percentile.percentile, "x, 50.0", "Array(0.5, dtype=float32)")
argsort_st = _st_twin(
    sorting.argsort,
    "x",
    """Array([[0., 1., 0., 0.],
       [1., 0., 0., 0.],
       [0., 0., 0., 1.],
       [0., 0., 1., 0.]], dtype=float32)""",
)
sort_st = _st_twin(sorting.sort, "x", "Array([-1.2,  0.3,  0.7,  2. ], dtype=float32)")
rank_st = _st_twin(sorting.rank, "x", "Array([3., 4., 1., 2.], dtype=float32)")
top_k_st = _st_twin(
    topk.top_k,
    "x, k=2",
    """(Array([2. , 0.7], dtype=float32), Array([[0., 0., 1., 0.],
       [0., 0., 0., 1.]], dtype=float32))""",
    output="[0]",
    extra="""

Both outputs are spliced. Methods whose soft path returns no index
(``fast_soft_sort``, ``smooth_sort``, ``sorting_network``) return the hard
one-hot index unchanged (it carries no gradient).""",
)
top_k_mask_st = _st_twin(topk_mask.top_k_mask, "x, k=2", "Array([0., 0., 1., 1.], dtype=float32)")

# NaN-aware twins: the example row holds a NaN (zero weight, zero gradient).
_XN = "x = jnp.array([0.3, jnp.nan, 2.0, 0.7])"
nanargmax_st = _st_twin(nan_stats.nanargmax, "x", "Array([0., 0., 1., 0.], dtype=float32)", _XN)
nanmax_st = _st_twin(nan_stats.nanmax, "x", "Array(2., dtype=float32)", _XN)
nanargmin_st = _st_twin(nan_stats.nanargmin, "x", "Array([1., 0., 0., 0.], dtype=float32)", _XN)
nanmin_st = _st_twin(nan_stats.nanmin, "x", "Array(0.3, dtype=float32)", _XN)
nanquantile_st = _st_twin(nan_quantiles.nanquantile, "x, 0.5", "Array(0.7, dtype=float32)", _XN)
nanmedian_st = _st_twin(nan_quantiles.nanmedian, "x", "Array(0.7, dtype=float32)", _XN)
nanpercentile_st = _st_twin(nan_quantiles.nanpercentile, "x, 50.0", "Array(0.7, dtype=float32)", _XN)
