import math
import os
import struct
import subprocess
import sys
import zlib

import hypothesis.strategies as st
import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from keras_fsq import FSQ, VectorQuantizer, codec
from keras_fsq.cli import main
from tests.conftest import BACKEND, REPO_ROOT, SHARED_DATA, small_conv_fsqvae

LEVELS = [5, 5, 5]


@pytest.fixture(scope="module")
def trained(cifar_images):
    """A small conv FSQVAE (stride 4) trained briefly on real images, with a left-context prior."""
    keras.utils.set_random_seed(0)
    images = cifar_images[:640].astype("float32") / 255
    model = small_conv_fsqvae(FSQ(LEVELS, track_usage=True))  # its level usage is the default prior
    model.fit(images[:512], epochs=2, batch_size=64, verbose=0)
    prior = codec.EntropyModel.fit(model, images[:512], context="left")
    return model, prior, images[512:]


def test_round_trip_gives_the_encoders_indices_and_the_decoders_images(trained):
    model, prior, held_out = trained
    data = codec.compress(model, held_out[:8], prior)
    indices, size = codec.read_indices(model, data, prior)
    np.testing.assert_array_equal(indices, model.encode(held_out[:8]))
    assert size == (32, 32)
    np.testing.assert_allclose(codec.decompress(model, data, prior), model.decode(indices), atol=1e-6)


# Measured size / fixed rate after this fixture's 2 epochs: factorized 0.79 (TensorFlow),
# 0.86 (JAX), 0.93 (torch); left context 0.57, 0.58, 0.67. A uniform prior gives 1.0 + header.
@pytest.mark.parametrize("context, at_most", [("none", 0.97), ("left", 0.8)])
def test_learned_priors_beat_fixed_rate_on_real_images(trained, cifar_images, context, at_most):
    model, _, held_out = trained
    prior = codec.EntropyModel.fit(model, cifar_images[:512].astype("float32") / 255, context=context)
    data = codec.compress(model, held_out, prior)
    fixed_rate_bytes = len(held_out) * 8 * 8 * math.log2(125) / 8
    assert len(data) < at_most * fixed_rate_bytes, (len(data), fixed_rate_bytes)


def test_left_context_codes_smaller_than_factorized(trained, cifar_images):
    model, left, held_out = trained
    factorized = codec.EntropyModel.fit(model, cifar_images[:512].astype("float32") / 255, context="none")
    assert len(codec.compress(model, held_out, left)) < len(codec.compress(model, held_out, factorized))


def test_default_prior_is_the_models_level_usage(trained):
    model, _, held_out = trained
    data = codec.compress(model, held_out[:4])
    np.testing.assert_array_equal(codec.read_indices(model, data)[0], model.encode(held_out[:4]))


@pytest.mark.parametrize("height, width", [(27, 30), (45, 61), (4, 4)])
def test_any_image_size_is_padded_and_cropped(trained, height, width):
    model, prior, _ = trained
    photo = codec_photo()[:height, :width]
    (restored,) = codec.decompress(model, codec.compress(model, photo, prior), prior)
    assert restored.shape == photo.shape
    padded = np.pad(photo, ((0, -height % 4), (0, -width % 4), (0, 0)), mode="edge")[None]
    np.testing.assert_allclose(restored, model.reconstruct(padded)[0, :height, :width], atol=1e-5)


def codec_photo():
    from keras_fsq.data import image_paths, read_image

    return read_image(image_paths(SHARED_DATA / "bsd68")[0])


def test_every_single_byte_corruption_and_truncation_is_rejected(trained):
    model, prior, held_out = trained
    data = codec.compress(model, held_out[:1], prior)
    for position in range(len(data)):
        corrupted = bytearray(data)
        corrupted[position] ^= 0x10
        with pytest.raises(codec.CodecError):
            codec.decompress(model, bytes(corrupted), prior)
    for length in range(len(data)):
        with pytest.raises(codec.CodecError):
            codec.decompress(model, data[:length], prior)


