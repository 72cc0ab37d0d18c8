"""Data-parallel SoftJAX: a batch sharded over 8 (simulated) devices.

Runs on a laptop: the XLA flag below splits the CPU into 8 devices (it must be
set before JAX is imported). On real accelerators drop it and build the mesh
from ``jax.devices()``.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P  # noqa: E402

import softjax as sj  # noqa: E402


def main():
    n_dev = len(jax.devices())
    # Auto axes: jit propagates the input sharding (GSPMD), as with jax.sharding.Mesh.
    mesh = jax.make_mesh((n_dev,), ("data",), axis_types=(AxisType.Auto,))
    batch = NamedSharding(mesh, P("data", None))  # rows split over the devices
    replicated = NamedSharding(mesh, P())

    # A toy ranking model: linear scores for 6 items; targets are the sorted
    # true scores, the true top-2 and which scores are positive.
    k_w, k_x = jax.random.split(jax.random.key(0))
    w_true = jax.random.normal(k_w, (4, 6))
    feats = jax.random.normal(k_x, (8 * n_dev, 4))
    scores = feats @ w_true
    targets = (jnp.sort(scores, axis=-1), jax.lax.top_k(scores, 2)[0], (scores > 0) * 1.0)
    feats, *targets = jax.device_put((feats, *targets), batch)
    w = jax.device_put(0.01 * jnp.eye(4, 6), replicated)

    def loss_fn(w, feats, t_sorted, t_top, t_pos):
        s = feats @ w  # (batch, 6), sharded along the batch
        return (jnp.mean((sj.sort(s, axis=-1) - t_sorted) ** 2)
                + jnp.mean((sj.top_k(s, 2)[0] - t_top) ** 2)
                + jnp.mean((sj.greater(s, 0.0, softness=0.5) - t_pos) ** 2))

    @jax.jit
    def sgd_step(w, feats, *targets):
        loss, grad = jax.value_and_grad(loss_fn)(w, feats, *targets)
        return w - 0.1 * grad, loss

    print(f"devices: {n_dev}, batch {feats.shape} sharded as {feats.sharding.spec}")
    for step in range(31):
        w, loss = sgd_step(w, feats, *targets)
        if step % 10 == 0:
            print(f"step {step:2d}  loss {float(loss):.4f}")

    # Outputs keep the batch sharding: each device sorted only its own rows.
    soft_sorted = jax.jit(lambda s: sj.sort(s, axis=-1))(feats @ w)
    print("soft sort output sharded as", soft_sorted.sharding.spec)
    rows = sorted((shard.device.id, shard.data.shape[0]) for shard in soft_sorted.addressable_shards)
    print("rows per device:", dict(rows))


if __name__ == "__main__":
    main()
