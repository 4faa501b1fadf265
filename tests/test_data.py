import shutil

import numpy as np
import pytest

from keras_fsq import data
from tests.conftest import SHARED_DATA


def test_shared_cifar10_is_real_and_in_unit_range():
    images, labels = data.load_shared_cifar10(SHARED_DATA)
    assert images.shape == (5085, 32, 32, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1 and images.std() > 0.1
    assert set(np.unique(labels)) == set(range(10))


def test_data_dir_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(SHARED_DATA))
    assert data.resolve_data_dir() == SHARED_DATA
    monkeypatch.delenv(data.DATA_DIR_VARIABLE)
    with pytest.raises(FileNotFoundError, match="KERAS_FSQ_DATA"):
        data.resolve_data_dir()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.resolve_data_dir("/nonexistent/keras_fsq")


def test_cifar10_through_tfds_mock():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        images = np.stack(list(data.load_cifar10("train").as_numpy_iterator()))
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1


def test_cifar10_not_on_disk_and_no_download_is_a_clear_error(tmp_path):
    with pytest.raises(data.DatasetUnavailableError, match="load_shared_cifar10"):
        data.load_cifar10(data_dir=str(tmp_path), download=False)


@pytest.fixture
def photo_folder(tmp_path):
    for path in sorted((SHARED_DATA / "bsd68").glob("*.png"))[:3]:
        shutil.copy(path, tmp_path)
    return tmp_path


def test_image_folder_crops_and_tiles_real_photos(photo_folder):
    crops = data.load_image_folder(photo_folder, size=32, mode="center_crop")
    assert crops.shape == (3, 32, 32, 3) and 0 <= crops.min() and crops.max() <= 1
    tiles = data.load_image_folder(photo_folder, size=64, mode="tile")
    photo = data.read_image(next(iter(sorted(photo_folder.iterdir()))))
    per_image = (photo.shape[0] // 64) * (photo.shape[1] // 64)
    assert tiles.shape == (3 * per_image, 64, 64, 3)
    np.testing.assert_array_equal(tiles[1], photo[:64, 64:128])


def test_empty_folder_and_bad_mode(tmp_path, photo_folder):
    with pytest.raises(ValueError, match="holds no images"):
        data.load_image_folder(_empty(tmp_path))
    with pytest.raises(ValueError, match="mode"):
        data.load_image_folder(photo_folder, mode="random")
    with pytest.raises(ValueError, match="smaller than the patch"):
        data.load_image_folder(photo_folder, size=1024)


def _empty(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_numpy_arrays_are_scaled_and_checked():
    uint8 = np.full((2, 4, 4, 3), 255, np.uint8)
    assert data.to_unit_float(uint8).max() == 1.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.to_unit_float(np.full((1, 4, 4, 3), 2.0))
    with pytest.raises(ValueError, match="uint8 or float"):
        data.to_unit_float(np.zeros((1, 4, 4, 3), np.int64))


def test_make_dataset_batches():
    images = np.random.default_rng(0).uniform(size=(10, 8, 8, 3)).astype("float32")
    batches = list(data.make_dataset(images, batch_size=4, shuffle=True).as_numpy_iterator())
    assert [len(b) for b in batches] == [4, 4, 2]
    np.testing.assert_allclose(np.sort(np.concatenate(batches).ravel()), np.sort(images.ravel()))
    with pytest.raises(ValueError, match="batch_size"):
        data.make_dataset(images, batch_size=0)
