"""``top_k`` values read off an O(n log n) sort equal the k-row contraction."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import softjax as sj
from softjax._src import topk
from softjax._src.methods import registry


@pytest.mark.parametrize("mode", registry.METHODS["softsort"].near_linear_sort_modes)
def test_values_from_the_sort_equal_the_row_contraction(mode, monkeypatch):
    n, k = 40, 20
    rng = np.random.default_rng(0)
    # Tie-free rows: at a tie the O(n) path takes the one-sided derivative of |d|, the rows 0.
    x = jnp.asarray(rng.standard_normal((2, n)))
    w = jnp.asarray(np.cos(np.arange(k)))

    def outputs():
        def f(v, gated, standardize):
            values, index = sj.top_k(
                v, k, method="softsort", mode=mode, softness=0.3, gated_grad=gated, standardize=standardize
            )
            return jnp.sum(values * w), (values, index)

        return {
            (gated, standardize): jax.jit(jax.value_and_grad(f, has_aux=True), static_argnums=(1, 2))(
                x, gated, standardize
            )
            for gated in (True, False)
            for standardize in (True, False)
        }

    assert k >= topk.VALUES_FROM_SORT_MIN_K
    from_sort = outputs()
    monkeypatch.setattr(topk, "VALUES_FROM_SORT_MIN_K", n + 1)
    from_rows = outputs()
    for key, ((_, (values, index)), grad) in from_sort.items():
        (_, (ref_values, ref_index)), ref_grad = from_rows[key]
        np.testing.assert_allclose(values, ref_values, rtol=1e-10, atol=1e-12, err_msg=str(key))
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-11, err_msg=str(key))
        # The same rows, in differently fused programs: equal to rounding.
        np.testing.assert_allclose(index, ref_index, rtol=1e-13, atol=1e-15, err_msg=str(key))
