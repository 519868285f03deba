"""Runs you can trust: loaders that never guess, exact step counts, run identity and locks, checksums,
idempotent finishing, training health; and the reliability suite (seeded kills, bit flips, a loader fuzz).

Everything here is small and in-process (a subprocess's JAX start-up costs seconds on a slow machine):
a kill is an injected failure at a named write, a corrupt file one flipped bit.
"""

import io as _io
import os
import re
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lnn
from helpers import OneParameterDynamics
from lnn import observed
from lnn.errors import DataError, FileFormatError, LnnError

# -- loaders that never guess -------------------------------------------------------------------------

WAVE = "".join(f"{0.1 * i:.1f},{np.sin(0.1 * i):.6f}\n" for i in range(30))


def _csv(tmp_path, text: str | bytes, name="m.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize(
    "content, kwargs, error, message",
    [
        (
            "t,x,x\n0,1,2\n",
            {},
            DataError,
            r"column 'x' appears 2 times in the header \(line 1\) of m.csv, as columns 2 and 3",
        ),
        ("", {}, DataError, r"m.csv is empty"),
        ("t,x\n", {}, DataError, r"m.csv has a header \(line 1\) but no data rows"),
        ("# only a comment\n\nt,x\n\n", {}, DataError, r"m.csv has a header \(line 3\) but no data rows"),
        (b"t,x\n0,1\n0.1,\xe92\n", {}, FileFormatError, r"line 3 of m.csv is not UTF-8 text \(byte 0xe9\)"),
        ("t,x\n0,1\n0.1,1e308\n", {}, DataError, r"column 'x' holds 1e\+308 at line 3 of m.csv, beyond the 1e\+150"),
        ("t,x\n0,1\n0.1,-2e151\n", {}, DataError, r"column 'x' holds -2e\+151 at line 3 of m.csv"),
        ("t,x\n0,1\n0.1,1e400\n", {}, DataError, r"NaN or inf in column 'x' at line 3 of m.csv"),
        ("run,t,x\n0,0,1\n0.5,0.1,2\n", {"trajectory": "run"}, DataError, r"'run' holds 0.5 at line 3 of m.csv"),
        ("run,t,x\n0,0,1\nnan,0.1,2\n", {"trajectory": "run"}, DataError, r"'run' holds nan at line 3 of m.csv"),
    ],
)
def test_bad_recordings_are_one_message_naming_the_file_and_line(tmp_path, content, kwargs, error, message):
    with pytest.raises(error, match=message):
        observed.load_table(_csv(tmp_path, content), time="t", coordinates="x", **kwargs)


def test_a_byte_order_mark_is_accepted(tmp_path):
    plain = observed.load_table(_csv(tmp_path, "t,x\n" + WAVE), time="t", coordinates="x")
    bom = observed.load_table(
        _csv(tmp_path, b"\xef\xbb\xbf" + ("t,x\n" + WAVE).encode(), "b.csv"), time="t", coordinates="x"
    )
    np.testing.assert_array_equal(plain.q, bom.q)
    np.testing.assert_array_equal(plain.rows, bom.rows)


def test_trajectory_ids_are_exact_integers_or_labels(tmp_path):
    def load(ids, name):
        text = "run,t,x\n" + "".join(f"{r},{0.1 * (i % 15):.1f},{np.sin(i):.4f}\n" for i, r in enumerate(ids))
        return observed.load_table(_csv(tmp_path, text, name), time="t", coordinates="x", trajectory="run")

    # 1e19 and 2e19 overflow int64 (and once loaded as one trajectory): two trajectories, labels kept.
    big = load(["1e19"] * 15 + ["2e19"] * 15, "big.csv")
    assert len(big.segments()) == 2
    assert big.metadata["trajectory_labels"] == ["10000000000000000000", "20000000000000000000"]
    # Ids that fit int64 are kept as they are, written as integers or as whole floats.
    small = load(["7"] * 15 + ["9.0"] * 15, "small.csv")
    assert sorted({int(i) for i in small.trajectory}) == [7, 9] and "trajectory_labels" not in small.metadata
    # Words are labels.
    words = load(["left"] * 15 + ["right"] * 15, "words.csv")
    assert len(words.segments()) == 2 and words.metadata["trajectory_labels"] == ["left", "right"]


