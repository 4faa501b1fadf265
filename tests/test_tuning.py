import json
import math
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("keras_tuner")

from keras_fsq import levels, search_results, tuning  # noqa: E402
from keras_fsq.cli import main  # noqa: E402
from tests.conftest import REPO_ROOT, SHARED_DATA  # noqa: E402

TINY_SPACE = dict(code_dims=(3,), latent_dims=(12,), schedules=("none", "exponential"))
TINY_MODEL = dict(architecture="global", widths=(8, 16))
TINY_DATA = ["--data-dir", str(SHARED_DATA), "--limit", "96", "--train-size", "64", "--batch-size", "32"]
TINY_CLI = [*TINY_DATA, "--epochs", "1", "--code-dims", "3", "--latent-dims", "12", "--widths", "8,16"]


@pytest.fixture
def split_images(cifar_images):
    images = cifar_images[:96].astype("float32") / 255
    return images[:64], images[64:]


def search(split_images, directory, max_trials, objective="loss", tuner="random", epochs=1, **space):
    train, held_out = split_images
    hypermodel = tuning.FSQVAEHyperModel(
        tuning.SearchSpace(**{**TINY_SPACE, **space}), objective=objective, **TINY_MODEL
    )
    tuner = tuning.make_tuner(hypermodel, tuner, max_trials=max_trials, max_epochs=2, directory=directory)
    tuner.search(train, validation_data=(held_out,), epochs=epochs, batch_size=32, verbose=0)
    return tuner


@pytest.mark.slow
def test_search_reports_the_best_trials_levels_and_resumes(split_images, tmp_path, capsys):
    tuner = search(split_images, tmp_path, max_trials=2)
    rows = search_results.results_table(tuner)
    assert len(rows) == 2
    best_values = tuner.get_best_hyperparameters(1)[0].values
    assert rows[0]["levels"] == search_results.trial_levels(best_values)
    assert rows[0]["score"] <= rows[1]["score"]
    for row in rows:
        assert len(row["levels"]) == 3 and all(3 <= level <= 10 for level in row["levels"])
        assert row["codebook_size"] == math.prod(row["levels"])
        # 4 latent vectors of log2(|C|) bits over 32x32 pixels
        assert row["bits_per_pixel"] == pytest.approx(4 * math.log2(row["codebook_size"]) / 1024, rel=1e-4)
        assert 5 < row["psnr"] < 40
    first_run = {row["trial"]: row["score"] for row in rows}
    capsys.readouterr()

    resumed = search(split_images, tmp_path, max_trials=3)
    ran_now = [line for line in capsys.readouterr().out.splitlines() if "completed" in line]
    assert len(ran_now) == 1, ran_now
    rows = search_results.results_table(resumed)
    assert len(rows) == 3
    assert {row["trial"]: row["score"] for row in rows if row["trial"] in first_run} == first_run


@pytest.mark.slow
def test_budget_search_with_rate_distortion_objective(split_images, tmp_path):
    tuner = search(
        split_images,
        tmp_path,
        max_trials=2,
        objective="rate_distortion",
        tuner="bayesian",
        epochs=3,
        codebook_bits=(8,),
    )
    rows = search_results.results_table(tuner)
    assert len(rows) == 2
    for row in rows:
        assert abs(math.log2(row["codebook_size"]) - 8) <= 0.25
        # The row's metrics come from the epoch that gave the score.
        assert row["score"] == pytest.approx(row["reconstruction_loss"] + 0.01 * row["bits_per_pixel"], rel=1e-5)


@pytest.mark.slow
def test_hyperband_runs_with_the_psnr_objective(split_images, tmp_path):
    tuner = search(split_images, tmp_path, max_trials=1, objective="psnr", tuner="hyperband")
    rows = search_results.results_table(tuner)
    assert rows and rows[0]["score"] == max(row["score"] for row in rows)
    best = tuner.oracle.get_trial(rows[0]["trial"]).metrics
    assert rows[0]["score"] == pytest.approx(best.get_best_value("val_psnr")) and rows[0]["score"] > 5


def test_level_sets_hold_the_budget():
    sets = levels.level_sets_for_budget(10, code_dims=(3, 4), min_level=3, max_level=10)
    assert [10, 10, 10] in sets and [8, 5, 5, 5] in sets
    assert all(abs(math.log2(math.prod(s)) - 10) <= 0.25 and s == sorted(s, reverse=True) for s in sets)


@pytest.mark.parametrize(
    "space, message",
    [
        (dict(min_level=6, max_level=4), "min_level, max_level"),
        (dict(min_level=1), "min_level"),
        (dict(learning_rate=(1e-2, 1e-3)), "learning_rate"),
        (dict(schedules=("exponential", "sawtooth")), "schedules"),
        (dict(code_dims=(3,), codebook_bits=(16,)), "codebook_bits"),
        (dict(code_dims=()), "code_dims"),
        (dict(final_temperatures=(0.0,)), "final_temperatures"),
    ],
)
def test_bad_search_spaces_raise_clear_errors(space, message):
    with pytest.raises(ValueError, match=message):
        tuning.SearchSpace(**space)


def test_bad_tuner_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="objective"):
        tuning.FSQVAEHyperModel(objective="fid")
    hypermodel = tuning.FSQVAEHyperModel()
    with pytest.raises(ValueError, match="tuner"):
        tuning.make_tuner(hypermodel, "grid", directory=tmp_path)
    with pytest.raises(ValueError, match="max_trials"):
        tuning.make_tuner(hypermodel, "random", max_trials=0, directory=tmp_path)


