"""Runs you can trust: loaders that never guess, exact step counts, run identity and locks, checksums,
idempotent finishing, training health; and the reliability suite (seeded kills, bit flips, a loader fuzz).

Everything here is small and in-process (a subprocess's JAX start-up costs seconds on a slow machine):
a kill is an injected failure at a named write, a corrupt file one flipped bit.
"""

import io as _io
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    import jax

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
