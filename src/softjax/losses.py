"""``softjax.losses``: ready-made differentiable objectives built on soft ranks and sorts.

Every function takes ``softness`` and ``mode`` (``"hard"``: the exact metric;
``"smooth"``, ``"c0"``, ``"c1"``, ``"c2"``: its relaxation) as keywords and,
where a rank or sort is used, ``method`` (default ``"fast_soft_sort"``,
O(n log n) per row). Correlations and gains are returned as they are (use
``1 - spearman``, ``1 - ndcg`` as losses); the others are losses.
"""

from softjax._src.losses import (
    ndcg,
    quantile_loss,
    sort_mse,
    spearman,
    top_k_accuracy_loss,
    trimmed_mean,
)

__all__ = [
    "ndcg",
    "quantile_loss",
    "sort_mse",
    "spearman",
    "top_k_accuracy_loss",
    "trimmed_mean",
]
