import shutil

import numpy as np
import pytest

from keras_fsq import array_files, batches, data, sources
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
    made = list(batches.make_dataset(images, batch_size=4, shuffle=True).as_numpy_iterator())
    assert [len(b) for b in made] == [4, 4, 2]
    np.testing.assert_allclose(np.sort(np.concatenate(made).ravel()), np.sort(images.ravel()))
    with pytest.raises(ValueError, match="batch_size"):
        batches.make_dataset(images, batch_size=0)


@pytest.mark.parametrize(
    "mode, pixels, expected",
    [
        ("I;16", np.full((4, 5), 32768, np.uint16), 32768 / 65535),  # 16-bit grey: not clipped to white
        ("L", np.full((4, 5), 51, np.uint8), 0.2),
        ("LA", np.dstack([np.full((4, 5), 102, np.uint8), np.zeros((4, 5), np.uint8)]), 0.4),
        ("RGBA", np.dstack([np.full((4, 5, 3), 204, np.uint8), np.full((4, 5), 9, np.uint8)]), 0.8),
    ],
)
def test_any_pillow_mode_reads_as_unit_rgb(tmp_path, mode, pixels, expected):
    from PIL import Image

    path = tmp_path / "x.png"
    Image.fromarray(pixels).save(path)
    with Image.open(path) as opened:
        assert opened.mode == mode
    image = data.read_image(path)
    assert image.shape == (4, 5, 3) and image.dtype == np.float32
    np.testing.assert_allclose(image, expected, atol=1e-6)


