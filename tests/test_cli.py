import json
import re

import numpy as np
import pytest

from keras_fsq.cli import main
from tests.conftest import SHARED_DATA

TINY = ["--data-dir", str(SHARED_DATA), "--limit", "96", "--train-size", "64", "--batch-size", "32"]


def test_train_then_evaluate_write_every_artifact(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                *TINY,
                "--preset",
                "fsq_cifar10_paper",
                "--epochs",
                "1",
                "--levels",
                "5,5,5",
                "--latent-dim",
                "12",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for name in (
        "model.keras",
        "reconstructions.png",
        "training_curves.png",
        "metrics.json",
        "metrics.md",
        "history.json",
    ):
        assert (out / name).stat().st_size > 0, name
    (run,) = json.loads((out / "metrics.json").read_text()).values()
    assert run["images"] == 32 and run["codebook_size"] == 125 and run["psnr"] > 5
    assert run["bits_per_image"] == pytest.approx(4 * 3 * 2.321928, rel=1e-5)
    assert "| fsq_cifar10_paper: FSQ, 125 codes |" in capsys.readouterr().out
    assert run["preset"] == "fsq_cifar10_paper" and run["epochs"] == 1
    trained_metrics = (out / "metrics.json").read_bytes()
    assert main(["evaluate", *TINY, "--model", str(out / "model.keras")]) == 0  # default --out: out/evaluation
    assert (out / "metrics.json").read_bytes() == trained_metrics
    (evaluated,) = json.loads((out / "evaluation" / "metrics.json").read_text()).values()
    assert evaluated["psnr"] == pytest.approx(run["psnr"], rel=1e-4)
    assert main(["evaluate", *TINY, "--model", str(out / "model.keras")]) == 2  # it would replace that evaluation
    assert main(["evaluate", *TINY, "--model", str(out / "model.keras"), "--overwrite"]) == 0


def test_train_a_conv_preset_on_random_crops_of_an_image_folder(tmp_path):
    from keras_fsq import data

    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        data.save_image(rng.uniform(size=(40 + 8 * i, 56, 3)), folder / f"p{i}.png")
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(folder),
        "--crop",
        "16",
        "--crops-per-image",
        "4",
        "--train-size",
        "8",
        "--preset",
        "fsq_conv4x4_8bit",
        "--widths",
        "8,8",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    (run,) = json.loads((out / "metrics.json").read_text()).values()
    assert run["images"] == 4 and run["codebook_size"] == 240  # 12 crops: 8 train, 4 held out
    assert run["bits_per_image"] == pytest.approx(16 * np.log2(240), rel=1e-5)  # 16x16 crops, stride 4: 4x4 codes
    assert main([*args[:-2], "--crop", "16", "--data", str(SHARED_DATA), "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data", "/nonexistent/images"], "neither a known dataset"),
        (["--preset", "nope"], "Unknown `preset`"),
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


def test_rate_distortion_chain_train_compress_decompress_on_photos_of_any_size(tmp_path, capsys):
    """train --rate-weight on a photo folder -> compress -> decompress, with the model's learned prior."""
    from keras_fsq import data

    folder = tmp_path / "photos"
    folder.mkdir()
    for path in data.image_paths(SHARED_DATA / "photos" / "wikipedia49")[:3]:
        data.write_image(data.read_image(path)[:96, :128], folder / path.name)
    out = tmp_path / "codec"
    assert (
        main(
            [
                "train",
                "--architecture",
                "conv",
                "--data",
                str(folder),
                "--crop",
                "32",
                "--crops-per-image",
                "6",
                "--train-size",
                "12",
                "--levels",
                "5,5,5",
                "--num-codebooks",
                "2",
                "--widths",
                "8,8",
                "--rate-weight",
                "0.01",
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    (run,) = json.loads((out / "metrics.json").read_text()).values()
    assert 0 < run["rate_bits_per_pixel"] < 6 * np.log2(5) / 16  # under the prior: below the fixed rate
    odd = folder / "odd.png"
    data.write_image(data.read_image(next(folder.glob("*")))[:45, :67], odd)
    model = ["--model", str(out / "model.keras")]
    assert main(["compress", str(odd), str(tmp_path / "odd.fsq"), *model]) == 0
    assert main(["decompress", str(tmp_path / "odd.fsq"), str(tmp_path / "odd_back.png"), *model]) == 0
    assert data.read_image(tmp_path / "odd_back.png").shape == (45, 67, 3)
    capsys.readouterr()
    # A file from a model that does not ship with keras_fsq needs --model to decompress.
    assert main(["decompress", str(tmp_path / "odd.fsq"), str(tmp_path / "again.png")]) == 2
    assert "does not ship with keras_fsq" in capsys.readouterr().err
    assert main(["compress", str(odd), str(tmp_path / "x.fsq"), *model, "--quality", "2"]) == 2


def test_compress_fits_a_size_with_the_best_shipped_quality_that_fits(tmp_path, capsys):
    from PIL import Image

    photo = tmp_path / "photo.png"
    with Image.open(SHARED_DATA / "bsd68" / "102061.png") as image:
        image.crop((0, 0, 96, 64)).save(photo)
    sizes = {}
    for quality in (1, 3, 4):
        assert main(["compress", str(photo), str(tmp_path / f"q{quality}.fsq"), "--quality", str(quality)]) == 0
        sizes[quality] = (tmp_path / f"q{quality}.fsq").stat().st_size
    assert sizes[1] < sizes[3] < sizes[4]
    # A budget just under quality 4's size: the highest quality in tenths that fits, from 3 up, byte for byte
    # the file --quality gives.
    assert main(["compress", str(photo), str(tmp_path / "fit.fsq"), "--max-bytes", str(sizes[4] - 1)]) == 0
    chosen = re.search(r"bits/pixel, quality ([\d.]+)$", capsys.readouterr().out.strip()).group(1)
    assert 3 <= float(chosen) < 4 and len(chosen) <= 3
    fit = (tmp_path / "fit.fsq").read_bytes()
    assert sizes[3] <= len(fit) < sizes[4]
    assert main(["compress", str(photo), str(tmp_path / "same.fsq"), "--quality", chosen]) == 0
    assert (tmp_path / "same.fsq").read_bytes() == fit
    bpp = np.ceil(8 * sizes[1] / (96 * 64) * 1e6) / 1e6  # six decimals, not below quality 1's rate
    assert main(["compress", str(photo), str(tmp_path / "bpp.fsq"), "--target-bpp", f"{bpp:.6f}"]) == 0
    assert (tmp_path / "bpp.fsq").stat().st_size <= sizes[1] + 1
    # Too small a budget, or a budget beside a named codec, is one line and exit 2.
    assert main(["compress", str(photo), str(tmp_path / "no.fsq"), "--max-bytes", str(sizes[1] - 1)]) == 2
    assert f"the smallest shipped quality takes {sizes[1]} bytes, over the {sizes[1] - 1} allowed" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "no.fsq").exists()
    assert main(["compress", str(photo), str(tmp_path / "no.fsq"), "--max-bytes", "9000", "--quality", "2"]) == 2
