"""The user's path, as a user takes it: fresh interpreters, the command line, a run stopped and resumed.

Each test here starts new Python processes, as a user's next command does: classes that only
register when some module happens to be imported, state kept in one process (Keras' name
counters), and files a killed process leaves behind show up only this way.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import BACKEND, REPO_ROOT, SHARED_DATA, killed_after_a_checkpoint

CLI = [sys.executable, "-m", "keras_fsq.cli"]


def environment():
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "2"}


def run(arguments, cwd, timeout=300):
    return subprocess.run(arguments, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout)


def python(code, cwd):
    return run([sys.executable, "-c", code], cwd)


def test_a_preset_folder_saved_in_one_process_codes_from_the_command_line_in_another(tmp_path):
    from PIL import Image

    saved = python(
        f"from keras_fsq import FSQVAE\nFSQVAE.from_preset('fsq_dct_q1').save_to_preset(r'{tmp_path / 'codec'}')\n",
        tmp_path,
    )
    assert saved.returncode == 0, saved.stderr
    photo = np.asarray(Image.open(SHARED_DATA / "bsd68" / sorted(os.listdir(SHARED_DATA / "bsd68"))[0]))[:64, :96]
    Image.fromarray(photo).save(tmp_path / "photo.png")
    compressed = run([*CLI, "compress", "photo.png", "photo.fsq", "--model", "codec"], tmp_path)
    assert compressed.returncode == 0, compressed.stderr
    decompressed = run([*CLI, "decompress", "photo.fsq", "back.png", "--model", "codec"], tmp_path)
    assert decompressed.returncode == 0, decompressed.stderr
    assert np.asarray(Image.open(tmp_path / "back.png")).shape == photo.shape
    loaded = python(
        "from keras_fsq import FSQVAE\n"
        f"model = FSQVAE.from_preset(r'{tmp_path / 'codec'}')\n"
        "print(type(model).__name__, model.count_params())\n",
        tmp_path,
    )
    assert loaded.returncode == 0 and loaded.stdout.split()[0] == "FSQVAE", loaded.stderr


def test_generator_and_tokenizer_presets_load_twice_in_a_fresh_process(tmp_path):
    result = python(
        "import numpy as np\n"
        "from keras_fsq import FSQVAE, MaskGIT\n"
        "a, b = MaskGIT.from_preset('maskgit_cifar10'), MaskGIT.from_preset('maskgit_cifar10')\n"
        "assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a.weights, b.weights))\n"
        "c, d = FSQVAE.from_preset('fsq_cifar10'), FSQVAE.from_preset('fsq_cifar10')\n"
        "assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(c.weights, d.weights))\n"
        "print('loaded twice')\n",
        tmp_path,
    )
    assert result.returncode == 0 and "loaded twice" in result.stdout, result.stderr


def test_a_shipped_name_is_never_taken_over_by_a_folder_in_the_working_directory(tmp_path, monkeypatch):
    from keras_fsq import FSQVAE

    shipped = FSQVAE.from_preset("fsq_dct_q1")
    FSQVAE.from_preset("fsq_dct_q2").save_to_preset(tmp_path / "fsq_dct_q1")  # another codec under the name
    monkeypatch.chdir(tmp_path)
    again = FSQVAE.from_preset("fsq_dct_q1")
    for mine, theirs in zip(shipped.weights, again.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    folder = FSQVAE.from_preset("./fsq_dct_q1")  # a folder is given as a path
    assert folder.get_config()["decoder"]["config"]["quality"] != again.get_config()["decoder"]["config"]["quality"]


TRAIN = ["train", "--data-dir", str(SHARED_DATA), "--limit", "200", "--train-size", "160", "--epochs", "3"]


def test_a_killed_train_resumes_and_ends_as_the_uninterrupted_run(tmp_path, monkeypatch, capsys):
    from keras_fsq.cli import main

    uninterrupted = run([*CLI, *TRAIN, "--out", "whole"], tmp_path)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert "keras-fsq train: fsq_cifar10, 160 training images" in uninterrupted.stderr  # the header line
    assert "epoch 3/3:" in uninterrupted.stderr and "\x1b" not in uninterrupted.stderr + uninterrupted.stdout
    assert not (tmp_path / "whole" / "checkpoint").exists()  # the finished run keeps only its files

    # killed with no chance to clean up: what was committed must be enough
    done = killed_after_a_checkpoint(
        [*CLI, *TRAIN, "--out", "cut"], tmp_path / "cut" / "checkpoint", tmp_path, environment(), 240
    )
    assert done >= 1 and not (tmp_path / "cut" / "model.keras").exists()

    monkeypatch.chdir(tmp_path)  # forgetting --resume, or changing the run, is refused with nothing lost
    assert main([*TRAIN, "--out", "cut"]) == 2
    assert "continue it with --resume" in capsys.readouterr().err
    assert main([*TRAIN[:-1], "4", "--out", "cut", "--resume"]) == 2
    assert "--epochs was 3, now 4" in capsys.readouterr().err
    resumed = run([*CLI, *TRAIN, "--out", "cut", "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after epoch {done}" in resumed.stderr
    # A checkpoint naming a folder outside itself, or a state larger than the model, is refused.
    from keras_fsq import checkpoints

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "latest.json").write_text(json.dumps({"epoch": 1, "folder": "../cut", "settings": {}}))
    with pytest.raises(ValueError, match=r"does not name a complete checkpoint \(it names '../cut', not an epoch"):
        checkpoints.read_checkpoint(tmp_path / "bad")

    whole = json.loads((tmp_path / "whole" / "history.json").read_text())
    cut = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert len(cut["loss"]) == len(whole["loss"]) == 3
    np.testing.assert_allclose(cut["loss"], whole["loss"], rtol=1e-5)
    metrics = [json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("whole", "cut")]
    first, second = (next(iter(m.values())) for m in metrics)
    assert first["psnr"] == pytest.approx(second["psnr"], abs=1e-3)
