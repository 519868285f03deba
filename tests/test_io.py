"""Model and checkpoint files, and atomic writes."""

import json
import os
import stat

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from lnn import data, io
from lnn.errors import FileFormatError

MODELS = {
    "lnn_paper_sincos": lambda: lnn.LagrangianNN(
        2, key=jax.random.key(1), width=16, depth=2, angles=(True, False), q_scale=2.0, qdot_scale=3.0
    ),
    "lnn_standard_wrap": lambda: lnn.LagrangianNN(
        1, key=jax.random.key(2), width=16, depth=3, angles=(True,), init="standard", angle_encoding="wrap"
    ),
    "lnn_float32": lambda: lnn.LagrangianNN(2, key=jax.random.key(3), width=16, depth=1, dtype=jnp.float32),
    "lnn_no_prior": lambda: lnn.LagrangianNN(2, key=jax.random.key(5), width=16, depth=2, kinetic_prior=False),
    "baseline": lambda: lnn.BlackBox(
        2, key=jax.random.key(4), width=16, depth=2, angles=(False, True), accel_scale=7.5, qdot_scale=0.5
    ),
}


@pytest.fixture(scope="module")
def states():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 2)), rng.normal(size=(8, 2))


@eqx.filter_jit
def _outputs(model, q, qdot):
    """The model's accelerations, and its L where it has one, side by side."""
    n = model.dof
    q, qdot = q[:, :n], qdot[:, :n]
    out = model.accelerations(q, qdot)
    if isinstance(model, lnn.AbstractLagrangian):
        out = jnp.concatenate([out, jax.vmap(model.lagrangian)(q, qdot)[:, None]], axis=1)
    return out


def _same_leaves(a, b):
    la, lb = jax.tree.leaves(eqx.filter(a, eqx.is_array)), jax.tree.leaves(eqx.filter(b, eqx.is_array))
    assert len(la) == len(lb) > 0
    for x, y in zip(la, lb, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


# ------------------------------------------------------------------ models


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_round_trip(tmp_path, states, name):
    model = MODELS[name]()
    path = io.save_model(tmp_path / "models" / "m.lnn", model)
    assert path.is_file()
    loaded, metadata = io.load_model(path)
    assert type(loaded) is type(model)
    assert metadata == {}
    assert loaded.config() == model.config()
    _same_leaves(model, loaded)
    # Identical outputs, bit for bit (same weights, same static configuration).
    a, b = _outputs(model, *states), _outputs(loaded, *states)
    assert a.dtype == b.dtype == model.mlp.weights[0].dtype
    np.testing.assert_array_equal(a, b)


def test_loaded_model_is_not_the_placeholder(tmp_path, states):
    # Guards the round trip: a fresh model with the same config differs from a trained one.
    model = MODELS["baseline"]()
    trained = eqx.tree_at(lambda m: m.mlp.biases[0], model, model.mlp.biases[0] + 0.25)
    loaded, _ = io.load_model(io.save_model(tmp_path / "m.lnn", trained))
    np.testing.assert_array_equal(loaded.mlp.biases[0], trained.mlp.biases[0])
    assert not np.array_equal(_outputs(loaded, *states), _outputs(model, *states))


def test_learned_kinetic_prior_survives_the_round_trip(tmp_path, states):
    model = MODELS["lnn_paper_sincos"]()
    trained = eqx.tree_at(lambda m: m.log_kinetic, model, jnp.asarray(0.3))
    loaded, _ = io.load_model(io.save_model(tmp_path / "m.lnn", trained))
    assert float(loaded.log_kinetic) == 0.3
    np.testing.assert_array_equal(_outputs(loaded, *states), _outputs(trained, *states))
    assert not np.array_equal(_outputs(loaded, *states), _outputs(model, *states))
    no_prior, _ = io.load_model(io.save_model(tmp_path / "n.lnn", MODELS["lnn_no_prior"]()))
    assert no_prior.log_kinetic is None


def test_model_metadata_is_preserved(tmp_path):
    meta = {
        "system": lnn.systems.get("double_pendulum").summary(),
        "epochs": 120,
        "loss": 1.25e-3,
        "notes": "ünïcode ✓",
        "history": [0.5, 0.25, None],
        "flag": True,
    }
    path = io.save_model(tmp_path / "m.lnn", MODELS["lnn_float32"](), **meta)
    _, loaded = io.load_model(path)
    assert loaded == meta


def test_model_file_starts_with_magic_and_json_header(tmp_path):
    model = MODELS["baseline"]()
    path = io.save_model(tmp_path / "m.lnn", model, run="a")
    blob = path.read_bytes()
    assert blob.startswith(io.MODEL_MAGIC)
    header = json.loads(blob[len(io.MODEL_MAGIC) :].split(b"\n", 1)[0])
    assert header == {"config": model.config(), "metadata": {"run": "a"}}


def test_load_model_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="no model file at"):
        io.load_model(tmp_path / "absent.lnn")
    with pytest.raises(FileFormatError):
        io.load_model(tmp_path)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world\n", b"\x93NUMPY\x01\x00", b"lnn-model v2\n{}\n", io.CHECKPOINT_MAGIC + b"{}\n"],
    ids=["empty", "text", "npy", "other-version", "checkpoint"],
)
def test_load_model_foreign_file(tmp_path, content):
    path = tmp_path / "foreign.lnn"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match="is not an lnn model file"):
        io.load_model(path)


