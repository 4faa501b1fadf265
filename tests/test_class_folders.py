"""Labelled image sets from class folders and archives, and the 50,000 CIFAR-10 JPEGs without held-out images."""

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from keras_fsq import class_folders, data, sources
from tests.conftest import BACKEND, SHARED_DATA


def png_bytes(value, size=(4, 4)):
    buffer = io.BytesIO()
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_tree(root, files):
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)


FILES = {"set/cat/b.png": png_bytes(20), "set/cat/a.png": png_bytes(10), "set/airplane/0.png": png_bytes(30)}


def test_folders_and_archives_give_the_same_images_labels_and_classes(tmp_path):
    write_tree(tmp_path / "tree", FILES)
    with tarfile.open(tmp_path / "set.tar.gz", "w:gz") as archive:
        for name, content in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    for source in (tmp_path / "tree" / "set", tmp_path / "set.tar.gz"):
        images, labels, classes = class_folders.read_class_folders(source)
        assert classes == ["airplane", "cat"] and labels.tolist() == [0, 1, 1]
        assert images[:, 0, 0, 0].tolist() == [30, 10, 20] and images.dtype == np.uint8
        assert class_folders.read_class_folders(source, limit=2)[0].shape == (2, 4, 4, 3)
        kept = class_folders.read_class_folders(source, exclude=["cat/a.png"])[0]
        assert kept[:, 0, 0, 0].tolist() == [30, 20]  # a path or its tail leaves an image out
    assert sources.load_images(str(tmp_path / "set.tar.gz")).shape == (3, 4, 4, 3)  # --data an archive
    assert sources.load_images(str(tmp_path / "tree" / "set"), limit=1).shape == (1, 4, 4, 3)  # or a tree


def test_bad_class_sets_are_one_clear_error(tmp_path):
    write_tree(tmp_path / "mixed", {"a/x.png": png_bytes(1), "b/y.png": png_bytes(2, (5, 4))})
    with pytest.raises(ValueError, match=r"b/y.png is 4x5; the first image is 4x4"):
        class_folders.read_class_folders(tmp_path / "mixed")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images in class folders"):
        class_folders.read_class_folders(tmp_path / "empty")
    (tmp_path / "broken.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="broken.tar.gz is not a readable archive"):
        class_folders.read_class_folders(tmp_path / "broken.tar.gz")
    write_tree(tmp_path / "many", {f"c/{i}.png": png_bytes(i) for i in range(3)})
    with pytest.raises(ValueError, match="holds more images than"):
        class_folders.read_class_folders(tmp_path / "many", max_bytes=100)


def test_an_archive_of_many_entries_is_refused_while_listing(tmp_path, monkeypatch):
    # Every entry's header is held while listing: a small .tar.gz of millions of empty entries would
    # exhaust memory, so entries of any kind are counted (here against a bound of 5).
    with tarfile.open(tmp_path / "entries.tar.gz", "w:gz") as archive:
        for i in range(6):
            archive.addfile(tarfile.TarInfo(f"c/{i}.txt"), io.BytesIO(b""))
    monkeypatch.setattr(class_folders, "MAX_ARCHIVE_ENTRIES", 5)
    with pytest.raises(ValueError, match="entries.tar.gz holds more than 5 entries"):
        class_folders.read_class_folders(tmp_path / "entries.tar.gz")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="Keras-free: reading 50,000 JPEGs once is enough")
def test_the_50000_jpegs_leave_every_held_out_image_out():
    held = class_folders.held_out_jpegs(SHARED_DATA)
    assert sorted(held) == list(range(4000, 5085)) and len(set(held.values())) == 1085
    images, labels, classes = class_folders.load_cifar10_jpeg(SHARED_DATA)
    assert images.shape == (50000 - 1085, 32, 32, 3)
    assert classes[0] == "airplane" and classes[-1] == "truck" and np.bincount(labels).min() > 4800
    # The held-out lossless images' JPEGs (found in the archive by the map) are close to them, and none trains.
    lossless = data.load_shared_cifar10(SHARED_DATA)[0]
    wanted = {f"cifar10_jpeg_q75/{path}": index for index, path in held.items()}
    picked = {}
    with tarfile.open(SHARED_DATA / class_folders.CIFAR10_JPEG) as archive:
        for member in archive:
            if member.name in wanted and len(picked) < 40 and wanted[member.name] % 27 == 0:
                picked[wanted[member.name]] = data.to_uint8(data.decode_image(archive.extractfile(member), member.name))
    assert len(picked) == 40
    training = {image.tobytes() for image in images}
    for index, jpeg in picked.items():
        assert jpeg.tobytes() not in training
        mse = np.mean((jpeg / 255.0 - lossless[index]) ** 2)
        assert 10 * np.log10(1 / mse) > 24  # the JPEG of that very image (about 30 dB)
