"""The one commands that train the shipped codec family and the shipped generator, run end to end at a tiny budget."""

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_fsq import FSQVAE, codec, preset_weights
from tests.conftest import BACKEND, REPO_ROOT, SHARED_DATA, killed_after_a_checkpoint, missing


@pytest.mark.slow
def test_the_codec_family_command_trains_every_quality_from_its_base(tmp_path):
    if not (SHARED_DATA / "photos").is_dir():
        missing(f"training photos not found at {SHARED_DATA / 'photos'}")
    out = tmp_path / "family"
    out.mkdir()
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "PYTHON": sys.executable, "TABLE_PHOTOS": "4"}
    command = [
        "bash",
        "experiments/train_dct_family.sh",
        str(SHARED_DATA),
        "--steps-per-epoch",
        "1",
        "--out-dir",
        str(out),
    ]
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, capture_output=True)
    names = ["fsq_dct_base"] + [f"fsq_dct_q{q}" for q in range(1, 7)]
    assert sorted(p.name for p in out.glob("*.npz")) == sorted(f"{name}.npz" for name in names)
    assert sorted(p.name for p in out.glob("*.json")) == sorted(f"{name}.json" for name in names)
    # and each quality's coding table, counted with this run's weights
    for name in names[1:]:
        table = codec.EntropyModel.from_json(gzip.decompress((out / f"{name}.bands.json.gz").read_bytes()).decode())
        assert table.context == "neighbours_bands" and table.counts.sum() > 0
    # Each quality starts from this run's base, not the shipped one: its weights differ from the shipped ones.
    model = FSQVAE.from_preset("fsq_dct_q3")
    shipped = [w.copy() for w in model.get_weights()]
    with open(out / "fsq_dct_q3.npz", "rb") as file:
        preset_weights.read_weights(model, file)
    assert any(not np.array_equal(a, b) for a, b in zip(shipped, model.get_weights()))


@pytest.mark.slow
def test_the_generator_command_trains_a_tokenizer_and_a_maskgit_on_the_50k_jpegs(tmp_path):
    if not (SHARED_DATA / "cifar10" / "cifar10_train_50000_jpeg_q75.tar.gz").is_file():
        missing("the 50,000 CIFAR-10 JPEGs are not in the shared data")
    out = tmp_path / "generator"
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "PYTHON": sys.executable, "OUT": str(out), "LIMIT": "64"}
    command = ["bash", "experiments/train_generator.sh", str(SHARED_DATA)]
    result = subprocess.run(command, cwd=REPO_ROOT, env={**env, "EPOCHS": "1"}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "64 training images (1085 held out) from shared-cifar10-jpeg50k" in result.stderr
    assert "64 images of shared-cifar10-jpeg50k (128 sequences" in result.stderr  # and their mirror images
    assert not (out / "maskgit-checkpoint").exists()  # a finished run keeps only its results
    from keras_fsq import load_model

    model = load_model(out / "maskgit.keras")
    assert model.generate(2, steps=2, class_labels=[0, 1], seed=0).shape == (2, 32, 32, 3)

    # An interrupted MaskGIT run, resumed, ends where an uninterrupted one does.
    train = [sys.executable, "experiments/train_maskgit.py", "--data-dir", str(SHARED_DATA), "--limit", "32"]
    train += ["--tokenizer", str(out / "tokenizer" / "model.keras"), "--epochs", "3"]
    whole = subprocess.run(
        [*train, "--out", str(tmp_path / "whole.keras"), "--checkpoint", str(tmp_path / "a")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert whole.returncode == 0, whole.stderr[-2000:]
    cut = [*train, "--out", str(tmp_path / "cut.keras"), "--checkpoint", str(tmp_path / "b")]
    done = killed_after_a_checkpoint(cut, tmp_path / "b", REPO_ROOT, env, 240)
    again = subprocess.run(cut, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "continue it with --resume" in again.stderr  # nothing is dropped silently
    resumed = subprocess.run([*cut, "--resume"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming after epoch {done}" in resumed.stderr
    logs = [json.loads((tmp_path / f"{n}.json").read_text())["history"]["loss"] for n in ("whole", "cut")]
    assert len(logs[0]) == len(logs[1]) == 3
    np.testing.assert_allclose(logs[1], logs[0], rtol=1e-5)
