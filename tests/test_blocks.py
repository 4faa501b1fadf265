import numpy as np
import pytest
from keras import ops

from keras_fsq import ConvDecoder, ConvEncoder, Decoder, Encoder, ResidualDecoder, ResidualEncoder


def test_paper_encoder_and_decoder_shapes():
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    latents = Encoder(num_latents=16, code_dim=4)(images)
    assert tuple(latents.shape) == (2, 16, 4)
    decoded = ops.convert_to_numpy(Decoder(image_shape=(32, 32, 3))(latents))
    assert decoded.shape == (2, 32, 32, 3) and decoded.min() >= 0 and decoded.max() <= 1


def test_convolutional_blocks_take_any_multiple_of_the_stride():
    encoder, decoder = ConvEncoder(code_dim=5, widths=(8, 8, 8)), ConvDecoder(channels=3, widths=(8, 8, 8))
    assert encoder.downsampling_factor == 8
    images = np.zeros((1, 48, 64, 3), "float32")
    grid = encoder(images)
    assert tuple(grid.shape) == (1, 6, 8, 5)
    assert tuple(decoder(grid).shape) == (1, 48, 64, 3)
    assert encoder.compute_output_shape((None, None, None, 3)) == (None, None, None, 5)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(depth=2, normalization="group", activation="gelu"),
        dict(depth=0, normalization="none", attention=True),
    ],
)
def test_residual_blocks_code_any_multiple_of_their_downsampling_factor(options, tmp_path):
    import keras

    encoder = ResidualEncoder(code_dim=5, widths=(8, 16), **options)
    decoder = ResidualDecoder(channels=3, widths=(16, 8), **options)
    assert encoder.downsampling_factor == 4 and Encoder().downsampling_factor is None
    images = np.random.default_rng(1).uniform(size=(2, 24, 36, 3)).astype("float32")
    grid = encoder(images)
    assert tuple(grid.shape) == (2, 6, 9, 5)
    decoded = ops.convert_to_numpy(decoder(grid))
    assert decoded.shape == (2, 24, 36, 3) and decoded.min() >= 0 and decoded.max() <= 1
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, decoder(encoder(inputs)))
    model.save(tmp_path / "blocks.keras")
    restored = keras.saving.load_model(tmp_path / "blocks.keras")
    np.testing.assert_allclose(ops.convert_to_numpy(restored(images)), ops.convert_to_numpy(model(images)), atol=1e-5)


def test_configs_round_trip():
    for block in (
        Encoder(8, 6, (16, 32)),
        Decoder((16, 16, 1), (32, 16)),
        ConvEncoder(3, (8, 16)),
        ConvDecoder(1, (16, 8)),
        ResidualEncoder(3, (8, 16), depth=2, attention=True),
        ResidualDecoder(1, (16, 8), normalization="group"),
    ):
        assert type(block).from_config(block.get_config()).get_config() == block.get_config()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Encoder(num_latents=0), "num_latents"),
        (lambda: Encoder(widths=()), "widths"),
        (lambda: ConvEncoder(code_dim=2.5), "code_dim"),
        (lambda: Decoder(image_shape=(30, 30, 3)), "divisible"),
        (lambda: ConvDecoder(widths=[8, -1]), "widths"),
        (lambda: ResidualEncoder(depth=-1), "depth"),
        (lambda: ResidualDecoder(normalization="layer"), "normalization"),
        (lambda: ResidualEncoder(attention="yes"), "attention"),
        (lambda: ResidualDecoder(activation="no-such-activation"), "activation"),
    ],
)
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()
