"""Datasets: generators, noise, splitting, files, validation."""

import json
import os
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lnn
from helpers import assert_close
from lnn import data
from lnn.errors import DataError, FileFormatError

OMEGA = 1.5


@pytest.fixture(scope="module")
def spring():
    return lnn.systems.get("spring", k=OMEGA**2, m=1.0)


@pytest.fixture(scope="module")
def spring_trajectories(spring):
    """12 motions of 10 s at 5 fps, clean."""
    return data.trajectories(spring, jax.random.key(1), 12, duration=10.0, fps=5.0)


@pytest.fixture(scope="module")
def dp_random_states():
    system = lnn.systems.get("double_pendulum")
    return system, data.random_states(system, jax.random.key(2), 50)


def _dataset(n=12, dof=2, n_traj=4, **overrides):
    rng = np.random.default_rng(0)
    fields = dict(
        q=rng.normal(size=(n, dof)),
        qdot=rng.normal(size=(n, dof)),
        qddot=rng.normal(size=(n, dof)),
        trajectory=np.arange(n) % n_traj,
        t=np.linspace(0, 1, n),
        metadata={"system": {"name": "test"}, "seed": 3},
    )
    fields.update(overrides)
    return data.Dataset(**fields)


# ------------------------------------------------------------------- generators


def test_random_states_have_exact_accelerations(dp_random_states):
    system, ds = dp_random_states
    assert len(ds) == 50 and ds.dof == 2
    assert ds.q.shape == ds.qdot.shape == ds.qddot.shape == (50, 2)
    assert ds.q.dtype == ds.qddot.dtype == np.float64
    assert_close(ds.qddot, system.closed_form_accelerations(ds.q, ds.qdot), rtol=1e-9)
    np.testing.assert_array_equal(ds.trajectory, np.arange(50))  # each state its own motion
    np.testing.assert_array_equal(ds.t, np.zeros(50))
    assert ds.metadata["generator"] == "random_states"
    assert ds.metadata["system"] == system.summary()
    assert json.loads(json.dumps(ds.metadata)) == ds.metadata


def test_random_states_respect_max_energy():
    system = lnn.systems.get("pendulum")
    ds = data.random_states(system, jax.random.key(0), 200, max_energy=2.0 * system.energy_scale)
    E = np.asarray(system.energy(ds.q, ds.qdot))
    assert E.max() <= 2.0 * system.energy_scale * (1 + 1e-12)
    assert ds.metadata["max_energy"] == 2.0 * system.energy_scale


def test_random_states_are_reproducible(spring):
    a = data.random_states(spring, jax.random.key(5), 10)
    b = data.random_states(spring, jax.random.key(5), 10)
    c = data.random_states(spring, jax.random.key(6), 10)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.qdot, b.qdot)
    assert not np.allclose(a.q, c.q)


@pytest.mark.parametrize("n", [0, -3])
def test_random_states_needs_at_least_one(spring, n):
    with pytest.raises(DataError, match="at least 1"):
        data.random_states(spring, jax.random.key(0), n)


def test_trajectory_layout(spring_trajectories):
    ds = spring_trajectories
    frames = 51  # 10 s at 5 fps, both ends included
    assert len(ds) == 12 * frames
    np.testing.assert_array_equal(ds.trajectory, np.repeat(np.arange(12), frames))
    for i in range(12):
        np.testing.assert_allclose(ds.t[ds.trajectory == i], np.arange(frames) / 5.0, rtol=0, atol=1e-15)
    meta = ds.metadata
    assert meta["generator"] == "trajectories"
    assert (meta["n_trajectories"], meta["duration"], meta["fps"], meta["noise"]) == (12, 10.0, 5.0, 0.0)


def test_trajectory_frames_follow_the_exact_motion(spring_trajectories):
    ds = spring_trajectories
    for i in range(12):
        rows = ds.trajectory == i
        x, v, t = ds.q[rows, 0], ds.qdot[rows, 0], ds.t[rows]
        x0, v0 = x[0], v[0]
        # Dopri8 at rtol = atol = 1e-10 over 10 s: global error well under 1e-7.
        assert_close(x, x0 * np.cos(OMEGA * t) + v0 / OMEGA * np.sin(OMEGA * t), rtol=1e-7, scale=1.0)
        assert_close(v, -x0 * OMEGA * np.sin(OMEGA * t) + v0 * np.cos(OMEGA * t), rtol=1e-7, scale=OMEGA)
    assert_close(ds.qddot, -(OMEGA**2) * ds.q, rtol=1e-12, scale=OMEGA**2)
    # Different motions start from different states.
    starts = ds.q[ds.t == 0, 0]
    assert np.unique(starts).size == 12


def test_double_pendulum_trajectory_follows_true_rollout():
    system = lnn.systems.get("double_pendulum")
    ds = data.trajectories(system, jax.random.key(3), 2, duration=1.0, fps=10.0)
    q = ds.q.reshape(2, 11, 2)
    qdot = ds.qdot.reshape(2, 11, 2)
    ref_q, ref_v = lnn.rollout(system.lagrangian, q[:, 0], qdot[:, 0], ds.t[:11], solver=lnn.RK4(1e-3))
    assert_close(q, ref_q, rtol=1e-9, scale=np.pi)
    assert_close(qdot, ref_v, rtol=1e-9, scale=10.0)
    assert_close(ds.qddot, system.closed_form_accelerations(ds.q, ds.qdot), rtol=1e-9)
    assert float(np.ptp(q[:, :, 0])) > 0.1