def test_foreign_files_other_models_and_other_priors_are_rejected(trained, tmp_path):
    model, prior, held_out = trained
    data = codec.compress(model, held_out[:2], prior)
    png = tmp_path / "x.png"
    from keras_fsq.data import write_image

    write_image(held_out[0], png)
    with pytest.raises(codec.CodecError, match="Not a keras_fsq file"):
        codec.decompress(model, png.read_bytes(), prior)
    other = small_conv_fsqvae(FSQ(LEVELS, track_usage=True))
    other.build((None, 32, 32, 3))
    with pytest.raises(codec.CodecError, match="different model"):
        codec.decompress(other, data, codec.EntropyModel(LEVELS, prior.counts, "left"))
    with pytest.raises(codec.CodecError, match="different prior"):
        codec.decompress(model, data)
    with pytest.raises(codec.CodecError, match="version"):
        version_1 = data[:4] + b"\x01" + data[5:-4]
        codec.decompress(model, version_1 + struct.pack("<I", zlib.crc32(version_1)), prior)


def test_bad_arguments_raise_value_errors(trained, cifar_images):
    model, prior, held_out = trained
    vq = small_conv_fsqvae(VectorQuantizer(16, 3))
    with pytest.raises(ValueError, match="VectorQuantizer has none"):
        codec.compress(vq, held_out[:1])
    with pytest.raises(ValueError, match="up to 255 levels"):
        codec.compress(small_conv_fsqvae(FSQ([300, 3, 3])), held_out[:1])
    with pytest.raises(ValueError, match="images"):
        codec.compress(model, held_out[:1] * 255, prior)
    with pytest.raises(ValueError, match="prior"):
        codec.compress(model, held_out[:1], codec.EntropyModel([4, 4, 4], np.zeros((3, 1, 4), "int64")))
    with pytest.raises(ValueError, match="context"):
        codec.EntropyModel.fit(model, held_out[:4], context="above")
    from keras_fsq.models import build_fsqvae

    global_model = build_fsqvae(architecture="global", levels=[5, 5, 5], latent_dim=12, widths=(8, 16))
    with pytest.raises(ValueError, match="32x32 images only"):
        codec.compress(global_model, codec_photo()[:40, :40])


def test_prior_survives_json(trained):
    _, prior, _ = trained
    again = codec.EntropyModel.from_json(prior.to_json())
    assert again.fingerprint == prior.fingerprint
    with pytest.raises(ValueError, match="EntropyModel JSON"):
        codec.EntropyModel.from_json('{"levels": [5]}')


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fuzzed_files_never_crash_hang_or_lie(trained, data):
    """Random bytes, mutated files, and mutated payloads behind a valid checksum."""
    model, prior, held_out = trained
    valid = codec.compress(model, held_out[:2], prior)
    kind = data.draw(st.sampled_from(["random", "mutated", "valid_checksum"]))
    if kind == "random":
        candidate = data.draw(st.binary(max_size=300))
    else:
        candidate = bytearray(valid)
        for _ in range(data.draw(st.integers(1, 8))):
            position = data.draw(st.integers(0, len(candidate) - 1))
            candidate[position] = data.draw(st.integers(0, 255))
        candidate = bytes(candidate[: data.draw(st.integers(0, len(candidate)))])
        if kind == "valid_checksum" and len(candidate) > 4:
            candidate = candidate[:-4] + struct.pack("<I", zlib.crc32(candidate[:-4]))
    try:
        images = codec.decompress(model, candidate, prior)
    except codec.CodecError:
        return
    # Only a file whose checksum holds may decode; its images have the header's shape and range.
    assert zlib.crc32(candidate[:-4]) == struct.unpack("<I", candidate[-4:])[0]
    assert images.ndim == 4 and np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1


def test_compress_and_decompress_commands_on_a_folder(trained, tmp_path, capsys):
    model, prior, _ = trained
    model.save(tmp_path / "m.keras")
    (tmp_path / "prior.json").write_text(prior.to_json())
    photos = tmp_path / "photos"
    photos.mkdir()
    from keras_fsq.data import image_paths, read_image, write_image

    for path in image_paths(SHARED_DATA / "bsd68")[:2]:
        write_image(read_image(path)[:50, :70], photos / path.name)
    common = ["--model", str(tmp_path / "m.keras"), "--prior", str(tmp_path / "prior.json")]
    assert main(["compress", str(photos), str(tmp_path / "fsq"), *common]) == 0
    assert main(["decompress", str(tmp_path / "fsq"), str(tmp_path / "back"), *common]) == 0
    printed = capsys.readouterr().out
    assert "compressed 2 files" in printed and "bits/pixel" in printed and "decompressed 2 files" in printed
    for path in image_paths(photos):
        assert read_image(tmp_path / "back" / (path.stem + ".png")).shape == (50, 70, 3)
    assert main(["decompress", str(photos / path.name), str(tmp_path / "x.png"), *common]) == 2
    assert "Not a keras_fsq file" in capsys.readouterr().err