def test_npz_trajectory_ids_are_exact_or_refused(tmp_path):
    t = np.tile(np.arange(15) * 0.1, 2)
    x = np.sin(np.arange(30.0))

    def load(run, name):
        np.savez(tmp_path / name, t=t, x=x, run=run)
        return observed.load_table(tmp_path / name, time="t", coordinates="x", trajectory="run")

    assert len(load(np.repeat(np.array([2**62, 2**62 + 1], dtype=np.int64), 15), "int.npz").segments()) == 2
    assert load(np.repeat(np.array(["a", "b"]), 15), "str.npz").metadata["trajectory_labels"] == ["a", "b"]
    with pytest.raises(DataError, match=r"'run' holds 1e\+19 at index 0 of f.npz; float trajectory ids"):
        load(np.repeat([1e19, 2e19], 15), "f.npz")
    np.savez(tmp_path / "empty.npz", t=np.zeros(0), x=np.zeros(0))
    with pytest.raises(DataError, match=r"the arrays in empty.npz are empty"):
        observed.load_table(tmp_path / "empty.npz", time="t", coordinates="x")


def test_schmidt_lipson_files_get_the_same_text_checks(tmp_path):
    (tmp_path / "s.txt").write_bytes(b"\xef\xbb\xbf% x1 v1\n1 0 0.1 0.2\n1 0.1 0.2 0.3\n1 0.2 \xff 0.3\n")
    with pytest.raises(FileFormatError, match=r"line 4 of s.txt is not UTF-8 text \(byte 0xff\)"):
        observed.load_schmidt_lipson(tmp_path / "s.txt")


def test_a_recording_too_short_for_the_window_after_the_split_names_both_settings(tmp_path):
    from lnn.observed import TrajectoryMatching, training_sets
    from lnn.training import TrainConfig

    text = "t,x\n" + "".join(f"{0.01 * i:.2f},{np.sin(0.01 * i):.6f}\n" for i in range(150))
    obs = observed.load_table(_csv(tmp_path, text), time="t", coordinates="x")
    with pytest.raises(
        DataError,
        match=r"validation part .* 15 samples\) is shorter than a trajectory-matching "
        r"window of 31 samples .*raise the validation share \(--val-fraction.*--window, --every",
    ):
        training_sets(obs, TrajectoryMatching(), TrainConfig(), jax.random.key(0))
    # Either way out works: a larger validation share, or a shorter window.
    training_sets(obs, TrajectoryMatching(), TrainConfig(val_fraction=0.25), jax.random.key(0))
    training_sets(obs, TrajectoryMatching(window=5), TrainConfig(), jax.random.key(0))


# -- the loader fuzz: only lnn's own errors escape ---------------------------------------------------

_FIELDS = st.one_of(
    st.sampled_from(["0", "1", "-1.5", "nan", "inf", "1e308", "1e19", "", "x", " ", '"', "0.1", "1e-300"]),
    st.text(max_size=4),
)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    header=st.lists(st.sampled_from(["t", "x", "run", "v", "\ufefft", ""]), min_size=0, max_size=4),
    rows=st.lists(st.lists(_FIELDS, min_size=0, max_size=4), max_size=6),
    raw=st.binary(max_size=8),
)
def test_fuzzed_csv_files_raise_only_lnn_errors(tmp_path_factory, header, rows, raw):
    text = ",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    path = tmp_path_factory.mktemp("fuzz") / "f.csv"
    path.write_bytes(text.encode("utf-8", "surrogatepass") + raw)
    for kwargs in ({}, {"trajectory": "run"}, {"velocities": "v"}):
        try:
            observed.load_table(path, time="t", coordinates="x", **kwargs)
        except LnnError:
            pass


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    arrays=st.dictionaries(
        st.sampled_from(["t", "x", "run"]),
        st.one_of(
            st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5).map(np.asarray),
            st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5).map(lambda v: np.asarray(v, dtype=np.int64)),
            st.lists(st.text(max_size=3), max_size=5).map(lambda v: np.asarray(v, dtype=str)),
        ),
        max_size=3,
    ),
    cut=st.integers(0, 400),
)
def test_fuzzed_npz_files_raise_only_lnn_errors(tmp_path_factory, arrays, cut):
    buf = _io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    folder = tmp_path_factory.mktemp("fuzz")
    for name, payload in (("whole.npz", data), ("cut.npz", data[: len(data) - cut])):
        (folder / name).write_bytes(payload)
        for kwargs in ({}, {"trajectory": "run"}):
            try:
                observed.load_table(folder / name, time="t", coordinates="x", **kwargs)
            except LnnError:
                pass
    assert zipfile.is_zipfile(folder / "whole.npz")


