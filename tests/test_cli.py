import json

import pytest

from keras_fsq.cli import main
from tests.conftest import SHARED_DATA

TINY = ["--data-dir", str(SHARED_DATA), "--limit", "96", "--train-size", "64", "--batch-size", "32"]


def test_train_then_evaluate_write_every_artifact(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--epochs", "1", "--levels", "5,5,5", "--latent-dim", "12", "--out", str(out)]) == 0
    for name in ("model.keras", "reconstructions.png", "training_curves.png", "metrics.json", "metrics.md", "history.json"):
        assert (out / name).stat().st_size > 0, name
    (run,) = json.loads((out / "metrics.json").read_text()).values()
    assert run["images"] == 32 and run["codebook_size"] == 125 and run["psnr"] > 5
    assert run["bits_per_image"] == pytest.approx(4 * 3 * 2.321928, rel=1e-5)
    assert "| fsq [5, 5, 5] |" in capsys.readouterr().out
    trained_metrics = (out / "metrics.json").read_bytes()
    assert main(["evaluate", *TINY, "--model", str(out / "model.keras")]) == 0  # default --out: out/evaluation
    assert (out / "metrics.json").read_bytes() == trained_metrics
    (evaluated,) = json.loads((out / "evaluation" / "metrics.json").read_text()).values()
    assert evaluated["psnr"] == pytest.approx(run["psnr"], rel=1e-4)
    assert main(["evaluate", *TINY, "--model", str(out / "model.keras")]) == 2  # it would replace that evaluation
    assert main(["evaluate", *TINY, "--model", str(out / "model.keras"), "--overwrite"]) == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data", "/nonexistent/images"], "neither a known dataset"),
        (["--train-size", "500"], "--train-size"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(tmp_path, capsys, extra, message):
    assert main(["train", *TINY, "--out", str(tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err


def test_empty_image_folder_is_reported(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "holds no images" in capsys.readouterr().err


def test_reconstruction_grid_of_one_channel_images(tmp_path):
    import numpy as np

    from keras_fsq import reporting
    from keras_fsq.data import read_image

    grey = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    reporting.save_reconstruction_grid(grey, grey, tmp_path / "grid.png", scale=2)
    grid = read_image(tmp_path / "grid.png")
    assert grid.shape == (32, 64, 3)
    np.testing.assert_allclose(grid[0:16:2, 0:16:2, 0], np.round(grey[0, :, :, 0] * 255) / 255, atol=1e-6)
