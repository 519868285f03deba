"""Learning from video (lnn.vision): the renderer's geometry and gradients, video files and their refusals,
pixel models trained through lnn.fit, the metrics, and the CLI's video paths. Tiny frames, few steps."""

import dataclasses
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lnn
from lnn import io, vision
from lnn.cli import main
from lnn.errors import DataError, FileFormatError
from lnn.training import TrainConfig


def run_main(args, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["lnn", *args])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


# -- systems: where the bodies are ------------------------------------------------------------------


def test_body_positions_follow_the_geometry_of_each_system():
    q = np.array([0.7, -1.2])
    dp = lnn.systems.get("double_pendulum", l1=1.0, l2=0.5)
    p = np.asarray(dp.body_positions(q))
    first = np.array([np.sin(0.7), -np.cos(0.7)])
    np.testing.assert_allclose(p, [first, first + 0.5 * np.array([np.sin(-1.2), -np.cos(-1.2)])], atol=1e-12)
    assert dp.body_masses == (1.0, 1.0) and dp.rods == ((-1, 0), (0, 1))
    two = lnn.systems.get("two_body")
    np.testing.assert_allclose(two.body_positions(np.array([[1.0, 2.0, 3.0, 4.0]]))[0], [[1, 2], [3, 4]])
    assert two.body_masses == (1.0, 2.0)
    assert np.asarray(lnn.systems.get("spring").body_positions(np.array([0.3]))).tolist() == [[0.3, 0.0]]
    # the rod of the pendulum keeps its length l, at every angle
    pend = lnn.systems.get("pendulum", l=2.0)
    r = np.linalg.norm(np.asarray(pend.body_positions(np.linspace(-3, 3, 7)[:, None]))[:, 0], axis=-1)
    np.testing.assert_allclose(r, 2.0)


def test_a_system_without_bodies_says_so():
    with pytest.raises(lnn.errors.ConfigurationError, match="no body positions"):
        lnn.systems.get("wave").body_positions(np.zeros(lnn.systems.get("wave").dof))


# -- the renderer -------------------------------------------------------------------------------------


def test_a_disc_is_drawn_where_the_body_is():
    """The intensity-weighted centroid of the disc (rods off, background subtracted) is the body's pixel position."""
    system = lnn.systems.get("pendulum")
    camera = vision.Camera(size=32, extent=1.4, radius=0.1, rod_width=0.0)
    for theta in (0.0, 0.9, -2.2):
        q = jnp.array([theta])
        frame = np.asarray(vision.render(system, q, camera))
        weight = np.abs(frame - vision.BACKGROUND).sum(axis=-1)
        rows, cols = np.meshgrid(np.arange(32) + 0.5, np.arange(32) + 0.5, indexing="ij")
        centroid = np.array([(weight * rows).sum(), (weight * cols).sum()]) / weight.sum()
        expected = np.asarray(vision.pixel_positions(camera, system.body_positions(q)))[0]
        np.testing.assert_allclose(centroid, expected, atol=0.05)
        # and at the system's own position in the plane: x = l sin θ, y = −l cos θ
        np.testing.assert_allclose(
            expected, [16 + np.cos(theta) / camera.pixel, 16 + np.sin(theta) / camera.pixel], atol=1e-9
        )
    # a heavier body gets a larger disc: radius ∝ √m
    two = lnn.systems.get("two_body", m1=1.0, m2=4.0)
    wide = dataclasses.replace(camera, size=64, extent=1.0)
    frame = np.asarray(vision.render(two, jnp.array([-0.5, 0.0, 0.5, 0.0]), wide))
    # each disc's area: the sum of its opacity α, read off as the colour change over the colour's full change
    full = [np.abs(np.asarray(c) - vision.BACKGROUND).sum() for c in vision.COLOURS[:2]]
    area = [
        np.abs(frame[:, half] - vision.BACKGROUND).sum() / f
        for half, f in zip((slice(0, 32), slice(32, 64)), full, strict=True)
    ]
    # ∫ σ((r − ρ)/w) 2πρ dρ = π (r² + π² w² / 3) for a logistic edge of width w
    radii = wide.radius * 64 * np.sqrt([1 / 4, 4 / 4])
    np.testing.assert_allclose(area, np.pi * (radii**2 + np.pi**2 * wide.softness**2 / 3), rtol=0.005)


def test_pixels_are_differentiable_in_the_state_and_match_finite_differences():
    system = lnn.systems.get("double_pendulum")
    camera = vision.camera_for(system, 16)
    q = jnp.array([0.4, -0.9])
    pixel = jax.jit(lambda q: vision.render(system, q, camera)[9, 7, 0] + vision.render(system, q, camera)[5, 8, 2])
    grad = np.asarray(jax.jit(jax.grad(pixel))(q))
    eps = 1e-6
    fd = np.array([(pixel(q + eps * e) - pixel(q - eps * e)) / (2 * eps) for e in np.eye(2)])
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 1e-3
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)


