"""Data-parallel training over several devices gives the one-device loss curve.

JAX fixes its device count when it starts, so the two-device run happens in a
fresh Python with the CPU split into two devices
(XLA_FLAGS=--xla_force_host_platform_device_count=2).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, jax, jax.numpy as jnp, numpy as np, equinox as eqx, lnn
    from jax.sharding import NamedSharding, PartitionSpec
    from lnn import data, training as train
    jax.config.update("jax_enable_x64", True)

    system = lnn.systems.get("double_pendulum")
    ds = data.random_states(system, jax.random.key(0), 2000)
    curves, devices = {}, {}
    for d in (1, 2):
        m = train.build_model("lnn", ds, jax.random.key(1), angles=system.angles, width=16, dtype="float64")
        cfg = train.TrainConfig(steps=150, batch_size=64, eval_every=50, warmup_steps=20, devices=d, chunk=25)
        model, hist = train.fit(m, ds, key=jax.random.key(2), config=cfg, progress=False)
        curves[d] = [[h["train_loss"], h["val_loss"]] for h in hist]
        devices[d] = len(jax.tree.leaves(eqx.filter(model, eqx.is_array))[0].devices())

    # The compiled two-device step really splits the batch: gradients are all-reduced.
    m = lnn.LagrangianNN(2, key=jax.random.key(0), width=8, angles=(True, True))
    params, static = eqx.partition(m, eqx.is_inexact_array)
    cfg = train.TrainConfig(steps=10, batch_size=64, devices=2, chunk=5)
    opt = train.optimizer(cfg)
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("batch",))
    sharding = NamedSharding(mesh, PartitionSpec("batch"))
    step = train.train_step(train.AccelerationObjective(), opt, cfg, static, sharding)
    state = train.TrainState(params, opt.init(params), jnp.asarray(0), jnp.asarray(0),
                             jax.random.key_data(jax.random.key(0)), params)
    arrays = ((jnp.ones((100, 2)),) * 3, (jnp.ones(2),))
    hlo = jax.jit(step).lower(state, arrays, jnp.asarray(10), jax.random.key(0)).compile().as_text()
    print(json.dumps({"device_count": jax.device_count(), "curves": curves, "returned_on": devices,
                      "all_reduce": "all-reduce" in hlo}))
""")


def _run(script, devices):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_two_devices_give_the_one_device_loss_curve():
    result = json.loads(_run(SCRIPT, 2).stdout.strip().splitlines()[-1])
    assert result["device_count"] == 2
    assert result["all_reduce"]
    one, two = result["curves"]["1"], result["curves"]["2"]
    assert len(one) == len(two) == 3
    for a, b in zip(one, two, strict=True):
        assert a == pytest.approx(b, rel=1e-10)
    # Training makes progress (the curve is a real one), and the model comes back on one device.
    assert one[-1][1] < one[0][1]
    assert result["returned_on"] == {"1": 1, "2": 1}


def test_more_devices_than_available_names_the_fix():
    script = textwrap.dedent("""
        import jax, lnn
        from lnn import data, training as train
        system = lnn.systems.get("pendulum")
        ds = data.random_states(system, jax.random.key(0), 100)
        model = lnn.LagrangianNN(1, key=jax.random.key(1), width=8, angles=(True,))
        try:
            train.fit(model, ds, key=jax.random.key(2), progress=False,
                      config=train.TrainConfig(steps=10, batch_size=8, devices=4))
        except ValueError as err:
            print(err)
    """)
    message = _run(script, 2).stdout
    assert "asked for 4 devices but JAX sees 2" in message
    assert "xla_force_host_platform_device_count=4" in message


def test_batch_must_split_evenly_over_devices():
    from lnn.training import TrainConfig

    with pytest.raises(ValueError, match="multiple of the device count"):
        TrainConfig(batch_size=255, devices=2)