# -- the run folder: kills, identity, locks, checksums --------------------------------------------------

SMALL = ["--system", "pendulum", "--n-train", "200", "--width", "8", "--depth", "1", "--batch-size", "32"]
STEPS = 45  # evaluations (and checkpoints) at 10, 20, 30, 40 and 45: the last chunk is shorter


@pytest.fixture
def small_chunks(monkeypatch):
    """``lnn train`` with evaluations and chunks of 10 steps, so a 45-step run writes five checkpoints."""
    import functools

    import lnn.training

    monkeypatch.setattr(
        lnn.training, "TrainConfig", functools.partial(lnn.training.TrainConfig, eval_every=10, chunk=10)
    )


def _train(out, *extra):
    from typer.testing import CliRunner

    from lnn.cli import app

    return CliRunner().invoke(app, ["train", *SMALL, "--steps", str(STEPS), "--out", str(out), *extra])


class _Recorder:
    """Wraps :func:`lnn.io.atomic_write`: before each write, a copy of the run folder as a kill there leaves it."""

    def __init__(self, write, out, snapshots):
        self.write, self.out, self.snapshots, self.names = write, out, snapshots, []

    def __call__(self, path, writer):
        import shutil

        if self.out.exists():
            shutil.copytree(self.out, self.snapshots / str(len(self.names)))
        self.names.append(str(path.relative_to(self.out)) if path.is_relative_to(self.out) else str(path))
        return self.write(path, writer)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted 45-step run, and the run folder as it was before each of its writes."""
    import functools

    import lnn.training
    from lnn import io

    root = tmp_path_factory.mktemp("reference")
    out, snapshots = root / "run", root / "snapshots"
    snapshots.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setattr(lnn.training, "TrainConfig", functools.partial(lnn.training.TrainConfig, eval_every=10, chunk=10))
    recorder = _Recorder(io.atomic_write, out, snapshots)
    mp.setattr(io, "atomic_write", recorder)
    try:
        result = _train(out)
    finally:
        mp.undo()
    assert result.exit_code == 0, result.output
    return out, snapshots, recorder.names


def _payload(path):
    """A model or checkpoint file's weights (between its header line and its checksum)."""
    body = path.read_bytes()[: -len(b"\nsha256:") - 65]
    return body.split(b"\n", 2)[2]


def _same_artefacts(a, b, names=("config.json", "model.eqx", "checkpoints/best.eqx")):
    """Every artefact of run folder ``b`` is the one of ``a``: bytewise where it holds no wall-clock
    time; the metrics without their time column; the checkpoint's weights and record but its times."""
    import csv
    import json

    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    rows = [list(csv.DictReader(open(f / "metrics.csv"))) for f in (a, b)]
    assert [{k: v for k, v in r.items() if k != "time"} for r in rows[0]] == [
        {k: v for k, v in r.items() if k != "time"} for r in rows[1]
    ]
    assert _payload(a / "checkpoints/last.ckpt") == _payload(b / "checkpoints/last.ckpt")
    headers = [json.loads((f / "checkpoints/last.ckpt").read_bytes().split(b"\n", 2)[1]) for f in (a, b)]
    for h in headers:
        h.pop("elapsed")
        for row in h["history"]:
            row.pop("time")
    assert headers[0] == headers[1]
    assert (b / "figures/loss.png").stat().st_mtime >= (b / "checkpoints/last.ckpt").stat().st_mtime
    assert not list(b.rglob("*.tmp"))


def test_the_reference_run_trains_exactly_the_steps_asked_for(reference):
    import csv

    out, _, names = reference
    assert [int(r["step"]) for r in csv.DictReader(open(out / "metrics.csv"))] == [10, 20, 30, 40, 45]
    assert names[0] == "config.json" and names[-2:] == ["model.eqx", "figures/loss.png"]