def test_noise_has_the_requested_relative_std(spring, spring_trajectories):
    clean = spring_trajectories
    noisy = data.trajectories(spring, jax.random.key(1), 12, duration=10.0, fps=5.0, noise=0.05)
    assert noisy.metadata["noise"] == 0.05
    np.testing.assert_array_equal(noisy.trajectory, clean.trajectory)
    np.testing.assert_array_equal(noisy.t, clean.t)
    for name in ("q", "qdot", "qddot"):
        a, b = getattr(clean, name), getattr(noisy, name)
        relative = (b - a) / a.std(axis=0)  # 612 samples per column
        assert relative.std() == pytest.approx(0.05, rel=0.1), name
        assert abs(relative.mean()) < 0.01, name
    # Noise on the three columns is independent.
    dq = (noisy.q - clean.q)[:, 0]
    dv = (noisy.qdot - clean.qdot)[:, 0]
    assert abs(np.corrcoef(dq, dv)[0, 1]) < 0.1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"noise": -0.1}, "noise must be >= 0"),
        ({"duration": 0.0}, "duration and fps must be positive"),
        ({"fps": -1.0}, "duration and fps must be positive"),
    ],
)
def test_trajectories_reject_bad_arguments(spring, kwargs, match):
    with pytest.raises(DataError, match=match):
        data.trajectories(spring, jax.random.key(0), 2, **kwargs)


def test_trajectories_need_at_least_one(spring):
    with pytest.raises(DataError, match="at least 1"):
        data.trajectories(spring, jax.random.key(0), 0)


# ------------------------------------------------------------------------ split


@given(n_traj=st.integers(2, 12), frames=st.integers(1, 5), fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**31))
def test_split_never_shares_a_trajectory(n_traj, frames, fraction, seed):
    ds = _dataset(n=n_traj * frames, n_traj=n_traj, trajectory=np.repeat(np.arange(n_traj) * 7 + 3, frames))
    first, second = data.split(ds, fraction, jax.random.key(seed))
    a, b = set(first.trajectory.tolist()), set(second.trajectory.tolist())
    assert a and b, "both parts must get at least one trajectory"
    assert not (a & b)
    assert a | b == set(ds.trajectory.tolist())
    assert len(first) + len(second) == len(ds)
    # Whole trajectories move together.
    assert len(second) == frames * len(b)
    # About `fraction` of the trajectories go to the second part.
    assert abs(len(b) - fraction * n_traj) <= 1.0
    # Rows keep their data.
    for part in (first, second):
        for row in range(len(part)):
            match = np.nonzero((ds.q == part.q[row]).all(axis=1))[0]
            assert match.size == 1
            j = match[0]
            assert ds.trajectory[j] == part.trajectory[row] and ds.t[j] == part.t[row]
            np.testing.assert_array_equal(ds.qddot[j], part.qddot[row])


def test_split_is_deterministic_and_depends_on_key():
    ds = _dataset(n=60, n_traj=30)
    a1, b1 = data.split(ds, 0.3, jax.random.key(0))
    a2, b2 = data.split(ds, 0.3, jax.random.key(0))
    np.testing.assert_array_equal(b1.trajectory, b2.trajectory)
    others = [set(data.split(ds, 0.3, jax.random.key(k))[1].trajectory.tolist()) for k in range(1, 4)]
    assert any(o != set(b1.trajectory.tolist()) for o in others)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(DataError, match="between 0 and 1"):
        data.split(_dataset(), fraction, jax.random.key(0))


def test_split_rejects_single_trajectory():
    with pytest.raises(DataError, match="one trajectory"):
        data.split(_dataset(n_traj=1), 0.5, jax.random.key(0))


# ---------------------------------------------------------------- save and load


def _assert_same(a, b):
    for name in ("q", "qdot", "qddot", "trajectory", "t"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y)
    assert a.metadata == b.metadata


def test_save_load_round_trip(tmp_path, dp_random_states):
    _, ds = dp_random_states
    path = data.save(ds, tmp_path / "sub" / "train.npz")
    assert path == tmp_path / "sub" / "train.npz" and path.is_file()
    assert sorted(os.listdir(path.parent)) == ["train.npz"], "no temporary file may be left behind"
    loaded = data.load(path)
    _assert_same(ds, loaded)
    assert "format" not in loaded.metadata
    # Saving again over the file replaces it.
    other = _dataset()
    data.save(other, path)
    _assert_same(other, data.load(str(path)))


def test_saved_file_is_a_plain_npz_without_pickle(tmp_path):
    path = data.save(_dataset(), tmp_path / "d.npz")
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == {"q", "qdot", "qddot", "trajectory", "t", "metadata"}
        assert json.loads(str(f["metadata"]))["format"] == data.FORMAT


