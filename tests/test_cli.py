"""The command line: every command's help, one-line errors, and a tiny end-to-end run."""

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from lnn.cli import app

runner = CliRunner()


def run_cli(*args, cwd=None):
    """Run `lnn ...` in a subprocess, as a user would (exercises main()'s error handling)."""
    return subprocess.run([sys.executable, "-c", "from lnn.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


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


def test_user_errors_are_one_line_without_traceback(tmp_path):
    for args, phrase in [
        (["generate", "no_such_system", "--out", str(tmp_path)], "unknown system"),
        (["evaluate", str(tmp_path / "missing")], "no model file"),
        (["generate", "pendulum", "--kind", "movie", "--out", str(tmp_path)], "unknown kind"),
    ]:
        proc = run_cli(*args)
        assert proc.returncode == 2, proc.stderr
        assert phrase in proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    foreign = tmp_path / "foreign.eqx"
    foreign.write_bytes(b"\x89PNG not a model")
    proc = run_cli("evaluate", str(foreign))
    assert proc.returncode == 2 and "not an lnn model file" in proc.stderr


def test_generate_train_evaluate_round_trip(tmp_path):
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    r = runner.invoke(app, ["generate", "pendulum", "--n", "500", "--out", str(data_dir), "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert (data_dir / "dataset.npz").is_file()
    r = runner.invoke(app, ["train", "--system", "pendulum", "--data", str(data_dir / "dataset.npz"),
                            "--steps", "200", "--budget", "0", "--width", "16", "--out", str(run_dir)])
    assert r.exit_code == 0, r.output
    for name in ("model.eqx", "metrics.csv", "config.json", "checkpoints/last.ckpt", "figures/loss.png"):
        assert (run_dir / name).is_file(), name
    r = runner.invoke(app, ["evaluate", str(run_dir), "--n-initial", "3", "--t-end", "5", "--json"])
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.output.strip().splitlines()[-1])
    assert {"energy_error", "valid_time", "failed", "position_error_at"} <= set(metrics)
    assert np.isfinite(metrics["energy_error"])
