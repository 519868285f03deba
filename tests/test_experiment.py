"""The experiment behind `lnn demo` / `lnn compare`, end to end on a tiny budget."""

import json

import pytest

from lnn import metrics
from lnn.errors import LnnError
from lnn.experiment import ExperimentConfig, run


def test_experiment_writes_a_complete_run_folder_and_refuses_other_settings(tmp_path):
    cfg = ExperimentConfig(
        system="pendulum", n_train=400, budget=0, steps=150, width=16, protocol=metrics.Protocol(n_initial=3, t_end=5.0)
    )
    results = run(cfg, tmp_path, progress=False, log=lambda msg: None)
    assert set(results) == {"lnn", "baseline"}
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    for r in results.values():
        assert {
            "energy_error",
            "energy_error_median",
            "valid_time",
            "failed",
            "accel_relative_error",
            "train_steps",
        } <= set(r)
        assert r["train_steps"] == 150
    assert "indefinite_mass_matrix_fraction" in results["lnn"]  # only a Lagrangian has a mass matrix
    for name in (
        "report.md",
        "config.json",
        "lnn/model.eqx",
        "baseline/metrics.csv",
        "figures/energy.png",
        "figures/trajectories.png",
        "figures/loss.png",
    ):
        assert (tmp_path / name).is_file(), name
    assert "| lnn |" in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "config.json").read_text())["protocol"]["solver"] == "RK4(dt=0.005)"

    # The same settings again reuse the finished run; other settings are refused.
    again = run(cfg, tmp_path, progress=False, log=lambda msg: None)
    assert again["lnn"]["energy_error"] == pytest.approx(results["lnn"]["energy_error"])
    with pytest.raises(LnnError, match="different settings"):
        run(
            ExperimentConfig(system="pendulum", n_train=401, budget=0, steps=150, width=16, protocol=cfg.protocol),
            tmp_path,
            progress=False,
            log=lambda msg: None,
        )


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        ExperimentConfig(models=("lnn", "hnn_typo"))
