import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import FSQVAE, ConvDecoder, ConvEncoder, HierarchicalFSQ, TemperatureAnnealing
from tests.conftest import small_conv_fsqvae

STAGES = [[8, 5, 5], [5, 5, 5], [4, 3, 3]]


def latents(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_each_stage_shrinks_the_error_to_half_its_cell():
    layer = HierarchicalFSQ(STAGES)
    z = latents((64, 3), seed=1)
    layer.build(z.shape)
    target = ops.convert_to_numpy(layer.first_stage.bound(z)) / np.array([4, 2, 2])  # r_0
    width = 1 / np.array([4.0, 2, 2])
    for k, levels in enumerate(STAGES, start=1):
        if k > 1:
            width = width / np.array(levels)
        error = np.abs(ops.convert_to_numpy(layer(z, num_stages=k)) - target)
        assert (error <= width / 2 + 1e-6).all(), k


def test_indices_of_any_prefix_decode_to_the_same_codes():
    layer = HierarchicalFSQ(STAGES)
    z = latents((5, 4, 4, 3))
    codes, indices = layer(z, return_indices=True)
    assert indices.shape == (5, 4, 4, 3)
    sizes = [200, 125, 36]
    for k in range(3):
        assert (
            0 <= ops.convert_to_numpy(indices)[..., k].min() and ops.convert_to_numpy(indices)[..., k].max() < sizes[k]
        )
    for k in (1, 2, 3):
        prefix_codes = ops.convert_to_numpy(layer(z, num_stages=k))
        decoded = ops.convert_to_numpy(layer.indices_to_codes(ops.convert_to_numpy(indices)[..., :k]))
        np.testing.assert_allclose(decoded, prefix_codes, atol=1e-6)


def test_bits_and_rate_per_stage():
    layer = HierarchicalFSQ(STAGES)
    np.testing.assert_allclose(layer.stage_bits(), np.log2([200, 125, 36]))
    indices = np.zeros((2, 4, 4, 2), "int32")  # two stages of a 4x4 grid
    np.testing.assert_allclose(ops.convert_to_numpy(layer.bits_per_example(indices)), 16 * np.log2(200 * 125))


def test_stage_dropout_only_in_training():
    layer = HierarchicalFSQ(STAGES, stage_dropout=1.0, seed=0)
    z = latents((256, 3))
    full = ops.convert_to_numpy(layer(z))
    np.testing.assert_allclose(ops.convert_to_numpy(layer(z, training=False)), full)
    dropped = ops.convert_to_numpy(layer(z, training=True))
    one_stage = ops.convert_to_numpy(layer(z, num_stages=1))
    two_stages = ops.convert_to_numpy(layer(z, num_stages=2))
    matches_one = np.all(np.isclose(dropped, one_stage, atol=1e-6), axis=-1)
    matches_two = np.all(np.isclose(dropped, two_stages, atol=1e-6), axis=-1)
    assert (matches_one | matches_two).all()  # every example kept a strict prefix
    assert 0.3 < matches_one.mean() < 0.7


def test_importance_weights_are_learnable():
    layer = HierarchicalFSQ(STAGES)
    layer.build((None, 3))
    assert [w.path.split("/")[-1] for w in layer.trainable_weights] == ["importance"]
    layer.importance.assign([1.0, 2.0, 0.0])
    z = latents((8, 3))
    _, indices = layer(z, return_indices=True)
    expected = ops.convert_to_numpy(HierarchicalFSQ(STAGES[:2])(z))  # unit weights, two stages
    first = ops.convert_to_numpy(HierarchicalFSQ(STAGES[:1])(z))
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer.indices_to_codes(indices)), first + 2 * (expected - first), atol=1e-6
    )


@pytest.mark.slow
def test_more_stages_decode_better_and_the_first_is_recognisable(cifar_images):
    images = cifar_images.astype("float32") / 255
    train, held_out = images[:512], images[4000:4256]
    quantizer = HierarchicalFSQ([[3, 3, 3]] * 3, stage_dropout=0.5, seed=0)
    model = small_conv_fsqvae(quantizer)
    model.fit(train, epochs=5, batch_size=32, verbose=0)

    def psnr(reconstruction):
        return float(np.mean(10 * np.log10(1 / np.mean((reconstruction - held_out) ** 2, axis=(1, 2, 3)))))

    by_stages = [psnr(model.reconstruct(held_out, num_stages=k)) for k in (1, 2, 3)]
    assert by_stages[0] < by_stages[1] < by_stages[2]
    mean_colour = np.broadcast_to(held_out.mean(axis=(1, 2), keepdims=True), held_out.shape)
    assert by_stages[0] > psnr(mean_colour) + 3  # far more than each image's average colour
    first = model.reconstruct(held_out, num_stages=1)
    correlations = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(first, held_out)]
    assert np.median(correlations) > 0.7


def test_plugs_into_fsqvae_with_annealing_and_saves(tmp_path):
    images = np.random.default_rng(2).uniform(size=(32, 16, 16, 3)).astype("float32")
    model = FSQVAE(ConvEncoder(3, [8, 8]), HierarchicalFSQ([[5, 5, 5]] * 2), ConvDecoder(3, [8, 8]))
    model.compile(optimizer="adam", jit_compile=False)
    history = model.fit(images, epochs=2, batch_size=16, verbose=0, callbacks=[TemperatureAnnealing(1.0, 0.5)]).history
    assert history["temperature"][-1] == pytest.approx(0.5)
    assert history["bits_per_image"][-1] == pytest.approx(16 * 2 * np.log2(125), rel=1e-5)
    path = tmp_path / "hierarchical.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored.encode(images), model.encode(images))
    np.testing.assert_allclose(
        restored.reconstruct(images, num_stages=1), model.reconstruct(images, num_stages=1), atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(stages=[]), "must not be empty"),
        (dict(stages=[[3, 3], [3, 3, 3]]), "same number of dimensions"),
        (dict(stages=[[3, 3]], stage_dropout=2.0), "stage_dropout"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HierarchicalFSQ(**kwargs)


@pytest.mark.parametrize("num_stages", [0, 4, 1.5, True])
def test_num_stages_out_of_range_is_rejected(num_stages):
    layer = HierarchicalFSQ(STAGES)
    with pytest.raises(ValueError, match="num_stages"):
        layer(latents((2, 3)), num_stages=num_stages)


def test_reconstruct_with_stages_needs_a_hierarchical_quantizer():
    from keras_fsq import build_fsqvae

    model = build_fsqvae(architecture="conv", widths=(8, 8))
    with pytest.raises(ValueError, match="HierarchicalFSQ"):
        model.reconstruct(np.zeros((1, 32, 32, 3), "float32"), num_stages=1)
