"""The command line: every command's help, one-line errors, and a tiny end-to-end run."""

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from lnn.cli import app, main

runner = CliRunner()


def run_main(args, capsys, monkeypatch):
    """``lnn ARGS`` through :func:`lnn.cli.main` in this process (its one-line error handling included);
    returns (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["lnn", *args])
    monkeypatch.setenv("COLUMNS", "200")  # one error line is one terminal line
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize("command", ["systems", "generate", "train", "evaluate", "compare", "demo", "symmetries"])
def test_every_command_has_help_with_seed_and_out(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    if command != "systems":
        assert "--seed" in result.output and "--out" in result.output


def test_systems_lists_the_built_in_systems():
    result = runner.invoke(app, ["systems"])
    assert result.exit_code == 0
    for name in ("double_pendulum", "pendulum", "spring"):
        assert name in result.output


def test_user_errors_are_one_line_without_traceback(tmp_path, capsys, monkeypatch):
    for args, phrase in [
        (["generate", "no_such_system", "--out", str(tmp_path)], "unknown system"),
        (["evaluate", str(tmp_path / "missing")], "no model file"),
        (["generate", "pendulum", "--kind", "movie", "--out", str(tmp_path)], "unknown kind"),
        (
            [
                "train",
                "--system",
                "pendulum",
                "--n-train",
                "100",
                "--steps",
                "5",
                "--devices",
                "4",
                "--out",
                str(tmp_path / "run"),
            ],
            "xla_force_host_platform_device_count=4",
        ),
        (["compare", "spring", "--models", "lnn,hmm", "--out", str(tmp_path)], "unknown model"),
        (
            [
                "train",
                "--system",
                "pendulum",
                "--n-train",
                "100",
                "--model",
                "baseline",
                "--linear-solver",
                "cg",
                "--out",
                str(tmp_path / "run"),
            ],
            "--linear-solver applies to --model lnn",
        ),
        (
            ["train", "--system", "pendulum", "--n-train", "100", "--linear-solver", "qr", "--out", str(tmp_path)],
            "unknown --linear-solver",
        ),
    ]:
        status, _, err = run_main(args, capsys, monkeypatch)
        assert status == 2, err
        assert phrase in err
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err
    foreign = tmp_path / "foreign.eqx"
    foreign.write_bytes(b"\x89PNG not a model")
    status, _, err = run_main(["evaluate", str(foreign)], capsys, monkeypatch)
    assert status == 2 and "not an lnn model file" in err


def test_train_flags_for_matching_are_refused_with_derivatives(tmp_path, capsys, monkeypatch):
    csv = tmp_path / "m.csv"
    csv.write_text("t,x\n" + "".join(f"{0.1 * i},{np.sin(0.1 * i)}\n" for i in range(50)))
    status, _, err = run_main(
        [
            "train",
            "--data",
            str(csv),
            "--time",
            "t",
            "--coords",
            "x",
            "--method",
            "derivatives",
            "--window",
            "7",
            "--out",
            str(tmp_path / "r"),
        ],
        capsys,
        monkeypatch,
    )
    assert status == 2 and "--window apply to --method matching" in err


def test_generate_train_evaluate_round_trip(tmp_path):
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    r = runner.invoke(app, ["generate", "pendulum", "--n", "500", "--out", str(data_dir), "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert (data_dir / "dataset.npz").is_file()
    r = runner.invoke(
        app,
        [
            "train",
            "--system",
            "pendulum",
            "--data",
            str(data_dir / "dataset.npz"),
            "--steps",
            "200",
            "--budget",
            "0",
            "--width",
            "16",
            "--out",
            str(run_dir),
        ],
    )
    assert r.exit_code == 0, r.output
    for name in ("model.eqx", "metrics.csv", "config.json", "checkpoints/last.ckpt", "figures/loss.png"):
        assert (run_dir / name).is_file(), name
    r = runner.invoke(app, ["evaluate", str(run_dir), "--n-initial", "3", "--t-end", "5", "--json"])
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.output.strip().splitlines()[-1])
    assert {"energy_error", "valid_time", "failed", "position_error_at"} <= set(metrics)
    assert np.isfinite(metrics["energy_error"])


def test_train_structured_model_saves_and_evaluates(tmp_path):
    run_dir = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "train",
            "--system",
            "pendulum",
            "--model",
            "structured",
            "--n-train",
            "500",
            "--steps",
            "100",
            "--width",
            "16",
            "--out",
            str(run_dir),
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["evaluate", str(run_dir), "--n-initial", "2", "--t-end", "2", "--json"])
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.output.strip().splitlines()[-1])
    # Its mass matrix is positive definite by construction, at every evaluated state.
    assert metrics["indefinite_mass_matrix_fraction"] == 0.0
    assert np.isfinite(metrics["energy_error"])


def test_compare_writes_the_four_metrics_per_model_including_hnn_with_true_momentum(tmp_path):
    out = tmp_path / "cmp"
    # The LNN goes through the same code in test_experiment; here the cheap baseline and the HNNs.
    r = runner.invoke(
        app,
        [
            "compare",
            "spring",
            "--models",
            "baseline,hnn",
            "--steps",
            "300",
            "--n-train",
            "400",
            "--width",
            "16",
            "--n-initial",
            "2",
            "--t-end",
            "3",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    results = json.loads((out / "results.json").read_text())
    assert list(results) == ["baseline", "hnn", "hnn_true_p"]  # the HNN with p = ∂L/∂q̇ comes beside it
    for name, r_ in results.items():
        assert {"derivative_loss", "rollout_error", "energy_error", "valid_time"} <= set(r_), name
        assert all(np.isfinite(r_[k]) for k in ("derivative_loss", "rollout_error", "energy_error")), name
        assert r_["train_steps"] == 300
        # 300 steps on a harmonic oscillator already beat an untrained network (loss ~1).
        assert r_["derivative_loss"] < 0.3, (name, r_["derivative_loss"])
    for figure in ("phase_portraits.png", "overview.png", "energy.png", "trajectories.png"):
        assert (out / "figures" / figure).is_file(), figure
    assert "models baseline, hnn, hnn_true_p" in r.output
