"""No file is lost: atomic writes, no overwriting without --overwrite, never an input; clear one-line errors."""

import os
import subprocess
import sys

import numpy as np
import pytest

from keras_fsq import files
from keras_fsq.cli import main
from tests.conftest import BACKEND, REPO_ROOT, SHARED_DATA


def test_an_interrupted_write_leaves_the_old_file_and_no_debris(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"old model")
    with pytest.raises(KeyboardInterrupt):
        with files.replacing(path) as temporary:
            temporary.write_bytes(b"half of a new")
            raise KeyboardInterrupt
    assert path.read_bytes() == b"old model"
    assert os.listdir(tmp_path) == ["model.keras"]
    files.write_bytes(path, b"new model")
    assert path.read_bytes() == b"new model" and os.listdir(tmp_path) == ["model.keras"]
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        files.write_bytes(path, b"other", overwrite=False)


def test_output_folders_are_checked_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        files.prepare_output_folder(tmp_path / "file")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text("{}")
    with pytest.raises(ValueError, match="already holds metrics.json"):
        files.prepare_output_folder(run, ["model.keras", "metrics.json"])
    assert files.prepare_output_folder(run, ["metrics.json"], overwrite=True) == run


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command starts loading data."""
    from keras_fsq import cli

    monkeypatch.setattr(cli, "load_images", lambda args: pytest.fail("data was loaded before --out was checked"))


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_train_and_evaluate_refuse_an_unusable_out_before_any_work(tmp_path, capsys, no_work, command):
    (tmp_path / "taken").write_text("a file")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text("{}")
    if command == "evaluate":
        (tmp_path / "m.keras").write_bytes(b"checked later, after --out")
    model = ["--model", str(tmp_path / "m.keras")] if command == "evaluate" else []
    assert main([command, *model, "--out", str(tmp_path / "taken")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main([command, *model, "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "already holds metrics.json" in error and "--overwrite" in error and error.count("\n") == 1
    assert (tmp_path / "run" / "metrics.json").read_text() == "{}"


@pytest.mark.parametrize(
    "arguments",
    [
        ["train", "--epochs", "0"],
        ["train", "--epochs", "-3"],
        ["train", "--train-size", "-1"],
        ["train", "--limit", "-10"],
        ["train", "--latent-dim", "0"],
        ["train", "--codebook-size", "0"],
        ["train", "--learning-rate", "nan"],
        ["train", "--learning-rate", "0"],
        ["train", "--levels", "8,1"],
        ["train", "--architecture", "mlp"],
        ["fit-prior", "--model", "m.keras", "--out", "p.json", "--tile", "0"],
        ["tune", "--rate-weight", "inf"],
    ],
)
def test_bad_numbers_are_refused_while_parsing(capsys, arguments):
    with pytest.raises(SystemExit) as exit_:
        main(arguments)
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert f"keras-fsq {arguments[0]}: error: argument" in error and error.count("\n") == 1


def test_train_size_zero_is_refused_for_training(tmp_path, capsys, no_work):
    assert main(["train", "--train-size", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--train-size must be >= 1" in capsys.readouterr().err


@pytest.fixture(scope="module")
def codec_model(tmp_path_factory):
    """An untrained fully convolutional model with unequal levels (stride 2), saved."""
    import keras

    from keras_fsq import FSQ, FSQVAE, ConvDecoder, ConvEncoder

    keras.utils.set_random_seed(0)
    model = FSQVAE(
        ConvEncoder(4, [8]), FSQ([8, 5, 5, 5], track_usage=True), ConvDecoder(3, [8]), reconstruction_loss="mse"
    )
    model.build((None, 32, 32, 3))
    path = tmp_path_factory.mktemp("model") / "m.keras"
    model.save(path)
    return path


@pytest.fixture
def photos(tmp_path):
    from keras_fsq.data import image_paths, read_image, write_image

    folder = tmp_path / "photos"
    folder.mkdir()
    for path in image_paths(SHARED_DATA / "bsd68")[:2]:
        write_image(read_image(path)[:21, :30], folder / path.name)
    return folder


def snapshot(folder):
    return {path.relative_to(folder): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_codec_commands_never_write_over_inputs_or_existing_files(codec_model, photos, tmp_path, capsys):
    model = ["--model", str(codec_model)]
    photo = sorted(photos.iterdir())[0]
    before = snapshot(tmp_path)
    assert main(["compress", str(photo), str(photo), *model, "--overwrite"]) == 2
    assert "is an input of this command" in capsys.readouterr().err
    assert main(["compress", str(photos), str(photos), *model]) == 0  # .fsq files beside the photos
    capsys.readouterr()
    assert main(["decompress", str(photos), str(photos), *model]) == 2  # would replace the originals
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["compress", str(photos), str(photos), *model]) == 2  # the .fsq files exist now
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k.suffix != ".fsq"} == before
    fsq = photo.with_suffix(".fsq")
    assert main(["decompress", str(fsq), str(tmp_path / "back.png"), *model]) == 0
    assert main(["decompress", str(fsq), str(tmp_path / "back.png"), *model]) == 2
    assert main(["decompress", str(fsq), str(tmp_path / "back.png"), *model, "--overwrite"]) == 0
    assert main(["decompress", str(fsq), str(fsq), *model, "--overwrite"]) == 2


def test_name_collisions_are_refused_before_anything_is_written(codec_model, photos, tmp_path, capsys):
    from keras_fsq.data import read_image, write_image

    photo = sorted(photos.iterdir())[0]
    write_image(read_image(photo), photo.with_suffix(".jpg"))
    assert main(["compress", str(photos), str(tmp_path / "out"), "--model", str(codec_model)]) == 2
    assert "would both be written to" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_file_of_several_images_decompresses_to_numbered_pngs(codec_model, tmp_path, capsys):
    from keras_fsq import codec, load_model
    from keras_fsq.data import read_image

    model = load_model(codec_model)
    images = np.random.default_rng(0).uniform(size=(3, 9, 14, 3)).astype("float32")
    (tmp_path / "three.fsq").write_bytes(codec.compress(model, images))
    assert main(["decompress", str(tmp_path / "three.fsq"), str(tmp_path / "x.png"), "--model", str(codec_model)]) == 0
    expected = codec.decompress(model, (tmp_path / "three.fsq").read_bytes())
    for number in range(3):
        np.testing.assert_allclose(
            read_image(tmp_path / f"x-{number + 1}.png"), expected[number], atol=0.5 / 255 + 1e-6
        )


@pytest.mark.parametrize(
    "content, message", [(b"", "not a readable image"), (b"\x89PNG\r\n\x1a\n junk", "not a readable image")]
)
def test_broken_images_end_in_one_line_naming_the_file(codec_model, tmp_path, capsys, content, message):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    assert main(["compress", str(bad), str(tmp_path / "bad.fsq"), "--model", str(codec_model)]) == 2
    error = capsys.readouterr().err
    assert f"{bad} is {message}" in error and error.count("\n") == 1
    assert not (tmp_path / "bad.fsq").exists()


def test_broken_model_files_end_in_one_line(codec_model, tmp_path, capsys):
    truncated = tmp_path / "t.keras"
    truncated.write_bytes(codec_model.read_bytes()[:1000])
    assert (
        main(
            ["compress", str(SHARED_DATA / "bsd68" / "101085.png"), str(tmp_path / "x.fsq"), "--model", str(truncated)]
        )
        == 2
    )
    error = capsys.readouterr().err
    assert "t.keras is not a .keras model file" in error and error.count("\n") == 1


def test_a_crafted_header_is_refused_by_decompress(codec_model, tmp_path, capsys):
    import struct
    import zlib

    from keras_fsq import codec, load_model

    model = load_model(codec_model)
    prior = codec.EntropyModel.from_level_usage(model)
    header = (
        struct.pack(
            "<4sB8s8sHHHBB",
            b"KFSQ",
            codec.VERSION,
            codec.model_fingerprint(model),
            prior.fingerprint,
            65535,
            32,
            32,
            3,
            4,
        )
        + bytes([8, 5, 5, 5])
        + b"\x00"
        + struct.pack("<II", 0, 0)
    )  # no model name
    crafted = header + struct.pack("<I", zlib.crc32(header))
    assert len(crafted) == 46
    (tmp_path / "bomb.fsq").write_bytes(crafted)
    assert main(["decompress", str(tmp_path / "bomb.fsq"), str(tmp_path / "x.png"), "--model", str(codec_model)]) == 2
    assert "a payload of 0 bytes carries at most" in capsys.readouterr().err
    assert not list(tmp_path.glob("x*.png"))


def test_missing_packages_are_named_with_their_extra(monkeypatch, tmp_path, capsys):
    import importlib.util

    from keras_fsq import _backend

    monkeypatch.setenv("KERAS_BACKEND", BACKEND)  # main() sets it from --backend; restored after the test
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    with pytest.raises(ImportError, match=r"keras-fsq\[jax\]"):
        _backend.require_backend("jax")
    assert main(["--backend", "jax", "train", "--out", str(tmp_path / "o")]) == 2
    assert "keras-fsq[jax]" in capsys.readouterr().err
    monkeypatch.setattr(importlib.util, "find_spec", real)
    monkeypatch.setenv("KERAS_BACKEND", BACKEND)
    monkeypatch.setitem(sys.modules, "keras_tuner", None)  # as if KerasTuner were not installed
    monkeypatch.delitem(sys.modules, "keras_fsq.tuning", raising=False)
    monkeypatch.delattr(sys.modules["keras_fsq"], "tuning", raising=False)
    assert main(["tune", "--out", str(tmp_path / "t")]) == 2
    assert "keras-fsq[tune]" in capsys.readouterr().err


def run_python(code, **env):
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


def test_backend_option_picks_the_backend_and_help_imports_no_keras(tmp_path):
    other = "jax" if BACKEND != "jax" else "torch"
    picked = run_python(
        "import sys, keras_fsq, keras_fsq.cli as cli\n"
        "assert 'keras' not in sys.modules\n"
        f"assert cli.main(['--backend', '{other}', 'fit-prior', '--model', r'{tmp_path}/none.keras', '--out', "
        f"r'{tmp_path}/p.json']) == 2\n"
        "import keras; print(keras.backend.backend())",
        KERAS_BACKEND="tensorflow",
    )
    assert picked.returncode == 0, picked.stderr
    assert picked.stdout.strip() == other
    helped = run_python(
        "import sys, keras_fsq.cli as cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    "
        "pass\nprint('keras' in sys.modules)"
    )
    assert helped.stdout.strip().endswith("False") and "usage: keras-fsq" in helped.stdout
    assert helped.stderr == ""


def test_fit_prior_tiles_default_to_what_the_model_encodes(tmp_path, capsys):
    """A global model encodes 32x32 only; fit-prior's default tiles used to be 64 and never matched."""
    from keras_fsq import build_fsqvae, codec

    model = build_fsqvae(architecture="global", levels=[5, 5, 5], latent_dim=12, widths=(8, 16))
    model.save(tmp_path / "global.keras")
    out = tmp_path / "prior.json"
    assert (
        main(
            [
                "fit-prior",
                "--model",
                str(tmp_path / "global.keras"),
                "--data",
                str(SHARED_DATA / "bsd68"),
                "--limit",
                "40",
                "--context",
                "none",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "from 40 images" in capsys.readouterr().out
    assert codec.EntropyModel.from_json(out.read_text()).levels == [5, 5, 5]
    assert (
        main(
            [
                "fit-prior",
                "--model",
                str(tmp_path / "global.keras"),
                "--data",
                str(SHARED_DATA / "bsd68"),
                "--limit",
                "40",
                "--out",
                str(out),
            ]
        )
        == 2
    )  # exists: --overwrite to replace it