def test_the_vpt_threshold_tells_a_misplaced_bob_from_a_close_one():
    """On the dark background a prediction 0.3 rad off crosses VPT's 2.5 % of mean(x²), one 0.02 rad off does not."""
    system = lnn.systems.get("pendulum")
    camera = vision.camera_for(system, 32)
    truth = np.asarray(vision.render(system, jnp.array([0.7]), camera))
    ratio = lambda d: (
        np.mean((np.asarray(vision.render(system, jnp.array([0.7 + d]), camera)) - truth) ** 2) / np.mean(truth**2)
    )
    assert ratio(0.3) > vision.VPT_THRESHOLD > ratio(0.02)


def test_rendered_frames_are_uint8_with_noise_and_shift():
    system = lnn.systems.get("spring")
    q = jnp.zeros((2, 3, 1))
    camera = vision.camera_for(system, 16)
    clean = vision.render_motions(system, q, camera, key=jax.random.key(0))
    noisy = vision.render_motions(system, q, camera, key=jax.random.key(0), noise=0.05, shift=3.0)
    assert clean.dtype == np.uint8 and clean.shape == (2, 3, 16, 16, 3)
    assert np.all(clean[:, 0] == clean[:, 1])  # a body at rest: the same frame
    assert np.std(noisy.astype(float) - clean) > 5  # noise (and a shift) on 0..255
    with pytest.raises(lnn.errors.ConfigurationError, match="noise"):
        vision.render_motions(system, q, camera, key=jax.random.key(0), noise=-1.0)


# -- video files ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_video():
    return vision.rendered_video(lnn.systems.get("pendulum"), jax.random.key(3), 3, duration=1.0, fps=10, size=16)


def test_npz_and_mp4_round_trips(tiny_video, tmp_path):
    back = vision.read_video(vision.save_video(tiny_video, tmp_path / "v.npz"))
    np.testing.assert_array_equal(back.frames, tiny_video.frames)
    np.testing.assert_allclose(back.q, tiny_video.q)
    assert back.fps == 10 and back.angles == (True,)
    mp4 = vision.write_mp4(tmp_path / "v.mp4", tiny_video.frames[0], tiny_video.fps)
    read = vision.read_video(mp4)
    assert read.frames.shape == (1,) + tiny_video.frames.shape[1:] and read.fps == 10
    # H.264 is lossy: close, not equal
    assert np.mean(np.abs(read.frames.astype(float) - tiny_video.frames[:1])) < 6
    cropped = vision.read_video(mp4, crop=(2, 4, 8, 8), size=4)
    assert cropped.frames.shape == (1, tiny_video.length, 4, 4, 3)


def test_bad_videos_are_refused_with_one_line_naming_the_problem(tiny_video, tmp_path, capsys, monkeypatch):
    import imageio.v3 as iio

    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"not a video at all" * 10)
    folder = tmp_path / "frames"
    folder.mkdir()
    iio.imwrite(folder / "000.png", np.zeros((16, 16, 3), np.uint8))
    iio.imwrite(folder / "001.png", np.zeros((16, 20, 3), np.uint8))
    short = vision.save_video(tiny_video.select(frames=slice(0, 5)), tmp_path / "short.npz")
    cases = [
        (garbage, [], "cannot read"),
        (folder, ["--dof", "1"], "frame 1 (001.png) is 20×16 pixels but the first is 16×16"),
        (short, ["--horizon", "6"], "fewer than the 7"),
        (tmp_path / "missing.mp4", [], "no video at"),
        (short, ["--crop", "0,0,40,40"], "does not fit"),
    ]
    for path, extra, phrase in cases:
        code, _, err = run_main(
            ["train", "--video", str(path), *extra, "--steps", "1", "--out", str(tmp_path / "run")], capsys, monkeypatch
        )
        assert code == 2, err
        assert phrase in err and err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    with pytest.raises(DataError, match="frames of a video must all have one size"):
        vision.read_video(folder)
    with pytest.raises(FileFormatError, match="holds no frames"):
        np.savez(tmp_path / "other.npz", x=np.zeros(3))
        vision.read_video(tmp_path / "other.npz")


# -- pixel models, trained through lnn.fit ---------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tiny_video):
    config = TrainConfig(steps=150, batch_size=8, eval_every=50, chunk=50, warmup_steps=5, learning_rate=3e-3)
    model, history = vision.fit_video(
        "baseline",
        tiny_video,
        angles=(True,),
        key=jax.random.key(0),
        config=config,
        objective=vision.PixelObjective(horizon=3),
        val_fraction=0.34,
        progress=False,
        decoder_width=64,
        encoder_width=32,
        channels=8,
        width=16,
    )
    return model, history


def test_training_from_pixels_lowers_the_loss_and_predicts_frames(trained, tiny_video):
    model, history = trained
    assert history[-1]["train_loss"] < 0.75 * history[0]["train_loss"]  # off the blank-frame plateau
    frames, q = vision.predictions(model, tiny_video, 5)
    assert frames.shape == (3, 6, 16, 16, 3) and q.shape == (3, 6, 1)
    assert 0 <= frames.min() and frames.max() <= 1
    result = vision.evaluate_video(model, tiny_video, horizons=(1, 5, 100), drift_frames=20)
    assert set(result["pixel_mse"]) == {"1", "5"}  # 100 frames is beyond these motions
    assert 0 < result["vpt"] <= tiny_video.length * tiny_video.dt
    assert result["energy_drift"] is None  # a black box has no energy
    assert result["coordinate_r2"] <= 1


