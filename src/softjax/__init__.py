"""SoftJAX: soft, differentiable drop-in replacements for discrete JAX operators.

``import softjax as sj``; every public name is re-exported here from
``softjax._src``. This file only re-exports.
"""

# Imported as a module (not its names): the public namespace is __all__,
# submodules and dunders only.
import importlib.metadata

# --- types -------------------------------------------------------------------
from softjax._src.types import SoftBool, SoftIndex

# --- scalar relaxations --------------------------------------------------------
from softjax._src.steps import sigmoidal, softrelu

# --- elementwise / comparison / logic / selection ------------------------------
from softjax._src.elementwise import abs, clip, heaviside, relu, round, sign
from softjax._src.rounding import ceil, floor, trunc
from softjax._src.searching import digitize, searchsorted
from softjax._src.binning import bincount, histogram, one_hot
from softjax._src.division import floor_divide, mod, remainder
from softjax._src.activations import hard_sigmoid, hard_silu, hard_tanh, relu6
from softjax._src.comparison import equal, greater, greater_equal, isclose, less, less_equal, not_equal
from softjax._src.logic import all, any, logical_and, logical_not, logical_or, logical_xor
from softjax._src.counting import allclose, array_equal, count_nonzero, isin, select
from softjax._src.selection import (
    choose,
    dynamic_index_in_dim,
    dynamic_slice,
    dynamic_slice_in_dim,
    take,
    take_along_axis,
    where,
)
from softjax._src.writes import (
    dynamic_update_index_in_dim,
    dynamic_update_slice,
    dynamic_update_slice_in_dim,
    put_along_axis,
)

# --- autograd-safe math --------------------------------------------------------
from softjax._src.safe import arccos, arcsin, div, log, norm, sqrt

# --- axis-wise operators ---------------------------------------------------------
from softjax._src.extrema import argmax, argmin, max, min
from softjax._src.minmax import maximum, minimum, ptp
from softjax._src.cumulative import cummax, cummin
from softjax._src.quantiles import argquantile, quantile
from softjax._src.median_percentile import argmedian, argpercentile, median, percentile
from softjax._src.nan_stats import nanargmax, nanargmin, nanmax, nanmin
from softjax._src.nan_quantiles import nanmedian, nanpercentile, nanquantile
from softjax._src.sorting import argsort, rank, sort
from softjax._src.topk import top_k
from softjax._src.topk_mask import top_k_mask

# --- solver warnings (method="ot") ------------------------------------------------
from softjax._src.kernels.transport import OTConvergenceWarning, OTPrecisionWarning

# --- straight-through -------------------------------------------------------------
# st, grad_replace and every *_st twin, as listed in softjax.straight_through.__all__.
from softjax.straight_through import *

# --- submodules -------------------------------------------------------------------
from softjax import losses, random, straight_through

try:
    __version__ = importlib.metadata.version("softjax")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "OTConvergenceWarning",
    "OTPrecisionWarning",
    "SoftBool",
    "SoftIndex",
    "__version__",
    "abs",
    "abs_st",
    "all",
    "allclose",
    "allclose_st",
    "any",
    "arccos",
    "arcsin",
    "argmax",
    "argmax_st",
    "argmedian",
    "argmedian_st",
    "argmin",
    "argmin_st",
    "argpercentile",
    "argpercentile_st",
    "argquantile",
    "argquantile_st",
    "argsort",
    "argsort_st",
    "array_equal",
    "array_equal_st",
    "bincount",
    "bincount_st",
    "ceil",
    "ceil_st",
    "choose",
    "clip",
    "clip_st",
    "count_nonzero",
    "count_nonzero_st",
    "cummax",
    "cummax_st",
    "cummin",
    "cummin_st",
    "digitize",
    "digitize_st",
    "div",
    "dynamic_index_in_dim",
    "dynamic_slice",
    "dynamic_slice_in_dim",
    "dynamic_update_index_in_dim",
    "dynamic_update_slice",
    "dynamic_update_slice_in_dim",
    "equal",
    "equal_st",
    "floor",
    "floor_divide",
    "floor_divide_st",
    "floor_st",
    "grad_replace",
    "greater",
    "greater_equal",
    "greater_equal_st",
    "greater_st",
    "hard_sigmoid",
    "hard_sigmoid_st",
    "hard_silu",
    "hard_silu_st",
    "hard_tanh",
    "hard_tanh_st",
    "heaviside",
    "heaviside_st",
    "histogram",
    "histogram_st",
    "isclose",
    "isclose_st",
    "isin",
    "isin_st",
    "less",
    "less_equal",
    "less_equal_st",
    "less_st",
    "log",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "losses",
    "max",
    "max_st",
    "maximum",
    "maximum_st",
    "median",
    "median_st",
    "min",
    "min_st",
    "minimum",
    "minimum_st",
    "mod",
    "mod_st",
    "nanargmax",
    "nanargmax_st",
    "nanargmin",
    "nanargmin_st",
    "nanmax",
    "nanmax_st",
    "nanmedian",
    "nanmedian_st",
    "nanmin",
    "nanmin_st",
    "nanpercentile",
    "nanpercentile_st",
    "nanquantile",
    "nanquantile_st",
    "norm",
    "not_equal",
    "not_equal_st",
    "one_hot",
    "one_hot_st",
    "percentile",
    "percentile_st",
    "ptp",
    "ptp_st",
    "put_along_axis",
    "quantile",
    "quantile_st",
    "random",
    "rank",
    "rank_st",
    "relu",
    "relu6",
    "relu6_st",
    "relu_st",
    "remainder",
    "remainder_st",
    "round",
    "round_st",
    "searchsorted",
    "searchsorted_st",
    "select",
    "sigmoidal",
    "sign",
    "sign_st",
    "softrelu",
    "sort",
    "sort_st",
    "sqrt",
    "st",
    "straight_through",
    "take",
    "take_along_axis",
    "top_k",
    "top_k_mask",
    "top_k_mask_st",
    "top_k_st",
    "trunc",
    "trunc_st",
    "where",
]
