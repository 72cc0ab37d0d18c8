"""``softjax.straight_through``: straight-through estimation.

Every name here is also available at the top level (``sj.st``,
``sj.sort_st``, ...). This module exists so that code written as
``from softjax.straight_through import st`` runs unchanged. A
straight-through function returns the hard value bit for bit in the forward
pass and the derivative of a soft mode backwards (Bengio, Léonard &
Courville, 2013).
"""

from softjax._src.straight_through import (
    abs_st,
    argmax_st,
    argmedian_st,
    argmin_st,
    argpercentile_st,
    argquantile_st,
    argsort_st,
    clip_st,
    equal_st,
    grad_replace,
    greater_equal_st,
    greater_st,
    heaviside_st,
    isclose_st,
    less_equal_st,
    less_st,
    max_st,
    median_st,
    min_st,
    not_equal_st,
    percentile_st,
    quantile_st,
    rank_st,
    relu_st,
    round_st,
    sign_st,
    sort_st,
    st,
    top_k_st,
)

__all__ = [
    "abs_st",
    "argmax_st",
    "argmedian_st",
    "argmin_st",
    "argpercentile_st",
    "argquantile_st",
    "argsort_st",
    "clip_st",
    "equal_st",
    "grad_replace",
    "greater_equal_st",
    "greater_st",
    "heaviside_st",
    "isclose_st",
    "less_equal_st",
    "less_st",
    "max_st",
    "median_st",
    "min_st",
    "not_equal_st",
    "percentile_st",
    "quantile_st",
    "rank_st",
    "relu_st",
    "round_st",
    "sign_st",
    "sort_st",
    "st",
    "top_k_st",
]