def test_load_model_refuses_a_dataset(tmp_path):
    ds = data.Dataset(np.zeros((2, 1)), np.zeros((2, 1)), np.zeros((2, 1)), np.arange(2), np.zeros(2))
    path = data.save(ds, tmp_path / "d.npz")
    with pytest.raises(FileFormatError):
        io.load_model(path)


@pytest.mark.parametrize("name", ["lnn_paper_sincos", "baseline"])
def test_load_model_truncated(tmp_path, name):
    path = io.save_model(tmp_path / "m.lnn", MODELS[name](), note="x")
    blob = path.read_bytes()
    header_end = len(io.MODEL_MAGIC) + blob[len(io.MODEL_MAGIC) :].index(b"\n") + 1
    cuts = [
        5,  # inside the magic
        len(io.MODEL_MAGIC),  # magic only
        len(io.MODEL_MAGIC) + 10,  # inside the JSON header
        header_end,  # header, no weights
        header_end + 40,  # inside the first weight record
        (header_end + len(blob)) // 2,
        len(blob) - 1,  # last byte missing
    ]
    for cut in cuts:
        path.write_bytes(blob[:cut])
        with pytest.raises(FileFormatError):
            io.load_model(path)


@pytest.mark.parametrize(
    "header", [b"{}", b"[1, 2]", b'{"config": {"kind": "Transformer"}}', b'{"config": {"kind": "BlackBox"}}']
)
def test_load_model_with_bad_header(tmp_path, header):
    path = tmp_path / "m.lnn"
    path.write_bytes(io.MODEL_MAGIC + header + b"\n")
    with pytest.raises(FileFormatError):
        io.load_model(path)


def test_load_model_with_weights_of_another_architecture(tmp_path):
    small = MODELS["lnn_float32"]()
    big = lnn.LagrangianNN(2, key=jax.random.key(0), width=32, depth=1, dtype=jnp.float32)
    blob = io.save_model(tmp_path / "big.lnn", big).read_bytes()
    weights = blob[len(io.MODEL_MAGIC) :].split(b"\n", 1)[1]
    header = json.dumps({"config": small.config(), "metadata": {}}).encode()
    path = tmp_path / "mixed.lnn"
    path.write_bytes(io.MODEL_MAGIC + header + b"\n" + weights)
    with pytest.raises(FileFormatError, match="do not match"):
        io.load_model(path)