def test_kill_at_ten_seeded_points_then_resume_gives_the_uninterrupted_artefacts(reference, small_chunks, tmp_path):
    """A kill before write k leaves the folder as it was then (every write is atomic): that folder,
    with an orphan temporary file where the kill is inside the write, is resumed by rerunning."""
    import shutil

    out, snapshots, names = reference
    n = len(names)
    rng = np.random.default_rng(18)
    # The finishing writes always (from the last checkpoint on: best.eqx, metrics.csv, model.eqx, the
    # figure); the rest drawn.
    finishing = list(range(max(i for i, name in enumerate(names) if name == "checkpoints/last.ckpt"), n))
    assert [names[i] for i in finishing][-2:] == ["model.eqx", "figures/loss.png"] and len(finishing) <= 5
    earlier = [k for k in range(n) if k not in finishing and (snapshots / str(k)).exists()]
    drawn = sorted(rng.choice(earlier, size=10 - len(finishing), replace=False).tolist())
    for k in drawn + finishing:
        inside = k % 2 == 1  # killed inside the write (a temporary file left) or just before it
        run = tmp_path / f"kill{k}"
        shutil.copytree(snapshots / str(k), run)
        if inside:
            target = run / names[k]
            target.parent.mkdir(parents=True, exist_ok=True)
            (target.parent / f".{target.name}.x1y2z3.tmp").write_bytes(b"half a file")
        result = _train(run)
        assert result.exit_code == 0, (k, names[k], result.output)
        _same_artefacts(out, run)


def test_a_run_of_another_definition_is_refused_naming_the_fields_and_the_ways_out(reference, small_chunks, tmp_path):
    import shutil

    from lnn.errors import RunMismatchError

    out, _, _ = reference
    run = tmp_path / "run"
    shutil.copytree(out, run)
    result = _train(run, "--seed", "1")
    assert isinstance(result.exception, RunMismatchError)
    message = str(result.exception)
    assert "seed: 0 there, 1 now" in message and "another --out" in message and "--force" in message
    result = _train(run, "--lr", "0.01")
    assert "train.learning_rate: 0.003 there, 0.01 now" in str(result.exception)
    # A time budget is not part of the definition: a finished run is simply reused.
    assert _train(run, "--budget", "1000").exit_code == 0
    _same_artefacts(out, run, names=("model.eqx", "checkpoints/best.eqx"))
    # --force discards the other run and trains the one asked for.
    result = _train(run, "--seed", "1", "--force")
    assert result.exit_code == 0, result.output
    assert (run / "model.eqx").read_bytes() != (out / "model.eqx").read_bytes()
    assert _train(run, "--seed", "1").exit_code == 0


def test_a_locked_run_folder_is_refused_and_a_dead_process_lock_is_taken(tmp_path, small_chunks):
    from lnn import io
    from lnn.errors import RunLockedError

    run = tmp_path / "run"
    with io.locked_run_folder(run):
        result = _train(run)
        assert isinstance(result.exception, RunLockedError)
        assert f"in use by another lnn process (pid {os.getpid()})" in str(result.exception)
        assert not (run / "config.json").exists()
    # The lock file of a process that died (its pid in it, no lock held) does not stop the next run.
    (run / io.LOCK_FILE).write_text("999999999\n")
    with io.locked_run_folder(run):
        assert (run / io.LOCK_FILE).read_text() == f"{os.getpid()}\n"


def _flips(blob: bytes, count: int, seed: int):
    """``count`` copies of ``blob``, each with one bit flipped: the first and last bytes, then seeded places."""
    rng = np.random.default_rng(seed)
    places = [0, len(blob) - 1, *rng.integers(0, len(blob), count - 2).tolist()]
    for i in places:
        bit = int(rng.integers(0, 8))
        yield i, blob[:i] + bytes([blob[i] ^ (1 << bit)]) + blob[i + 1 :]


