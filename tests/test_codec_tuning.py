"""A shipped codec fine-tuned on a folder of photos: the split, the coding table, the codec folder, the commands."""

import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_fsq import codec, presets
from keras_fsq.codec_folders import is_codec_folder, read_codec_folder, write_codec_folder
from keras_fsq.codec_tuning import count_coding_table, mixed_counts, split_photos
from keras_fsq.compression.dct_engine import DCTEngine
from keras_fsq.compression.tables import shipped_table
from tests.conftest import BACKEND, REPO_ROOT, SHARED_DATA, killed_after_a_checkpoint

CLI = [sys.executable, "-m", "keras_fsq.cli"]


def test_photos_split_by_name_with_a_fifth_held_out():
    paths = [f"p{i:02d}.png" for i in range(10)][::-1]
    assert split_photos(paths) == (sorted(paths)[:8], sorted(paths)[8:])
    assert split_photos(paths[:2]) == (["p08.png"], ["p09.png"])  # at least one photo held out
    assert split_photos(paths, 9)[1] == ["p09.png"]
    with pytest.raises(ValueError, match="--train-size 10 must leave held-out photos among the 10"):
        split_photos(paths, 10)
    with pytest.raises(ValueError, match="at least 2 photos"):
        split_photos(paths[:1])


def test_the_photos_are_bounded_by_their_pixels_before_they_are_decoded(tmp_path):
    from PIL import Image

    from keras_fsq.cli.train_codec import load_photos

    paths = []
    for i, size in enumerate(((64, 48), (80, 40))):
        Image.new("RGB", size).save(tmp_path / f"p{i}.png")
        paths.append(tmp_path / f"p{i}.png")
    assert [p.shape for p in load_photos(paths, 64 * 48 + 80 * 40)] == [(48, 64, 3), (40, 80, 3)]
    with pytest.raises(ValueError, match=r"more than 6,271 pixels in all, .* \(reached at .*p1.png\)"):
        load_photos(paths, 64 * 48 + 80 * 40 - 1)


def test_the_shipped_table_is_mixed_in_scaled_to_the_photos_counts():
    shipped = shipped_table(presets.resolve("fsq_dct_q3").coding_prior)
    domain = np.zeros_like(shipped.counts)
    domain[:, 0, 0] = 1000
    np.testing.assert_array_equal(mixed_counts(shipped, domain, 0.0), domain)
    mixed = mixed_counts(shipped, domain, 2.0)
    assert mixed.dtype == np.int64
    expected = np.round(2.0 * 1000 / shipped.counts.sum(axis=(1, 2), keepdims=True) * shipped.counts)
    np.testing.assert_array_equal(mixed - domain, expected)


def codec_folder_of_shipped_weights(folder, quality=3):
    """A codec folder holding the shipped weights of ``quality`` and a table counted on two small photos."""
    from keras_fsq import FSQVAE, data

    model = FSQVAE.from_preset(presets.codec_preset(quality))
    photos = [data.to_uint8(data.read_image(path))[:96, :128] for path in data.image_paths(SHARED_DATA / "bsd68")[:2]]
    table, weight = count_coding_table(model, presets.resolve(presets.codec_preset(quality)), photos)
    folder.mkdir()
    write_codec_folder(folder, presets.codec_preset(quality), model, table, "two photos")
    return model, table, weight


def test_a_codec_folder_codes_in_the_engine_and_in_keras_alike(tmp_path):
    from keras_fsq import FSQVAE

    model, table, weight = codec_folder_of_shipped_weights(tmp_path / "codec")
    assert weight == 64.0  # two small photos: the shipped table weighs most
    record = read_codec_folder(tmp_path / "codec")
    assert record.deblock == presets.resolve("fsq_dct_q3").deblock and record.file_name == ""
    engine = DCTEngine(record)
    assert engine.fingerprint == codec.model_fingerprint(model)
    assert (
        codec.EntropyModel.for_model(engine).fingerprint
        == table.fingerprint
        != shipped_table(presets.resolve("fsq_dct_q3").coding_prior).fingerprint
    )
    keras_model = FSQVAE.from_preset(tmp_path / "codec")
    assert keras_model.preset is None and codec.EntropyModel.for_model(keras_model).fingerprint == table.fingerprint
    from keras_fsq import data

    photo = data.read_image(data.image_paths(SHARED_DATA / "bsd68")[3])[:64, :80]
    payload = codec.compress(engine, photo)
    assert codec.read_header(payload).model_name == ""  # only --model FOLDER decodes it
    by_engine, by_keras = codec.decompress(engine, payload), codec.decompress(keras_model, payload)
    np.testing.assert_allclose(by_engine, by_keras, atol=2e-3)
    assert 10 * np.log10(1 / np.mean((by_engine[0] - photo) ** 2)) > 25