def test_pareto_front_keeps_only_undominated_trials(tmp_path):
    rows = [
        {"trial": "a", "levels": [3], "bits_per_pixel": 0.1, "psnr": 15.0},
        {"trial": "b", "levels": [4], "bits_per_pixel": 0.2, "psnr": 14.0},  # worse and dearer than a
        {"trial": "c", "levels": [5], "bits_per_pixel": 0.3, "psnr": 18.0},
        {"trial": "d", "levels": [6], "bits_per_pixel": 0.3, "psnr": 17.0},  # as dear as c, worse
    ]
    assert [row["trial"] for row in search_results.pareto_front(rows)] == ["a", "c"]
    search_results.plot_pareto_front(rows, tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 0


@pytest.mark.slow
def test_tune_command_writes_results_and_plot(tmp_path, capsys):
    out = tmp_path / "tune"
    assert main(["tune", *TINY_CLI, "--max-trials", "2", "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 2 and (out / "pareto.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert f"best levels: {rows[0]['levels']}" in printed
    assert "| trial | levels |" in (out / "results.md").read_text()
    assert main(["tune", *TINY_CLI, "--max-trials", "2", "--out", str(out), "--train-size", "48"]) == 2
    assert "holds another search (different data_sha256)" in capsys.readouterr().err


def test_a_search_resumes_only_itself(tmp_path):
    from keras_fsq.cli.tune import check_same_search

    path = tmp_path / "search.json"
    first = {"epochs": 2, "data_sha256": "a"}
    check_same_search(path, first, overwrite=False)
    check_same_search(path, first, overwrite=False)  # the same search: resumed
    with pytest.raises(ValueError, match=r"holds another search \(different data_sha256, epochs\)"):
        check_same_search(path, {"epochs": 3, "data_sha256": "b"}, overwrite=False)
    check_same_search(path, {"epochs": 3, "data_sha256": "b"}, overwrite=True)
    assert json.loads(path.read_text())["epochs"] == 3


def test_tune_command_rejects_a_bad_space(tmp_path, capsys):
    assert main(["tune", *TINY_CLI, "--level-range", "9", "4", "--out", str(tmp_path)]) == 2
    assert "min_level" in capsys.readouterr().err


def test_a_wide_level_range_at_a_budget_is_refused_at_once(tmp_path, capsys):
    """itertools over [2, 255]^5 would never end; the pruned enumeration stops at MAX_LEVEL_SETS answers."""
    assert main(["tune", *TINY_DATA, "--codebook-bits", "16", "--level-range", "2", "255", "--out", str(tmp_path)]) == 2
    assert "narrow the level range" in capsys.readouterr().err
    assert len(levels.level_sets_for_budget(10, (3, 4, 5), 2, 255)) > 1000  # wide, and still enumerated


def test_resuming_a_changed_search_is_refused(split_images, tmp_path):
    hypermodel = tuning.FSQVAEHyperModel(tuning.SearchSpace(**TINY_SPACE), **TINY_MODEL)
    tuning.make_tuner(hypermodel, "random", max_trials=1, directory=tmp_path)
    tuning.make_tuner(hypermodel, "random", max_trials=2, directory=tmp_path)  # the same search: resumed
    changed = tuning.FSQVAEHyperModel(tuning.SearchSpace(**{**TINY_SPACE, "code_dims": (4,)}), **TINY_MODEL)
    with pytest.raises(ValueError, match="another definition.*space"):
        tuning.make_tuner(changed, "random", max_trials=1, directory=tmp_path)
    tuning.make_tuner(changed, "random", max_trials=1, directory=tmp_path, overwrite=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_distributed_search_chief_and_two_workers(tmp_path):
    """KerasTuner's chief/worker mode on 127.0.0.1: both workers' trials reach the chief's one table."""
    port = str(free_port())
    command = [sys.executable, "-m", "keras_fsq.cli", "tune", *TINY_CLI, "--max-trials", "4", "--out", str(tmp_path)]
    processes = {}
    try:
        for tuner_id in ("chief", "tuner0", "tuner1"):
            env = {
                **os.environ,
                "KERASTUNER_TUNER_ID": tuner_id,
                "KERASTUNER_ORACLE_IP": "127.0.0.1",
                "KERASTUNER_ORACLE_PORT": port,
                "PYTHONPATH": str(REPO_ROOT),
            }
            processes[tuner_id] = subprocess.Popen(
                command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        outputs = {tuner_id: process.communicate(timeout=400)[0] for tuner_id, process in processes.items()}
    finally:
        for process in processes.values():
            process.kill()
    for tuner_id, process in processes.items():
        assert process.returncode == 0, f"{tuner_id}:\n{outputs[tuner_id][-3000:]}"
    rows = json.loads((tmp_path / "results.json").read_text())
    ran = {
        worker: {
            line.split()[2]
            for line in outputs[worker].splitlines()
            if line.startswith(f"[{worker}] trial") and "completed" in line
        }
        for worker in ("tuner0", "tuner1")
    }
    assert ran["tuner0"] and ran["tuner1"], outputs
    assert not ran["tuner0"] & ran["tuner1"]
    assert ran["tuner0"] | ran["tuner1"] == {row["trial"] for row in rows}
    assert len(rows) == 4 and np.isfinite([row["score"] for row in rows]).all()