def test_one_flipped_bit_in_any_file_kind_is_an_lnn_error_or_changes_nothing(reference, tmp_path):
    """Model files, checkpoints and datasets, a bit at a time (bounded): each corrupt copy either loads
    the very same content (a bit no reader uses) or raises one of lnn's errors; never different numbers."""
    import warnings

    from lnn import data, io

    out, _, _ = reference
    dataset = data.random_states(lnn.systems.get("pendulum"), jax.random.key(0), 20)
    data.save(dataset, tmp_path / "dataset.npz")

    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))

    kinds = {
        "model.eqx": (out / "model.eqx", lambda p: io.load_model(p), io.load_model(out / "model.eqx")),
        "best.eqx": (out / "checkpoints/best.eqx", io.load_model, io.load_model(out / "checkpoints/best.eqx")),
        "dataset.npz": (tmp_path / "dataset.npz", data.load, data.load(tmp_path / "dataset.npz")),
    }
    checked = 0
    for kind, (path, load, original) in kinds.items():
        for i, blob in _flips(path.read_bytes(), 24, seed=len(kind)):
            copy = tmp_path / f"corrupt{path.suffix}"
            copy.write_bytes(blob)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a warning (e.g. a "legacy" file) would be a silent pass
                try:
                    loaded = load(copy)
                except LnnError as err:
                    assert str(copy) in str(err) or copy.name in str(err), (kind, i, err)
                    checked += 1
                    continue
            if kind == "dataset.npz":
                assert all(np.array_equal(getattr(loaded, k), getattr(original, k)) for k in ("q", "qdot", "qddot"))
            else:
                assert same(loaded[0], original[0]) and loaded[1] == original[1], (kind, i)
    assert checked >= 60


def test_a_flipped_bit_in_a_checkpoint_is_refused_on_resume(reference, small_chunks, tmp_path):
    import shutil

    out, _, _ = reference
    for i, blob in _flips((out / "checkpoints/last.ckpt").read_bytes(), 6, seed=3):
        run = tmp_path / f"flip{i}"
        shutil.copytree(out, run)
        (run / "checkpoints/last.ckpt").write_bytes(blob)
        result = _train(run)
        assert isinstance(result.exception, FileFormatError), (i, result.output)
        assert "last.ckpt" in str(result.exception)


def test_files_of_lnn_0_1_load_with_a_warning_and_a_header_without_step_is_one_message(
    reference, small_chunks, tmp_path
):
    import json
    import shutil

    from lnn import io
    from lnn.errors import LegacyFileWarning

    out, _, _ = reference
    # lnn 0.1's layout: the old magic, no checksum trailer.
    new = (out / "model.eqx").read_bytes()[: -len(b"\nsha256:") - 65]
    legacy = tmp_path / "old.eqx"
    legacy.write_bytes(b"lnn-model v1\n" + new[len(io.MODEL_MAGIC) :])
    with pytest.warns(LegacyFileWarning, match=r"old.eqx was written by lnn 0.1 .* re-save it"):
        old, _ = io.load_model(legacy)
    current, _ = io.load_model(out / "model.eqx")
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(current), strict=True))
    # A 0.1 checkpoint whose header lost its step: one message naming the file, not a KeyError.
    run = tmp_path / "run"
    shutil.copytree(out, run)
    body = (run / "checkpoints/last.ckpt").read_bytes()[: -len(b"\nsha256:") - 65]
    _, header, payload = body.split(b"\n", 2)
    state = json.loads(header)
    del state["step"]
    (run / "checkpoints/last.ckpt").write_bytes(b"lnn-checkpoint v1\n" + json.dumps(state).encode() + b"\n" + payload)
    with pytest.warns(LegacyFileWarning):
        result = _train(run)
    assert isinstance(result.exception, FileFormatError)
    assert "last.ckpt: the checkpoint's header lacks step" in str(result.exception)


# -- training health and exact counts ------------------------------------------------------------------


def _pendulum_states(n=200):
    from lnn import data

    return data.random_states(lnn.systems.get("pendulum"), jax.random.key(1), n)


@pytest.mark.parametrize("steps", [7, 23])
def test_steps_are_exact_and_the_progress_bar_agrees(steps):
    """Chunks of 10: 7 steps end inside the first chunk, 23 in a shorter third one (the steps after the
    schedule's end are masked in the compiled chunk, so there is one program for every length)."""
    from lnn.training import Callback, TrainConfig, fit

    class Seen(Callback):
        def __init__(self):
            self.shown = []

        def chunk_done(self, record, loss):
            self.shown.append((record.step, record.total))

    ds, seen = _pendulum_states(), Seen()
    cfg = TrainConfig(steps=steps, eval_every=10, chunk=10, batch_size=32)
    _, history = fit(_linear(jnp.ones(1)), ds, key=jax.random.key(2), config=cfg, progress=False, callbacks=[seen])
    assert [h["step"] for h in history] == [*range(10, steps, 10), steps]
    assert seen.shown[-1] == (steps, steps)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # 1e200 squared, cast to float32
