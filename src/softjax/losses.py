"""``softjax.losses``: ready-made differentiable objectives built on soft ranks and sorts.

Every function takes ``softness`` and ``mode`` (``"hard"``: the exact metric;
``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``: its relaxation) as keywords and,
where a rank or sort is used, ``method`` (default ``"fast_soft_sort"``: the
projection onto the permutahedron, exact and O(n log n) per row for the values
and every derivative; any of the six methods of :func:`softjax.rank` /
:func:`softjax.sort` is accepted). The axis-wise functions reduce along
``axis`` (default ``-1``, the trailing axis) and keep the other axes as a
batch. Correlations and gains are returned as they are (use ``1 - spearman``,
``1 - ndcg`` as losses); the others are losses.
"""

from softjax._src.distribution_losses import quantile_loss, sort_mse, trimmed_mean
from softjax._src.ranking_losses import ndcg, spearman, top_k_accuracy_loss

__all__ = [
    "ndcg",
    "quantile_loss",
    "sort_mse",
    "spearman",
    "top_k_accuracy_loss",
    "trimmed_mean",
]
