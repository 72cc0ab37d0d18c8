"""Data-parallel SoftJAX: a batch sharded over 8 (simulated) devices.

Runs on a laptop: the XLA flag below splits the CPU into 8 devices (it must be
set before JAX is imported). On real accelerators drop it. The mesh is
``jax.make_mesh``'s default (``AxisType.Explicit``: sharding is part of every
array's type); the same step runs on one device for comparison.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P

import softjax as sj


def loss_fn(w, feats, t_sorted, t_top, t_pos):
    s = feats @ w  # (batch, 6), sharded along the batch
    return (
        jnp.mean((sj.sort(s, axis=-1) - t_sorted) ** 2)
        + jnp.mean((sj.top_k(s, 2)[0] - t_top) ** 2)
        + jnp.mean((sj.greater(s, 0.0, softness=0.5) - t_pos) ** 2)
    )


@jax.jit
def sgd_step(w, feats, *targets):
    loss, grad = jax.value_and_grad(loss_fn)(w, feats, *targets)
    return w - 0.1 * grad, loss


def train(w, feats, targets, steps=31):
    losses = []
    for _ in range(steps):
        w, loss = sgd_step(w, feats, *targets)
        losses.append(float(loss))
    return w, losses


def main():
    n_dev = len(jax.devices())
    # A toy ranking model: linear scores for 6 items; targets are the sorted
    # true scores, the true top-2 and which scores are positive.
    k_w, k_x = jax.random.split(jax.random.key(0))
    w_true = jax.random.normal(k_w, (4, 6))
    feats = jax.random.normal(k_x, (8 * n_dev, 4))
    scores = feats @ w_true
    targets = (jnp.sort(scores, axis=-1), jax.lax.top_k(scores, 2)[0], (scores > 0) * 1.0)
    w0 = 0.01 * jnp.eye(4, 6)

    _, single = train(w0, feats, targets)  # reference: one device

    mesh = jax.make_mesh((n_dev,), ("data",))  # Explicit axes, JAX's default
    with jax.set_mesh(mesh):
        batch = NamedSharding(mesh, P("data", None))  # rows split over the devices
        feats_s, *targets_s = jax.device_put((feats, *targets), batch)
        w, sharded = train(jax.device_put(w0, NamedSharding(mesh, P())), feats_s, targets_s)
        print(f"devices: {n_dev}, batch {feats_s.shape} sharded as {jax.typeof(feats_s).sharding.spec}")
        for step in range(0, 31, 10):
            print(f"step {step:2d}  loss {sharded[step]:.4f}  (one device: {single[step]:.4f})")
        worst = max(abs(a - b) / abs(b) for a, b in zip(sharded, single, strict=True))
        print(f"largest relative difference from one device over 31 steps: {worst:.1e}")

        # Outputs carry the batch sharding in their type: each device sorted its own rows.
        soft_sorted = jax.jit(lambda s: sj.sort(s, axis=-1))(feats_s @ w)
        print("soft sort output sharded as", jax.typeof(soft_sorted).sharding.spec)
        rows = sorted((shard.device.id, shard.data.shape[0]) for shard in soft_sorted.addressable_shards)
        print("rows per device:", dict(rows))


if __name__ == "__main__":
    main()