def test_a_run_that_mostly_skips_ends_with_an_error_naming_the_worst_samples():
    """Accelerations of 1e200 in one state of 20: most minibatches draw one, and each alone gives a
    non-finite loss (beyond float32, the parameters' dtype)."""
    from lnn import data
    from lnn.errors import TrainingDivergedError
    from lnn.training import TrainConfig, fit

    ds = _pendulum_states()
    qddot = ds.qddot.copy()
    qddot[::20] = 1e200
    poisoned = data.Dataset(ds.q, ds.qdot, qddot, ds.trajectory, ds.t, ds.metadata)
    cfg = TrainConfig(steps=20, eval_every=10, chunk=10, batch_size=32)
    with pytest.raises(TrainingDivergedError) as err:
        fit(_linear(jnp.ones(1, jnp.float32)), poisoned, key=jax.random.key(2), config=cfg, progress=False)
    message = str(err.value)
    assert "gave a non-finite loss or gradient and were skipped, more than the 50% lnn accepts" in message
    assert re.search(
        r"\b\d+ training sample\(s\) give one on their own, so the data is at fault; the worst: sample", message
    )
    assert "(largest |value| beyond float32)" in message


def _linear_law(w, q):
    return w * q


def _frozen_law(w, q):
    return 0.0 * w * q


def _linear(w):
    """q̈ = w q (one module-level law, so every such model shares its compiled programs)."""
    return OneParameterDynamics(w, _linear_law)


def _frozen(w):
    """q̈ = 0 whatever w: a model that cannot learn, so its validation loss is flat."""
    return OneParameterDynamics(w, _frozen_law)


def test_a_flat_validation_loss_is_a_warning():
    from lnn.errors import TrainingWarning
    from lnn.training import TrainConfig, fit, flat_stretch

    ds = _pendulum_states()
    cfg = TrainConfig(steps=100, eval_every=10, chunk=10, batch_size=32)
    with pytest.warns(TrainingWarning, match=r"the validation loss stayed at .* of the schedule\): nothing is"):
        fit(_frozen(jnp.ones(1)), ds, key=jax.random.key(2), config=cfg, progress=False)
    rows = [{"step": s, "val_loss": v} for s, v in [(10, 1.0), (20, 0.5), (30, 0.5), (40, 0.5), (50, 0.4)]]
    assert flat_stretch(rows[:4]) == (20, 40) and flat_stretch(rows[:3]) == (20, 30)
    assert flat_stretch(rows) is None and flat_stretch(rows[:1]) is None


def test_claim_run_folder_compares_only_the_defining_fields_it_can(tmp_path):
    from lnn import io
    from lnn.errors import RunMismatchError

    run = tmp_path / "run"
    first = {"seed": 0, "data": "a.csv", "data_sha256": "aa", "train": {"steps": 10, "time_budget": None}}
    io.claim_run_folder(run, first)
    # Nothing trained yet: any definition may take the folder.
    io.claim_run_folder(run, {**first, "seed": 5})
    io.claim_run_folder(run, first)
    (run / "model.eqx").write_bytes(b"a run")
    ignore = ("train.time_budget", "data")
    io.claim_run_folder(run, {**first, "data": "moved/a.csv", "train": {"steps": 10, "time_budget": 60}}, ignore=ignore)
    with pytest.raises(RunMismatchError, match=r"data_sha256: 'aa' there, 'bb' now.*another --out, or --force"):
        io.claim_run_folder(run, {**first, "data_sha256": "bb"}, ignore=ignore)
    with pytest.raises(RunMismatchError, match=r"train.steps: 10 there, 20 now"):
        io.claim_run_folder(run, {**first, "train": {"steps": 20, "time_budget": None}}, ignore=ignore)
    # A field the earlier config.json lacks (an older lnn) is not compared.
    io.claim_run_folder(run, {**first, "model_settings": {"width": 8}}, ignore=ignore)
    (run / "config.json").write_text("{not json")
    with pytest.raises(RunMismatchError, match="without a readable config.json"):
        io.claim_run_folder(run, first)
    (run / "notes.txt").write_text("mine")
    io.claim_run_folder(run, {**first, "seed": 1}, force=True)
    assert not (run / "model.eqx").exists() and (run / "notes.txt").exists()
    assert io.remove_temporaries(run) == [] and not io.remove_temporaries(tmp_path / "absent")
