"""The shipped codecs' NumPy engine computes what the Keras model does, and the codec commands start with it."""

import os
import subprocess
import sys

import numpy as np
import pytest

from keras_fsq import FSQVAE, codec, data
from keras_fsq.compression import dct_engine
from keras_fsq.compression.dct_engine import DCTEngine
from tests.conftest import REPO_ROOT, SHARED_DATA


@pytest.fixture(scope="module")
def photos():
    paths = data.image_paths(SHARED_DATA / "bsd68")
    return [data.read_image(path) for path in paths[:4]] + [data.read_image(paths[10])[:100, :131]]


@pytest.mark.parametrize("quality", [1, 4, 6])
def test_the_engine_gives_the_keras_models_symbols_and_images(photos, quality):
    name = f"fsq_dct_q{quality}"
    model, engine = FSQVAE.from_preset(name), DCTEngine(name)
    assert engine.fingerprint == codec.model_fingerprint(model)
    assert engine.position_alphabet == codec.symbol_levels(model)
    for photo in photos:
        padded = codec.pad_images(model, photo[None])
        grid = codec.image_symbols(model, padded)
        ours = engine.symbols(padded)
        differ = ours != grid
        # Float rounding differs between NumPy and the backend only at exact ties between two levels.
        assert differ.mean() < 1e-4
        positions = engine.positions(padded)[differ]
        assert (np.abs(ours[differ].astype(int) - grid[differ]) == 1).all()
        assert (np.abs(positions - np.floor(positions) - 0.5) < 1e-3).all()
        keras_images = model.decode(codec.indices_of(model, grid, (1, *grid.shape[1:3], 24)))
        np.testing.assert_allclose(engine.decode_symbols(grid), keras_images, atol=1e-5)
    # Files written by either (rounded, as the Keras model codes) decode with the other alike.
    photo = photos[-1]
    from_keras, from_engine = codec.compress(model, photo), codec.compress(engine, photo, rdo_lambda=0.0)
    assert abs(len(from_keras) - len(from_engine)) <= 4
    np.testing.assert_allclose(codec.decompress(engine, from_keras), codec.decompress(model, from_keras), atol=1e-4)
    np.testing.assert_allclose(codec.decompress(engine, from_engine), codec.decompress(model, from_engine), atol=1e-4)


def test_strips_compute_what_the_whole_image_does(photos, monkeypatch):
    engine = DCTEngine("fsq_dct_q2")
    image = codec.pad_images(engine, np.concatenate([photos[0], photos[1][:, : photos[0].shape[1]]])[None])
    whole_symbols, whole_pixels = engine.symbols(image), None
    whole_pixels = engine.decode_symbols(whole_symbols)
    monkeypatch.setattr(dct_engine, "STRIP_BLOCKS", 5)  # strips of 40 pixel rows with their halo
    np.testing.assert_array_equal(engine.symbols(image), whole_symbols)
    np.testing.assert_allclose(engine.decode_symbols(whole_symbols), whole_pixels, atol=1e-6)


def test_only_shipped_block_dct_codecs_run_in_the_engine():
    with pytest.raises(ValueError, match="'fsq_photo_q3' is not a shipped block-DCT codec"):
        DCTEngine("fsq_photo_q3")


def test_codec_commands_without_a_backend_import_no_framework(tmp_path):
    from PIL import Image

    Image.fromarray((data.read_image(SHARED_DATA / "bsd68" / "101085.png")[:64, :80] * 255).astype("uint8")).save(
        tmp_path / "photo.png"
    )
    code = (
        "import sys\n"
        "from keras_fsq.cli import main\n"
        f"assert main(['compress', r'{tmp_path / 'photo.png'}', r'{tmp_path / 'photo.fsq'}', '--quality', '2']) == 0\n"
        f"assert main(['decompress', r'{tmp_path / 'photo.fsq'}', r'{tmp_path / 'back.png'}']) == 0\n"
        "print(sorted(name for name in ('keras', 'tensorflow', 'jax', 'torch') if name in sys.modules))\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**environment, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    model = FSQVAE.from_preset("fsq_dct_q2")  # the file decodes with the Keras model of the backend too
    assert codec.decompress(model, (tmp_path / "photo.fsq").read_bytes()).shape == (1, 64, 80, 3)
