"""Straight-through twins of the rounding, min/max and activation operators.

Built exactly like the ``*_st`` operators of
:mod:`softjax._src.straight_through` (which holds the machinery): ``st``
applied to the soft operator, so the forward value is the hard operator's bit
for bit and the derivative is that of the requested soft mode.
"""

from __future__ import annotations

from softjax._src import activations, binning, counting, cumulative, division, minmax, rounding, searching
from softjax._src.straight_through import _st_twin

__all__ = [
    "allclose_st",
    "array_equal_st",
    "bincount_st",
    "ceil_st",
    "count_nonzero_st",
    "cummax_st",
    "cummin_st",
    "digitize_st",
    "floor_divide_st",
    "floor_st",
    "hard_sigmoid_st",
    "hard_silu_st",
    "hard_tanh_st",
    "histogram_st",
    "isin_st",
    "maximum_st",
    "minimum_st",
    "mod_st",
    "one_hot_st",
    "ptp_st",
    "relu6_st",
    "remainder_st",
    "searchsorted_st",
    "trunc_st",
]

_XR = "x = jnp.array([-0.75, 0.25, 1.5, 2.25])"
_XY = _XR + "\ny = jnp.array([0.5, -1.0, 0.5, 2.0])"
_XA = "x = jnp.array([-4.0, -1.5, 1.5, 6.5])"

floor_st = _st_twin(rounding.floor, "x", "Array([-1.,  0.,  1.,  2.], dtype=float32)", _XR)
ceil_st = _st_twin(rounding.ceil, "x", "Array([-0.,  1.,  2.,  3.], dtype=float32)", _XR)
trunc_st = _st_twin(rounding.trunc, "x", "Array([-0.,  0.,  1.,  2.], dtype=float32)", _XR)
floor_divide_st = _st_twin(division.floor_divide, "x, y", "Array([-2., -1.,  3.,  1.], dtype=float32)", _XY)
mod_st = _st_twin(division.mod, "x, y", "Array([ 0.25, -0.75,  0.  ,  0.25], dtype=float32)", _XY)
remainder_st = _st_twin(division.remainder, "x, y", "Array([ 0.25, -0.75,  0.  ,  0.25], dtype=float32)", _XY)
maximum_st = _st_twin(minmax.maximum, "x, y", "Array([0.5 , 0.25, 1.5 , 2.25], dtype=float32)", _XY)
minimum_st = _st_twin(minmax.minimum, "x, y", "Array([-0.75, -1.  ,  0.5 ,  2.  ], dtype=float32)", _XY)
ptp_st = _st_twin(minmax.ptp, "x", "Array(3.2, dtype=float32)")
cummax_st = _st_twin(cumulative.cummax, "x", "Array([0.3, 0.3, 2. , 2. ], dtype=float32)")
cummin_st = _st_twin(cumulative.cummin, "x", "Array([ 0.3, -1.2, -1.2, -1.2], dtype=float32)")
relu6_st = _st_twin(activations.relu6, "x", "Array([0. , 0. , 1.5, 6. ], dtype=float32)", _XA)
hard_tanh_st = _st_twin(activations.hard_tanh, "x", "Array([-1., -1.,  1.,  1.], dtype=float32)", _XA)
hard_sigmoid_st = _st_twin(
    activations.hard_sigmoid, "x", "Array([0.  , 0.25, 0.75, 1.  ], dtype=float32)", _XA
)
hard_silu_st = _st_twin(
    activations.hard_silu, "x", "Array([-0.   , -0.375,  1.125,  6.5  ], dtype=float32)", _XA
)

# Searching and binning (the hard searchsorted / digitize / bincount of float
# input are integers or floats; the twins return the common float dtype).
_XB = "a = jnp.array([0.0, 1.0, 2.0, 3.0])\nx = jnp.array([-0.5, 0.5, 1.25, 2.5])"
searchsorted_st = _st_twin(searching.searchsorted, "a, x", "Array([0., 1., 2., 3.], dtype=float32)", _XB)
digitize_st = _st_twin(searching.digitize, "x, a", "Array([0., 1., 2., 3.], dtype=float32)", _XB)
histogram_st = _st_twin(
    binning.histogram,
    "x, bins=2, range=(0.0, 2.0)",
    "(Array([1., 1.], dtype=float32), Array([0., 1., 2.], dtype=float32))",
    _XB,
    output="[0]",
)
bincount_st = _st_twin(binning.bincount, "x, length=3", "Array([2., 1., 1.], dtype=float32)", _XB)
one_hot_st = _st_twin(
    binning.one_hot,
    "x, num_classes=3",
    """Array([[1., 0., 0.],
       [1., 0., 0.],
       [0., 1., 0.],
       [0., 0., 1.]], dtype=float32)""",
    _XB,
)

# Logic and counting (the hard count is an integer, the hard tests booleans;
# the twins return the soft result's float dtype).
_XC = "x = jnp.array([0.0, 0.9, 2.0, 3.0])\ny = jnp.array([0.0, 1.0, 2.0, 3.05])"
count_nonzero_st = _st_twin(counting.count_nonzero, "x", "Array(3., dtype=float32)", _XC)
isin_st = _st_twin(counting.isin, "x, y", "Array([1., 0., 1., 0.], dtype=float32)", _XC)
allclose_st = _st_twin(counting.allclose, "x, y", "Array(0., dtype=float32)", _XC)
array_equal_st = _st_twin(counting.array_equal, "x, y", "Array(0., dtype=float32)", _XC)
