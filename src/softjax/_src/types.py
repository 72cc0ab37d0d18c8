"""Type aliases shared by every operator family.

``SoftBool`` and ``SoftIndex`` are plain typing aliases (no runtime checks):

* a **SoftBool** is a float array read as the probability that a boolean is
  ``True`` (nominal range ``[0, 1]``, same shape as the boolean JAX returns);
* a **SoftIndex** replaces an integer index array: it has that array's shape
  plus one trailing axis of length ``n`` holding a distribution over the ``n``
  positions of the indexed axis.
"""

from typing import Literal

import jax
from jaxtyping import Float

SoftBool = Float[jax.Array, "..."]
"""Float array read as the probability that a boolean is ``True``.

It has the shape of the boolean array JAX would return; its nominal range is
``[0, 1]`` and its hard values are ``0.0`` and ``1.0``. A typing alias only
(no runtime checks).
"""

SoftIndex = Float[jax.Array, "..."]
"""Float array replacing an integer index array: a distribution over positions.

It has the shape of the integer array JAX would return plus one trailing axis
of length ``n`` (the length of the indexed axis) holding non-negative weights
that sum to 1. In ``"hard"`` mode it is the one-hot encoding of JAX's integer
result. A typing alias only (no runtime checks).
"""

Mode = Literal["hard", "smooth", "c0", "c1", "c2"]
StepMode = Literal["smooth", "c0", "c1", "c2", "_c1_pnorm", "_c2_pnorm"]
# Elementwise and comparison operators forward ``mode`` to the step helpers, so
# they accept the private p-norm modes as well.
ElementwiseMode = Literal["hard", "smooth", "c0", "c1", "c2", "_c1_pnorm", "_c2_pnorm"]
Method = Literal["softsort", "neuralsort", "sorting_network", "fast_soft_sort", "smooth_sort", "ot"]
QuantileMethod = Literal["linear", "lower", "higher", "nearest", "midpoint"]

__all__ = [
    "ElementwiseMode",
    "Method",
    "Mode",
    "QuantileMethod",
    "SoftBool",
    "SoftIndex",
    "StepMode",
]
