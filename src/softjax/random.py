"""``softjax.random``: relaxed counterparts of ``jax.random`` samplers.

Every sampler takes the ``jax.random`` arguments plus ``softness``, ``mode``
(``"hard"``: the ``jax.random`` sample; ``"_hard"``: the same random
construction as the soft modes with the exact discrete decision; ``"smooth"``,
``"c0"``, ``"c1"``, ``"c2"``: relaxations) and ``noise``. The ``*_st``
variants return the ``"_hard"`` sample with the soft sample's gradient.
"""

from softjax._src.random.bernoulli import bernoulli, binomial, rademacher
from softjax._src.random.categorical import categorical
from softjax._src.random.choice import choice, permutation
from softjax._src.random.multinomial import multinomial
from softjax._src.random.straight_through import (
    bernoulli_st,
    binomial_st,
    categorical_st,
    choice_st,
    multinomial_st,
    permutation_st,
    rademacher_st,
)

__all__ = [
    "bernoulli",
    "bernoulli_st",
    "binomial",
    "binomial_st",
    "categorical",
    "categorical_st",
    "choice",
    "choice_st",
    "multinomial",
    "multinomial_st",
    "permutation",
    "permutation_st",
    "rademacher",
    "rademacher_st",
]
