import numpy as np
import pytest
from keras import ops

from keras_fsq import ConvDecoder, ConvEncoder, Decoder, Encoder


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


def test_configs_round_trip():
    for block in (Encoder(8, 6, (16, 32)), Decoder((16, 16, 1), (32, 16)), ConvEncoder(3, (8, 16)), ConvDecoder(1, (16, 8))):
        assert type(block).from_config(block.get_config()).get_config() == block.get_config()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Encoder(num_latents=0), "num_latents"),
        (lambda: Encoder(widths=()), "widths"),
        (lambda: ConvEncoder(code_dim=2.5), "code_dim"),
        (lambda: Decoder(image_shape=(30, 30, 3)), "divisible"),
        (lambda: ConvDecoder(widths=[8, -1]), "widths"),
    ],
)
def test_bad_arguments_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()