def test_palette_bilevel_and_cmyk_images_read_as_their_rgb(tmp_path):
    from PIL import Image

    Image.new("1", (6, 4), 1).save(tmp_path / "b.png")
    np.testing.assert_array_equal(data.read_image(tmp_path / "b.png"), 1.0)
    Image.new("RGB", (6, 4), (255, 0, 51)).convert("P").save(tmp_path / "p.png")
    np.testing.assert_allclose(data.read_image(tmp_path / "p.png")[0, 0], [1.0, 0.0, 0.2], atol=1e-6)
    Image.new("CMYK", (6, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    np.testing.assert_allclose(data.read_image(tmp_path / "c.jpg")[0, 0], [1.0, 0.0, 0.0], atol=0.02)


def test_decompression_bombs_are_refused_from_the_header(tmp_path):
    import tracemalloc

    from PIL import Image

    path = tmp_path / "bomb.png"
    Image.new("L", (9000, 9000)).save(path)  # ~80 KB on disk, 81 megapixels
    assert path.stat().st_size < 300_000
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"bomb.png is 9000x9000, over the \d+ pixels allowed"):
        data.read_image(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10 * 2**20


@pytest.mark.parametrize("content", [b"", b"not an image", "truncated"])
def test_unreadable_images_are_value_errors_naming_the_file(tmp_path, content):
    path = tmp_path / "broken.png"
    if content == "truncated":
        good = tmp_path / "good.png"
        data.write_image(np.random.default_rng(0).uniform(size=(64, 64, 3)), good)
        content = good.read_bytes()[: good.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.png is not a readable image"):
        data.read_image(path)


def test_folders_named_like_images_are_skipped_and_refused(photo_folder):
    (photo_folder / "x.png").mkdir()
    assert photo_folder / "x.png" not in data.image_paths(photo_folder)
    with pytest.raises(ValueError, match="x.png is a folder"):
        data.read_image(photo_folder / "x.png")


def test_array_files(tmp_path):
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(ValueError, match="empty.npz holds no arrays"):
        array_files.load_array_file(tmp_path / "empty.npz")
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.npy is not a readable"):
        array_files.load_array_file(tmp_path / "junk.npy")
    np.save(tmp_path / "grey.npy", np.full((2, 8, 8), 255, np.uint8))
    assert array_files.load_array_file(tmp_path / "grey.npy").shape == (2, 8, 8, 1)
    shared = array_files.load_array_file(SHARED_DATA / data.SHARED_CIFAR10)
    assert shared.shape == (5085, 32, 32, 3)


def test_written_images_replace_atomically(tmp_path):
    path = tmp_path / "x.png"
    data.write_image(np.zeros((4, 4, 3)), path)
    with pytest.raises(ValueError, match="exists"):
        data.write_image(np.ones((4, 4, 3)), path, overwrite=False)
    assert data.read_image(path).max() == 0
    data.write_image(np.ones((4, 4, 1)), path)
    assert data.read_image(path).min() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    """A picture stored sideways with its EXIF orientation reads back as viewers show it."""
    from PIL import Image

    upright = np.zeros((6, 10, 3), np.uint8)
    upright[:2, :3] = 255  # a white block in the top-left corner, as seen
    # How each orientation stores the upright picture (the inverse of what a viewer applies).
    stored = {
        1: upright,
        2: upright[:, ::-1],
        3: upright[::-1, ::-1],
        4: upright[::-1],
        5: upright.transpose(1, 0, 2),
        6: np.rot90(upright, 1),
        7: upright[::-1, ::-1].transpose(1, 0, 2),
        8: np.rot90(upright, -1),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "phone.png"
    Image.fromarray(np.ascontiguousarray(stored)).save(path, exif=exif.tobytes())
    image = data.read_image(path)
    np.testing.assert_array_equal(image, upright / 255.0)


def test_animations_and_out_of_range_float_images_are_refused(tmp_path):
    from PIL import Image

    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="anim.gif holds 2 frames"):
        data.read_image(tmp_path / "anim.gif")
    Image.fromarray(np.full((4, 4), 200.0, np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(
        ValueError, match=r"float.tif: a float image must hold values in \[0, 1\]; this one holds \[200, 200\]"
    ):
        data.read_image(tmp_path / "float.tif")
    Image.fromarray(np.full((4, 4), 0.25, np.float32)).save(tmp_path / "unit.tif")
    np.testing.assert_allclose(data.read_image(tmp_path / "unit.tif"), 0.25)


def test_array_files_are_checked_from_their_headers_before_inflating(tmp_path):
    import tracemalloc

    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, x=np.zeros((3000, 32, 32, 3), np.uint8))  # 9.2e6 values in ~9 KB
    assert path.stat().st_size < 50_000
    assert array_files.array_file_headers(path) == {"x": ((3000, 32, 32, 3), np.dtype("uint8"))}
    tracemalloc.start()
    # 9,216,000 values x (1 byte + 4 of float32) = 44 MiB
    with pytest.raises(ValueError, match=r"zeros.npz: loading its images takes 44 MiB, over the 10 MiB allowed"):
        array_files.load_array_file(path, max_bytes=10 * 2**20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2**20
    np.save(tmp_path / "objects.npy", np.array([None, 1], dtype=object))
    with pytest.raises(ValueError, match=r"objects.npy holds arrays of dtype \['object'\]"):
        array_files.load_array_file(tmp_path / "objects.npy")


def test_array_files_bound_bytes_not_values_and_read_only_the_limit(tmp_path):
    import tracemalloc

    # A dtype no image comes in (float128 is 16 bytes a value) is refused from its header.
    wide = np.zeros((2, 4, 4, 3), np.longdouble)
    np.save(tmp_path / "wide.npy", wide)
    if wide.dtype.itemsize > 8:
        with pytest.raises(ValueError, match=r"wide.npy holds arrays of dtype \['float128'\]"):
            array_files.load_array_file(tmp_path / "wide.npy")
    # float64 costs 12 bytes a value loaded: the same values as uint8 cost more than twice as much.
    np.save(tmp_path / "doubles.npy", np.zeros((1000, 32, 32, 3), np.float64))  # 3.07e6 values x 12 B = 35 MiB
    with pytest.raises(ValueError, match="doubles.npy: loading its images takes"):
        array_files.load_array_file(tmp_path / "doubles.npy", max_bytes=2**25)
    # --limit is a bound too: only the first images are read (and counted).
    tracemalloc.start()
    first = array_files.load_array_file(tmp_path / "doubles.npy", limit=10, max_bytes=2**25)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert first.shape == (10, 32, 32, 3) and peak < 2**21
    np.savez_compressed(tmp_path / "images.npz", x=np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3))
    np.testing.assert_array_equal(
        array_files.load_array_file(tmp_path / "images.npz", limit=2),
        np.arange(5 * 2 * 2 * 3, dtype=np.uint8).reshape(5, 2, 2, 3)[:2] / np.float32(255),
    )
    assert sources.load_images(str(tmp_path / "images.npz"), limit=3).shape == (3, 2, 2, 3)


def test_shuffled_batches_and_records_order_each_epoch_from_the_seed_alone():
    images = np.arange(10 * 2 * 2 * 1, dtype="float32").reshape(10, 2, 2, 1) / 40
    first = batches.shuffled_batches(images, 4, seed=3, flip=True)
    assert len(first) == 3
    epoch0 = np.concatenate([first[i] for i in range(3)])
    first.on_epoch_end()
    epoch1 = np.concatenate([first[i] for i in range(3)])
    resumed = batches.shuffled_batches(images, 4, seed=3, flip=True)
    resumed.epoch = 1  # what a resumed run sets
    np.testing.assert_array_equal(np.concatenate([resumed[i] for i in range(3)]), epoch1)
    assert not np.array_equal(epoch0, epoch1)
    # every image once per epoch, some mirrored
    assert sorted(np.sort(epoch0.reshape(10, -1), axis=1).sum(axis=1)) == sorted(images.reshape(10, -1).sum(axis=1))

    records = {"tokens": np.arange(20).reshape(10, 2), "labels": np.arange(10)}
    dataset = batches.shuffled_records(records, 4, seed=3)
    rows = [dataset[i] for i in range(3)]
    assert [len(b["labels"]) for b in rows] == [4, 4, 2]
    labels = np.concatenate([b["labels"] for b in rows])
    assert sorted(labels) == list(range(10))
    np.testing.assert_array_equal(np.concatenate([b["tokens"] for b in rows]), records["tokens"][labels])
    np.testing.assert_array_equal(labels, batches.epoch_order(10, 3, 0)[0])
    with pytest.raises(ValueError, match="arrays"):
        batches.shuffled_records({"tokens": np.zeros((3, 2)), "labels": np.zeros(2)}, 2)
    with pytest.raises(ValueError, match="batch_size"):
        batches.shuffled_records(records, 0)