def test_a_codec_folder_is_checked_before_it_is_used(tmp_path):
    folder = tmp_path / "codec"
    folder.mkdir()
    assert not is_codec_folder(folder)
    (folder / "codec.json").write_text("[]")
    with pytest.raises(ValueError, match="is not a codec folder: .*codec.json \\(its format is not"):
        read_codec_folder(folder)
    description = {"format": "keras_fsq codec folder 1", "base": "fsq_cifar10"}
    (folder / "codec.json").write_text(json.dumps(description))
    with pytest.raises(ValueError, match="its base 'fsq_cifar10' is not a shipped block-DCT codec"):
        read_codec_folder(folder)
    (folder / "codec.json").write_text(json.dumps({**description, "base": "fsq_dct_q9"}))
    with pytest.raises(ValueError, match="fsq_dct_q9"):
        read_codec_folder(folder)
    (folder / "codec.json").write_text(json.dumps({**description, "base": "fsq_dct_q2"}))
    with pytest.raises(ValueError, match="it lacks weights.npz, coding_table.json.gz"):
        read_codec_folder(folder)
    with presets.resolve("fsq_dct_q2").weights_file().open("rb") as file:
        (folder / "weights.npz").write_bytes(file.read())
    (folder / "coding_table.json.gz").write_bytes(gzip.compress(b"{not json"))
    engine = DCTEngine(read_codec_folder(folder))
    with pytest.raises(ValueError, match="coding_table.json.gz is not a coding table"):
        codec.EntropyModel.for_model(engine)


def environment():
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return env


def run(arguments, cwd, backend=True):
    env = environment()
    if not backend:  # the codec commands as a user runs them: the NumPy engine
        env.pop("KERAS_BACKEND")
    return subprocess.run(arguments, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


TRAIN = ["train", "--preset", "fsq_dct_q2", "--data", "photos", "--epochs", "3", "--steps-per-epoch", "12"]
TRAIN += ["--batch-size", "2"]


@pytest.mark.skipif(BACKEND != "torch", reason="three short trainings in fresh processes: one backend is enough")
def test_fine_tune_a_codec_on_a_folder_resume_it_and_code_with_it(tmp_path):
    from PIL import Image

    from keras_fsq import data

    (tmp_path / "photos").mkdir()
    for i, path in enumerate(data.image_paths(SHARED_DATA / "photos" / "urban100")[:3]):
        Image.open(path).convert("RGB").crop((0, 0, 176, 144)).save(tmp_path / "photos" / f"photo{i}.png")
    whole = run([*CLI, *TRAIN, "--out", "whole"], tmp_path)
    assert whole.returncode == 0, whole.stderr
    assert "fsq_dct_q2 fine-tuned on 2 photos of photos (1 held out), 3 epochs of 12 steps" in whole.stderr
    report = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert report["held_out_photos"] == [os.path.join("photos", "photo2.png")]
    assert len(report["families"]["shipped"]) == 6 and report["fine_tuned"]["psnr"] > 20
    assert "fsq_dct_q2 fine-tuned" in (tmp_path / "whole" / "metrics.md").read_text()

    done = killed_after_a_checkpoint(
        [*CLI, *TRAIN, "--out", "cut"], tmp_path / "cut" / "checkpoint", tmp_path, environment()
    )
    assert done >= 1 and not (tmp_path / "cut" / "weights.npz").exists()
    resumed = run([*CLI, *TRAIN, "--out", "cut", "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    with np.load(tmp_path / "whole" / "weights.npz") as a, np.load(tmp_path / "cut" / "weights.npz") as b:
        assert a.files == b.files
        for key in a.files:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert (tmp_path / "whole" / "coding_table.json.gz").read_bytes() == (
        tmp_path / "cut" / "coding_table.json.gz"
    ).read_bytes()

    compressed = run([*CLI, "compress", "photos/photo2.png", "p.fsq", "--model", "whole"], tmp_path, backend=False)
    assert compressed.returncode == 0, compressed.stderr
    unnamed = run([*CLI, "decompress", "p.fsq", "back.png"], tmp_path, backend=False)
    assert unnamed.returncode == 2 and "pass it with --model" in unnamed.stderr
    assert len(unnamed.stderr.strip().splitlines()) == 1
    decompressed = run([*CLI, "decompress", "p.fsq", "back.png", "--model", "whole"], tmp_path, backend=False)
    assert decompressed.returncode == 0, decompressed.stderr
    back = np.asarray(Image.open(tmp_path / "back.png"), dtype="float64")
    original = np.asarray(Image.open(tmp_path / "photos" / "photo2.png"), dtype="float64")
    psnr = 10 * np.log10(255**2 / np.mean((back - original) ** 2))
    assert psnr == pytest.approx(report["fine_tuned"]["psnr"], abs=0.01)
    options = run([*CLI, *TRAIN, "--out", "other", "--levels", "8,5,5,5"], tmp_path)
    assert options.returncode == 2 and "--levels: --preset fsq_dct_q2 is a shipped codec" in options.stderr