def test_load_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="no dataset at"):
        data.load(tmp_path / "nothing.npz")
    with pytest.raises(FileFormatError):
        data.load(tmp_path)  # a directory is not a dataset


def test_load_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, x=np.arange(3))
    with pytest.raises(FileFormatError, match="not an lnn dataset"):
        data.load(path)


def test_load_npz_with_wrong_format_tag(tmp_path):
    ds = _dataset()
    path = tmp_path / "other.npz"
    arrays = {k: getattr(ds, k) for k in ("q", "qdot", "qddot", "trajectory", "t")}
    np.savez(path, **arrays, metadata=np.array(json.dumps({"format": "something else"})))
    with pytest.raises(FileFormatError, match="not an lnn dataset"):
        data.load(path)
    np.savez(path, **arrays, metadata=np.array(json.dumps(["not", "a", "dict"])))
    with pytest.raises(FileFormatError):
        data.load(path)
    np.savez(path, **arrays, metadata=np.array("{not json"))
    with pytest.raises(FileFormatError):
        data.load(path)


def test_load_lnn_metadata_but_missing_arrays(tmp_path):
    path = tmp_path / "partial.npz"
    np.savez(path, q=np.zeros((2, 1)), metadata=np.array(json.dumps({"format": data.FORMAT})))
    with pytest.raises(FileFormatError):
        data.load(path)


def test_load_pickled_npz_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, metadata=np.array([{"format": data.FORMAT}], dtype=object))
    with pytest.raises(FileFormatError):
        data.load(path)


def test_load_text_file(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("q,qdot\n1,2\n")
    with pytest.raises(FileFormatError, match="not an lnn dataset"):
        data.load(path)


def test_load_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(FileFormatError):
        data.load(path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_load_truncated_file(tmp_path, keep):
    path = data.save(_dataset(), tmp_path / "d.npz")
    blob = path.read_bytes()
    path.write_bytes(blob[: int(keep * len(blob))])
    with pytest.raises(FileFormatError):
        data.load(path)


def test_load_corrupt_zip_member(tmp_path):
    # A valid zip whose array member is garbage.
    path = tmp_path / "corrupt.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.npy", b"\x93NUMPY garbage")
        z.writestr("q.npy", b"garbage")
    with pytest.raises(FileFormatError):
        data.load(path)


# ------------------------------------------------------------------- validation


@pytest.mark.parametrize("field", ["q", "qdot", "qddot"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_dataset_with_nonfinite_values_names_the_row(field, bad):
    ds = _dataset()
    array = getattr(ds, field).copy()
    array[7, 1] = bad
    array[9, 0] = bad
    with pytest.raises(DataError) as info:
        _dataset(**{field: array})
    message = str(info.value)
    assert field in message
    assert "row 7" in message and "column 1" in message
    assert "2 row(s)" in message


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"qdot": np.zeros((12, 3))}, "qdot has shape"),
        ({"qddot": np.zeros((11, 2))}, "qddot has shape"),
        ({"q": np.zeros(12)}, r"q must have shape \(N, n\)"),
        ({"q": np.zeros((12, 2, 1))}, r"q must have shape \(N, n\)"),
        ({"trajectory": np.zeros(11, dtype=int)}, r"trajectory must have shape \(12,\)"),
        ({"t": np.zeros((12, 1))}, r"t must have shape \(12,\)"),
    ],
)
def test_dataset_with_mismatched_shapes(overrides, match):
    with pytest.raises(DataError, match=match):
        _dataset(**overrides)


@pytest.mark.wrong_types
def test_dataset_coerces_types_and_subsets():
    ds = _dataset(q=np.arange(24, dtype=np.int32).reshape(12, 2), trajectory=[0, 1] * 6, t=list(range(12)))
    assert ds.q.dtype == np.float64 and ds.trajectory.dtype == np.int64 and ds.t.dtype == np.float64
    sub = ds.subset(ds.trajectory == 1)
    assert len(sub) == 6 and np.all(sub.trajectory == 1)
    np.testing.assert_array_equal(sub.q, ds.q[1::2])
    assert sub.metadata == ds.metadata
    picked = ds.subset(np.array([3, 0]))
    np.testing.assert_array_equal(picked.qdot, ds.qdot[[3, 0]])


def test_acceleration_scale_and_as_arrays():
    ds = _dataset(qddot=np.array([[3.0, 0.0], [-4.0, 0.0]] * 6), n=12)
    # Each column's RMS; a column that never accelerates gets SCALE_FLOOR × the RMS over all columns
    # (it divides losses: never zero, never so small that the column swamps the others).
    overall = np.sqrt(np.mean(ds.qddot**2))
    np.testing.assert_allclose(data.acceleration_scale(ds), [np.sqrt(12.5), data.SCALE_FLOOR * overall], rtol=1e-9)
    q, qdot, qddot = data.as_arrays(ds)
    assert q.dtype == jnp.float64
    np.testing.assert_array_equal(qddot, ds.qddot)
    assert data.as_arrays(ds, dtype=jnp.float32)[0].dtype == jnp.float32
