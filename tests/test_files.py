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
    from keras_fsq import sources

    monkeypatch.setattr(sources, "load_images", lambda *args: pytest.fail("data was loaded before --out was checked"))


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
            30000,  # 30,000 images of 32x32: under the file's pixel limit, so the payload bound decides
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


def test_new_files_get_the_umask_mode_and_replaced_files_keep_theirs(tmp_path):
    previous = os.umask(0o022)
    try:
        files.write_text(tmp_path / "new.txt", "x")
        assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644
        (tmp_path / "private.txt").write_text("old")
        os.chmod(tmp_path / "private.txt", 0o600)
        files.write_text(tmp_path / "private.txt", "new")
        assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)


def test_no_clobber_holds_even_when_another_writer_gets_there_first(tmp_path):
    path = tmp_path / "out.fsq"
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        with files.replacing(path, overwrite=False) as temporary:
            temporary.write_bytes(b"ours")
            path.write_bytes(b"theirs")  # another run finished first
    assert path.read_bytes() == b"theirs"
    assert os.listdir(tmp_path) == ["out.fsq"]


def test_a_run_folder_is_owned_by_one_live_run(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        folder = tmp_path / "run"
        folder.mkdir()
        (folder / files.LOCK_NAME).write_text(str(sleeper.pid))
        with pytest.raises(ValueError, match=f"in use by another keras-fsq run \\(pid {sleeper.pid}\\)"):
            with files.run_folder(folder, ["a.txt"]):
                pytest.fail("a second run got the folder")
    finally:
        sleeper.kill()
        sleeper.wait()
    with files.run_folder(folder, ["a.txt"]) as staging:  # the lock of a run that ended is taken over
        (staging / "a.txt").write_text("run 1")
    assert (folder / "a.txt").read_text() == "run 1" and sorted(os.listdir(folder)) == ["a.txt"]


def test_an_interrupted_overwrite_leaves_the_previous_run_whole(tmp_path):
    folder = tmp_path / "run"
    with files.run_folder(folder, ["model.keras", "metrics.json"]) as staging:
        (staging / "model.keras").write_text("old model")
        (staging / "metrics.json").write_text("old metrics")
    with pytest.raises(KeyboardInterrupt):
        with files.run_folder(folder, ["model.keras", "metrics.json"], overwrite=True) as staging:
            (staging / "model.keras").write_text("new model")
            raise KeyboardInterrupt  # before the metrics were written
    assert (folder / "model.keras").read_text() == "old model" and (
        folder / "metrics.json"
    ).read_text() == "old metrics"
    assert sorted(os.listdir(folder)) == ["metrics.json", "model.keras"]
    with files.run_folder(folder, ["model.keras", "metrics.json"], overwrite=True) as staging:
        (staging / "model.keras").write_text("new model")
    assert sorted(os.listdir(folder)) == ["model.keras"]  # the old run's metrics do not sit beside the new model


def test_sigterm_ends_a_command_like_ctrl_c(tmp_path):
    code = (
        "import os, signal, pathlib\n"
        "from keras_fsq import cli, files\n"
        "signal.signal(signal.SIGTERM, cli.terminate)\n"
        f"target = pathlib.Path(r'{tmp_path}') / 'model.keras'\n"
        "try:\n"
        "    with files.replacing(target) as temporary:\n"
        "        temporary.write_bytes(b'part of a model')\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    result = run_python(code)
    assert result.stdout.strip() == "interrupted", result.stderr
    assert os.listdir(tmp_path) == []


def test_codec_outputs_a_trailing_slash_means_a_folder_and_suffixes_must_fit(codec_model, photos, tmp_path, capsys):
    photo = sorted(photos.iterdir())[0]
    model = ["--model", str(codec_model)]
    assert main(["compress", str(photo), str(tmp_path / "new") + "/", *model]) == 0
    assert (tmp_path / "new" / (photo.stem + ".fsq")).is_file()
    capsys.readouterr()
    assert main(["compress", str(photo), str(tmp_path / "y.png"), *model]) == 2
    assert "the output of compress is a .fsq file, or a folder" in capsys.readouterr().err
    fsq = tmp_path / "new" / (photo.stem + ".fsq")
    assert main(["decompress", str(fsq), str(tmp_path / "back.fsq"), *model]) == 2
    assert "the output of decompress is an image file" in capsys.readouterr().err
    assert not (tmp_path / "y.png").exists() and not (tmp_path / "back.fsq").exists()


def test_commands_print_no_tensorflow_start_up_lines(tmp_path):
    photo = SHARED_DATA / "bsd68" / "101085.png"
    result = subprocess.run(
        [sys.executable, "-m", "keras_fsq.cli", "--backend", BACKEND, "compress", str(photo), str(tmp_path) + "/"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert "101085.png ->" in result.stdout


def test_long_names_bad_priors_and_unencodable_output_are_handled(codec_model, photos, tmp_path, capsys):
    photo = sorted(photos.iterdir())[0]
    model = ["--model", str(codec_model)]
    long_name = tmp_path / ("x" * 240 + ".fsq")
    assert main(["compress", str(photo), str(long_name), *model]) == 0
    assert long_name.is_file()
    capsys.readouterr()
    assert main(["compress", str(photo), str(tmp_path / "p.fsq"), *model, "--prior", str(photo)]) == 2
    assert "is not a prior written by keras-fsq fit-prior" in capsys.readouterr().err
    target = tmp_path / "caf\u00e9.fsq"
    arguments = ["compress", str(photo), str(target), "--model", str(codec_model)]
    code = f"import sys\nfrom keras_fsq.cli import main\nsys.exit(main({arguments!r}))\n"
    result = run_python(code, PYTHONIOENCODING="ascii")
    assert result.returncode == 0, result.stderr
    assert "caf\\xe9.fsq" in result.stdout


def test_a_commit_waits_for_sigterm_and_a_killed_commit_is_finished_by_the_next_run(tmp_path):
    import json

    folder = tmp_path / "run"
    outputs = ["model.keras", "metrics.json", "history.json"]
    with files.run_folder(folder, outputs) as staging:
        for name in outputs:
            (staging / name).write_text(f"old {name}")
    # SIGTERM during the moves is held back until they are all done (in a process's main thread, as a command).
    held = run_python(
        "import os, signal\n"
        "from keras_fsq import files\n"
        "received = []\n"
        "signal.signal(signal.SIGTERM, lambda *_: received.append(1))\n"
        "with files.signals_deferred():\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    print('inside', len(received))\n"
        "print('after', len(received))\n"
    )
    assert held.stdout.split() == ["inside", "0", "after", "1"], held.stderr
    # A process killed mid-commit leaves the journal: the new model moved, the metrics not yet.
    staging = folder / ".staging-killed"
    staging.mkdir()
    (staging / "metrics.json").write_text("new metrics.json")
    (folder / "model.keras").write_text("new model.keras")
    (folder / files.JOURNAL_NAME).write_text(json.dumps([staging.name, outputs, ["model.keras", "metrics.json"]]))
    (folder / ".staging-never-committed").mkdir()
    with files.run_folder(folder, outputs, overwrite=True):
        # Finished first: the killed run's files, whole; its history.json (not written by it) is gone.
        assert (folder / "metrics.json").read_text() == "new metrics.json"
        assert (folder / "model.keras").read_text() == "new model.keras"
        assert not (folder / "history.json").exists() and not (folder / files.JOURNAL_NAME).exists()
        assert not (folder / ".staging-never-committed").exists()
    assert os.listdir(folder) == []  # this run wrote nothing, so it removed the outputs it owns