def test_a_pixel_model_file_round_trips(trained, tmp_path):
    model, _ = trained
    path = io.save_model(tmp_path / "m.eqx", model, video="v.npz")
    back, meta = io.load_model(path, build=vision.model_from_config)
    assert isinstance(back, vision.PixelModel) and meta["video"] == "v.npz"
    frames = jnp.asarray(np.random.default_rng(0).random((2, 16, 16, 3)), jnp.float32)
    np.testing.assert_array_equal(np.asarray(back.encode(frames)), np.asarray(model.encode(frames)))


def test_a_killed_pixel_run_resumes_and_ends_where_the_uninterrupted_run_did(tiny_video, tmp_path):
    def run(out, **budget):
        config = TrainConfig(steps=40, batch_size=4, eval_every=20, chunk=10, warmup_steps=2, **budget)
        return vision.fit_video(
            "lnn",
            tiny_video,
            angles=(True,),
            key=jax.random.key(1),
            config=config,
            objective=vision.PixelObjective(horizon=2),
            val_fraction=0.34,
            out=out,
            progress=False,
            decoder_width=16,
            encoder_width=8,
            channels=4,
            width=8,
        )

    _, full = run(tmp_path / "a")
    _, part = run(tmp_path / "b", time_budget=1e-3)  # "killed" after its first chunk
    assert part[-1]["step"] < 40
    _, resumed = run(tmp_path / "b")
    assert resumed[: len(part)] == part  # the rows before the kill come from the checkpoint, times and all
    assert resumed[-1]["step"] == full[-1]["step"] == 40
    assert resumed[-1]["val_loss"] == pytest.approx(full[-1]["val_loss"], rel=1e-5)


def test_the_pixel_objective_refuses_windows_longer_than_the_video(trained, tiny_video):
    with pytest.raises(DataError, match="fewer than the 12"):
        vision.PixelObjective(horizon=11).prepare(trained[0], tiny_video, tiny_video, jnp.float32)


# -- metrics ----------------------------------------------------------------------------------------------


def test_coordinate_r2_sees_through_a_change_of_coordinates_and_not_through_noise():
    theta = np.random.default_rng(0).uniform(-np.pi, np.pi, (400, 1))
    assert vision.coordinate_r2(-theta + 0.3, (True,), theta, (True,)) > 0.999  # reflected, rotated: same circle
    z = np.random.default_rng(1).normal(size=(400, 1))
    assert vision.coordinate_r2(z, (False,), 2 * z - z**3 / 10, (False,)) > 0.999  # the truth a cubic of the latent
    assert vision.coordinate_r2(np.random.default_rng(2).normal(size=(400, 1)), (False,), theta, (True,)) < 0.1


# -- the command line ---------------------------------------------------------------------------------------


def test_generate_video_writes_frames_states_and_mp4(tmp_path, capsys, monkeypatch):
    args = ["generate", "pendulum", "--kind", "video", "--n", "2", "--duration", "0.5", "--fps", "10"]
    code, out, err = run_main(
        [*args, "--size", "16", "--noise", "0.01", "--mp4", "--out", str(tmp_path)], capsys, monkeypatch
    )
    assert code in (0, None), err
    video = vision.read_video(tmp_path / "video.npz")
    assert video.frames.shape == (2, 6, 16, 16, 3) and video.frames.dtype == np.uint8
    assert video.q.shape == (2, 6, 1) and video.metadata["system"]["name"] == "pendulum"
    assert vision.read_video(tmp_path / "video-1.mp4").frames.shape == (1, 6, 16, 16, 3)


def test_a_rendered_mp4_trains_and_evaluates_through_the_cli(tiny_video, tmp_path, capsys, monkeypatch):
    mp4 = vision.write_mp4(tmp_path / "clip.mp4", tiny_video.frames[0], tiny_video.fps)
    run = tmp_path / "run"
    args = ["train", "--video", str(mp4), "--dof", "1", "--angles", "q1", "--size", "16", "--model", "baseline"]
    small = ["--horizon", "2", "--steps", "4", "--batch-size", "2", "--width", "8", "--out", str(run)]
    code, out, err = run_main([*args, *small], capsys, monkeypatch)
    assert code in (0, None), err
    assert "1 motion(s) of 11 frames at 10 fps" in out and (run / "model.eqx").is_file()
    code, out, err = run_main(["evaluate", str(run), "--json"], capsys, monkeypatch)
    assert code in (0, None), err
    result = json.loads(out)
    assert set(result) >= {"vpt", "pixel_mse", "coordinate_r2", "energy_drift"}
    assert result["coordinate_r2"] is None  # an MP4 carries no true states
    assert (run / "figures" / "prediction.gif").is_file() and (run / "figures" / "pixel_error.png").is_file()