# ------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip(tmp_path):
    model = MODELS["lnn_paper_sincos"]()
    tree = {"model": model, "step": jnp.asarray(17), "moments": [jnp.ones(3), jnp.arange(4.0)]}
    state = {"epoch": 3, "best_loss": 0.125, "rng": [1, 2]}
    path = io.save_checkpoint(tmp_path / "ckpt" / "last.ckpt", tree, state)
    like = {"model": MODELS["lnn_paper_sincos"](), "step": jnp.asarray(0), "moments": [jnp.zeros(3), jnp.zeros(4)]}
    loaded, loaded_state = io.load_checkpoint(path, like)
    assert loaded_state == state
    _same_leaves(tree, loaded)


def test_checkpoint_and_model_files_are_not_interchangeable(tmp_path):
    model = MODELS["baseline"]()
    ckpt = io.save_checkpoint(tmp_path / "c.ckpt", model, {"epoch": 1})
    with pytest.raises(FileFormatError, match="not an lnn model file"):
        io.load_model(ckpt)
    saved = io.save_model(tmp_path / "m.lnn", model)
    with pytest.raises(FileFormatError, match="not an lnn checkpoint file"):
        io.load_checkpoint(saved, model)


def test_checkpoint_that_does_not_match_raises(tmp_path):
    path = io.save_checkpoint(tmp_path / "c.ckpt", {"w": jnp.ones(3)}, {})
    with pytest.raises(FileFormatError, match="does not match"):
        io.load_checkpoint(path, {"w": jnp.ones(3), "extra": jnp.ones(2)})
    with pytest.raises(FileFormatError, match="no checkpoint file"):
        io.load_checkpoint(tmp_path / "missing.ckpt", {"w": jnp.ones(3)})


# ----------------------------------------------------------------- atomic write


def _listing(folder):
    return sorted(os.listdir(folder))


def test_atomic_write_writes_and_leaves_no_temp_file(tmp_path):
    path = io.atomic_write(tmp_path / "a" / "b" / "out.bin", lambda f: f.write(b"payload"))
    assert path == tmp_path / "a" / "b" / "out.bin"
    assert path.read_bytes() == b"payload"
    assert _listing(path.parent) == ["out.bin"]


def test_atomic_write_replaces_existing_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old contents")
    io.atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new"
    assert _listing(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_atomic_write_keeps_old_file_if_writer_raises(tmp_path, error):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old contents")

    def writer(f):
        f.write(b"half of the new cont")
        raise error

    with pytest.raises(type(error)):
        io.atomic_write(path, writer)
    assert path.read_bytes() == b"old contents"
    assert _listing(tmp_path) == ["out.bin"], "the temporary file must be removed"


def test_atomic_write_creates_nothing_if_first_write_fails(tmp_path):
    def writer(f):
        raise ValueError("nope")

    with pytest.raises(ValueError):
        io.atomic_write(tmp_path / "new.bin", writer)
    assert _listing(tmp_path) == []


def test_failed_save_model_keeps_the_previous_model(tmp_path, states):
    path = io.save_model(tmp_path / "m.lnn", MODELS["baseline"]())
    before = path.read_bytes()
    with pytest.raises(TypeError):
        io.save_model(path, MODELS["baseline"](), bad=object())  # metadata not JSON-serialisable
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ["m.lnn"]
    io.load_model(path)


def test_atomic_write_respects_umask(tmp_path):
    # Files lnn writes should get the usual permissions (0o666 & ~umask), like open() gives,
    # not the 0o600 of a raw temporary file: results are often shared or served.
    old = os.umask(0o022)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        written = io.write_text(tmp_path / "lnn.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644


def test_write_text_and_json(tmp_path):
    io.write_text(tmp_path / "t.txt", "héllo\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    obj = {"b": 1, "a": [1.5, "x"], "nested": {"k": None}}
    io.write_json(tmp_path / "o.json", obj)
    text = (tmp_path / "o.json").read_text()
    assert json.loads(text) == obj
    assert list(json.loads(text)) == ["b", "a", "nested"]  # insertion order kept
    assert text.endswith("\n")
