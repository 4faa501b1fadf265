"""One contract test over every quantizer (in the style of Keras' run_layer_test), on the active backend."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import BSQ, FSQ, LFQ, AdaptiveFSQ, HierarchicalFSQ, VectorQuantizer
from keras_fsq.quantizers.base import Quantizer
from tests.conftest import gradient

QUANTIZERS = {
    "fsq": lambda: FSQ([8, 5, 5, 5]),
    "fsq_options": lambda: FSQ(
        [5, 4],
        dim=4,
        num_codebooks=2,
        preserve_symmetry=True,
        noise_dropout=0.2,
        loss_weight=1.0,
        track_usage=True,
        seed=1,
    ),
    "fsq_channels_first": lambda: FSQ([8, 5, 5, 5], data_format="channels_first"),
    "fsq_soft": lambda: FSQ([8, 5, 5, 5], temperature=0.5, temperature_mode="soft"),
    "fsq_noise": lambda: FSQ([8, 5, 5, 5], temperature=0.5, temperature_mode="noise", seed=3),
    "lfq": lambda: LFQ(4),
    "bsq": lambda: BSQ(4, entropy_weight=0.1),
    "vq": lambda: VectorQuantizer(32, 4, seed=0),
    "hierarchical": lambda: HierarchicalFSQ([[5, 5, 5, 5], [3, 3, 3, 3]], seed=0),
    "adaptive": lambda: AdaptiveFSQ([[3, 3, 3, 3], [8, 8, 8, 8]], gate_training="straight_through", seed=0),
}
SHAPE = (6, 3, 3, 4)  # batch, positions, channels (channels first for the channels_first case)


def latents(quantizer, seed=0):
    z = np.random.default_rng(seed).normal(scale=1.5, size=SHAPE).astype("float32")
    return np.moveaxis(z, -1, 1) if quantizer.data_format == "channels_first" else z


@pytest.fixture(params=sorted(QUANTIZERS))
def make(request):
    return QUANTIZERS[request.param]


def test_is_a_quantizer_with_a_complete_config(make):
    quantizer = make()
    assert isinstance(quantizer, Quantizer) and quantizer.code_dim == 4 and quantizer.codebook_size >= 2
    clone = quantizer.__class__.from_config(quantizer.get_config())
    assert clone.get_config() == quantizer.get_config()


def test_eager_and_symbolic_calls_agree_and_indices_invert(make):
    quantizer = make()
    z = latents(quantizer)
    codes, indices = quantizer(z, return_indices=True)
    assert tuple(codes.shape) == z.shape and keras.backend.standardize_dtype(codes.dtype) == "float32"
    assert keras.backend.standardize_dtype(indices.dtype) == "int32"
    channels_last = quantizer.channels_last_shape(z.shape)
    assert tuple(indices.shape) == quantizer.indices_shape(channels_last)
    spec_codes, spec_indices = quantizer.compute_output_spec(
        keras.KerasTensor((None,) + z.shape[1:]), return_indices=True
    )
    assert spec_codes.shape[1:] == codes.shape[1:] and spec_indices.shape[1:] == indices.shape[1:]
    codes_back = ops.convert_to_numpy(quantizer.indices_to_codes(indices))
    if quantizer.data_format == "channels_first":
        codes_back = np.moveaxis(codes_back, -1, 1)
    np.testing.assert_allclose(codes_back, ops.convert_to_numpy(codes), atol=1e-5)
    flat = ops.convert_to_numpy(quantizer.flat_indices(indices))
    assert flat.min() >= 0 and flat.max() < quantizer.codebook_size
    assert tuple(quantizer.bits_per_example(indices).shape) == (SHAPE[0],)


def test_symbols_and_schedule_variables_keep_their_promises(make):
    quantizer = make()
    _, indices = quantizer(latents(quantizer), return_indices=True)
    if quantizer.alphabet_sizes is not None:
        symbols = ops.convert_to_numpy(quantizer.indices_to_symbols(indices))
        assert symbols.shape[-1] == len(quantizer.alphabet_sizes)
        assert symbols.min() >= 0 and (symbols < np.array(quantizer.alphabet_sizes)).all()
    for name, variable in quantizer.schedule_variables().items():
        assert isinstance(variable, keras.Variable) and not variable.trainable, name
    assert quantizer.num_stages is None or quantizer.num_stages >= 1


def test_gradient_passes_straight_through(make):
    quantizer = make()
    quantizer.build(latents(quantizer).shape)
    grad = gradient(lambda v: quantizer(v, training=True), latents(quantizer))
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0


def test_compiled_training_step_and_keras_file_round_trip(make, tmp_path):
    quantizer = make()
    z = latents(quantizer)
    inputs = keras.Input(z.shape[1:])
    model = keras.Model(inputs, keras.layers.Dense(z.shape[-1])(quantizer(keras.layers.Dense(z.shape[-1])(inputs))))
    model.compile(optimizer="adam", loss="mse", jit_compile="auto")  # XLA on TensorFlow and JAX
    history = model.fit(z, z, epochs=2, batch_size=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(z)), ops.convert_to_numpy(model(z)), atol=1e-5)


def test_mixed_precision_returns_the_compute_dtype(make):
    keras.config.set_dtype_policy("mixed_bfloat16")
    quantizer = make()
    codes, indices = quantizer(latents(quantizer), return_indices=True)
    assert keras.backend.standardize_dtype(codes.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(indices.dtype) == "int32"


def test_a_wrong_channel_count_is_a_value_error(make):
    quantizer = make()
    wrong = np.zeros((2, 3, 3, 5) if quantizer.data_format == "channels_last" else (2, 5, 3, 3), "float32")
    with pytest.raises(ValueError, match="dimension is 4"):
        quantizer(wrong)