def test_fit_prior_command(trained, tmp_path):
    model, _, _ = trained
    model.save(tmp_path / "m.keras")
    out = tmp_path / "prior.json"
    assert (
        main(
            [
                "fit-prior",
                "--model",
                str(tmp_path / "m.keras"),
                "--data",
                str(SHARED_DATA / "bsd68"),
                "--limit",
                "200",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert codec.EntropyModel.from_json(out.read_text()).context == "left"


@pytest.mark.parametrize("other_backend", [b for b in ("tensorflow", "jax", "torch") if b != BACKEND])
def test_files_decode_to_the_same_indices_on_another_backend(trained, tmp_path, other_backend):
    model, prior, held_out = trained
    model.save(tmp_path / "m.keras")
    (tmp_path / "prior.json").write_text(prior.to_json())
    (tmp_path / "x.fsq").write_bytes(codec.compress(model, held_out[:16], prior))
    env = {**os.environ, "KERAS_BACKEND": other_backend, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.cross_backend_codec",
            *(str(tmp_path / n) for n in ("m.keras", "prior.json", "x.fsq", "i.npy")),
        ],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    np.testing.assert_array_equal(np.load(tmp_path / "i.npy"), model.encode(held_out[:16]))


@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [7, 2, 3], [255, 3], [2]])
@pytest.mark.parametrize("architecture", ["conv", "global"])
def test_unequal_levels_round_trip_several_images_of_odd_sizes(levels, architecture):
    """Untrained models: the codec must reproduce ``encode`` whatever the weights."""
    from keras_fsq import ConvDecoder, ConvEncoder, Decoder, Encoder
    from keras_fsq.models import FSQVAE

    if architecture == "conv":
        model = FSQVAE(ConvEncoder(len(levels), [8]), FSQ(levels, track_usage=True), ConvDecoder(3, [8]))
        images = np.random.default_rng(1).uniform(size=(3, 13, 22, 3)).astype("float32")
    else:
        model = FSQVAE(Encoder(5, len(levels), [8, 8]), FSQ(levels, track_usage=True), Decoder((32, 32, 3), [8, 8]))
        images = np.random.default_rng(1).uniform(size=(3, 32, 32, 3)).astype("float32")
    model.build((None, *images.shape[1:]))
    for prior in (None, codec.EntropyModel.fit(model, images, context="left")):
        data = codec.compress(model, images, prior)
        indices, size = codec.read_indices(model, data, prior)
        assert size == images.shape[1:3]
        padded = np.pad(images, ((0, 0), (0, images.shape[1] % 2), (0, 0), (0, 0)), mode="edge")
        np.testing.assert_array_equal(indices, model.encode(padded))


def test_version_3_files_without_adaptation_still_decode(trained):
    model, prior, held_out = trained
    header = codec.read_header(codec.compress(model, held_out[:3], prior))
    grid = np.concatenate(
        list(codec.decode_symbol_chunks(np.frombuffer(header.payload, "<u4"), (3, 8, 8, len(LEVELS)), prior, 3))
    )
    payload = codec.encode_symbols(grid, prior, 3, "none").astype("<u4").tobytes()
    body = crafted(model, prior, 3, payload, header.symbols_crc, version=3)[:-4]
    assert codec.read_header(body + struct.pack("<I", zlib.crc32(body))).version == 3
    np.testing.assert_array_equal(
        codec.read_indices(model, body + struct.pack("<I", zlib.crc32(body)), prior)[0], model.encode(held_out[:3])
    )


def test_decoding_runs_in_bounded_chunks(trained, monkeypatch):
    from keras_fsq.compression import coder

    model, prior, held_out = trained
    monkeypatch.setattr(coder, "CHUNK_PIXELS", 2 * 32 * 32)  # two images a chunk (read where chunks are cut)
    data = codec.compress(model, held_out[:7], prior)
    chunks = [indices for indices, _ in codec.iter_indices(model, data, prior)]
    assert [len(c) for c in chunks] == [2, 2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(chunks), model.encode(held_out[:7]))


def crafted(model, prior, count, payload=b"", symbols_crc=0, version=codec.VERSION):
    header = (
        struct.pack(
            "<4sB8s8sHHHBB",
            b"KFSQ",
            version,
            codec.model_fingerprint(model),
            prior.fingerprint,
            count,
            32,
            32,
            3,
            len(LEVELS),
        )
        + bytes(LEVELS)
        + b"\x00"
        + struct.pack("<II", symbols_crc, len(payload))
    )
    return header + payload + struct.pack("<I", zlib.crc32(header + payload))


def test_a_header_cannot_make_decoding_allocate_more_than_its_payload_describes(trained):
    import tracemalloc

    model, prior, _ = trained
    bomb = crafted(model, prior, 30000)  # 30,000 images of 32x32: under MAX_PIXELS, so the payload decides
    assert len(bomb) < 51
    tracemalloc.start()
    with pytest.raises(codec.CodecError, match="payload of 0 bytes carries at most"):
        codec.decompress(model, bomb, prior)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2**20, peak
    # A payload of one word may claim the symbols it can carry, and is then refused by its content.
    allowed = int((32 + codec.SLACK_BITS) / codec.ONLINE_MIN_SYMBOL_BITS) // (8 * 8 * len(LEVELS))
    with pytest.raises(codec.CodecError, match="payload"):
        codec.decompress(model, crafted(model, prior, allowed, b"\x01\x02\x03\x04"), prior)


def test_headers_over_the_file_limits_are_refused_before_decoding(trained):
    model, prior, _ = trained
    with pytest.raises(codec.CodecError, match="Invalid header: 65535 images of 32x32x3"):  # over MAX_PIXELS
        codec.read_header(crafted(model, prior, 65535))
    with pytest.raises(ValueError, match="at most 33554432 pixels in all"):
        codec.compress(model, np.zeros((32769, 32, 32, 3), "float32"), prior)


def test_a_forged_payload_is_refused_before_any_image_is_decoded(trained, monkeypatch):
    """Random payload words behind a valid file checksum, claiming every image they could carry:
    every symbol is decoded and checked first, so the decoder network never runs."""
    model, prior, _ = trained
    payload = np.random.default_rng(0).integers(0, 2**32, 16, dtype="uint64").astype("<u4").tobytes()
    most = int((8 * len(payload) + codec.SLACK_BITS) / codec.ONLINE_MIN_SYMBOL_BITS) // (8 * 8 * len(LEVELS))
    forged = crafted(model, prior, most, payload)

    def no_decoding(indices, *args, **kwargs):
        raise AssertionError("the decoder ran on a forged file")

    monkeypatch.setattr(model, "decode", no_decoding)
    with pytest.raises(codec.CodecError):
        next(codec.iter_decompress(model, forged, prior))


def test_garbled_short_and_long_payloads_behind_a_valid_checksum_are_refused(trained):
    model, prior, held_out = trained
    data = codec.compress(model, held_out[:3], prior)
    header_size = codec.FIXED_HEADER.size + len(LEVELS) + 1 + 8  # levels, model name length (no name), CRC, length
    symbols_crc, length = struct.unpack_from("<II", data, header_size - 8)
    payload = data[header_size:-4]
    garbled = bytes([payload[0] ^ 0xFF]) + payload[1:]
    for bad in (garbled, payload[:-4], payload + b"\x00\x00\x00\x01", payload[4:]):
        body = data[: header_size - 4] + struct.pack("<I", len(bad)) + bad
        with pytest.raises(codec.CodecError):
            codec.decompress(model, body + struct.pack("<I", zlib.crc32(body)), prior)


def test_a_different_model_with_the_same_levels_is_named_as_such(trained):
    model, prior, held_out = trained
    data = codec.compress(model, held_out[:1], prior)
    other = small_conv_fsqvae(FSQ(LEVELS))
    other.build((None, 32, 32, 3))
    with pytest.raises(
        codec.CodecError,
        match=r"different model with the same levels \[5, 5, 5\] "
        r"\(weights fingerprint [0-9a-f]{16}, this model's [0-9a-f]{16}\)",
    ):
        codec.decompress(other, data, prior)
    four = small_conv_fsqvae(FSQ([4, 4, 4], track_usage=True))
    four.build((None, 32, 32, 3))
    with pytest.raises(codec.CodecError, match=r"levels \[5, 5, 5\]; this model has \[4, 4, 4\]"):
        codec.decompress(four, data)


def contract_models():
    """Small untrained models of each quantizer the codec codes through the quantizer contract."""
    from keras_fsq import BSQ, FSQVAE, LFQ, ConvDecoder, ConvEncoder, HierarchicalFSQ, build_fsqvae

    return {
        "lfq": FSQVAE(ConvEncoder(6, [8, 8]), LFQ(6), ConvDecoder(3, [8, 8])),
        "hierarchical": FSQVAE(
            ConvEncoder(3, [8, 8]), HierarchicalFSQ([[8, 5, 5], [5, 3, 3], [3, 3, 3]]), ConvDecoder(3, [8, 8])
        ),
        "bsq": FSQVAE(ConvEncoder(5, [8, 8]), BSQ(5), ConvDecoder(3, [8, 8])),
        "fsq_projected": FSQVAE(
            ConvEncoder(8, [8, 8]), FSQ([5, 4], dim=8, num_codebooks=2, track_usage=True), ConvDecoder(3, [8, 8])
        ),
        "block_dct": build_fsqvae(preset="fsq_dct_base"),
    }


@pytest.mark.parametrize("name", ["lfq", "bsq", "hierarchical", "fsq_projected", "block_dct"])
def test_every_quantizer_with_symbols_compresses_bit_exactly_across_backends(name, cifar_images, tmp_path):
    model = contract_models()[name]
    images = cifar_images[:3].astype("float32") / 255
    model.build((None, 32, 32, 3))
    file_bytes = codec.compress(model, images)
    np.testing.assert_array_equal(codec.read_indices(model, file_bytes)[0], model.encode(images))
    np.testing.assert_allclose(codec.decompress(model, file_bytes), model.reconstruct(images), atol=1e-5)
    model.save(tmp_path / "m.keras")
    (tmp_path / "x.fsq").write_bytes(file_bytes)
    # The next backend in the cycle tensorflow -> jax -> torch -> tensorflow reads the file: over the
    # three runs of the suite every backend writes for one other and reads from one other.
    backends = ["tensorflow", "jax", "torch"]
    other = backends[(backends.index(BACKEND) + 1) % 3]
    env = {**os.environ, "KERAS_BACKEND": other, "PYTHONPATH": str(REPO_ROOT)}
    arguments = [str(tmp_path / "m.keras"), "-", str(tmp_path / "x.fsq"), str(tmp_path / "other.npy")]
    subprocess.run(
        [sys.executable, "-m", "tests.cross_backend_codec", *arguments],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    np.testing.assert_array_equal(np.load(tmp_path / "other.npy"), model.encode(images))


def test_a_quantizer_without_symbols_is_named():
    model = small_conv_fsqvae(VectorQuantizer(16, 3, seed=0))
    model.build((None, 32, 32, 3))
    with pytest.raises(ValueError, match="The codec codes symbols .*VectorQuantizer has none"):
        codec.compress(model, np.zeros((1, 32, 32, 3), "float32"))


def test_a_header_whose_channel_count_disagrees_with_the_model_is_refused(trained):
    model, prior, held_out = trained
    data = bytearray(codec.compress(model, held_out[:1], prior))
    channels_at = codec.FIXED_HEADER.size - 2  # ... width u16 | channels u8 | dims u8
    assert data[channels_at] == 3
    data[channels_at] = 1
    data[-4:] = struct.pack("<I", zlib.crc32(bytes(data[:-4])))
    with pytest.raises(codec.CodecError, match="header says 1 channels; this model codes 3-channel images"):
        codec.decompress(model, bytes(data), prior)
