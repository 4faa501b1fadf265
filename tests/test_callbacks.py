import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import Quantizer, TemperatureAnnealing, build_fsqvae
from keras_fsq.callbacks import scheduled_value


class TemperatureProbe(Quantizer):
    """A quantizer whose codes are its temperature, so the loss shows the value used inside the step."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.temperature = self.add_weight(shape=(), initializer="ones", trainable=False)

    code_dim = 1
    codebook_size = 1

    def schedule_variables(self):
        return {"temperature": self.temperature}

    def quantize_latents(self, z, training=False):
        codes = ops.multiply(z, 0.0) + self.temperature  # connected, so fit has gradients
        return codes, ops.zeros(ops.shape(z)[:-1], "int32")


def probe_model():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, TemperatureProbe()(keras.layers.Dense(1)(inputs)))
    model.compile(optimizer="sgd", loss="mae", jit_compile=True)
    return model


@pytest.mark.parametrize("schedule", ["exponential", "linear", "cosine"])
@pytest.mark.parametrize("update", ["epoch", "step"])
def test_the_compiled_step_sees_each_scheduled_temperature(schedule, update):
    model = probe_model()
    x, y = np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32")
    callback = TemperatureAnnealing(1.0, 0.1, schedule=schedule, update=update)
    history = model.fit(x, y, batch_size=4, epochs=4, verbose=0, callbacks=[callback]).history
    expected = [scheduled_value(1.0, 0.1, t / 3, schedule) for t in range(4)]
    np.testing.assert_allclose(history["loss"], expected, rtol=1e-5)  # one step per epoch
    np.testing.assert_allclose(history["temperature"], expected, rtol=1e-6)
    assert history["temperature"][-1] == pytest.approx(0.1)


def test_schedules_start_and_end_where_asked():
    for schedule in ("exponential", "linear", "cosine"):
        assert scheduled_value(1.0, 0.1, 0.0, schedule) == pytest.approx(1.0)
        assert scheduled_value(1.0, 0.1, 1.0, schedule) == pytest.approx(0.1)
    assert scheduled_value(1.0, 0.1, 0.5, "exponential") == pytest.approx(0.1**0.5)
    assert scheduled_value(1.0, 0.1, 0.5, "linear") == pytest.approx(0.55)


def test_anneals_the_fsq_of_an_fsqvae_to_the_end(cifar_images):
    images = cifar_images[:64].astype("float32") / 255
    model = build_fsqvae(architecture="global", widths=(8, 8, 8, 8), latent_dim=16)
    model.compile(optimizer="adam")
    model.fit(images, batch_size=32, epochs=3, verbose=0, callbacks=[TemperatureAnnealing(update="step")])
    assert float(ops.convert_to_numpy(model.quantizer.temperature)) == pytest.approx(0.1)


def test_a_model_without_temperature_is_an_error():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="no quantizer with a temperature"):
        model.fit(np.zeros((2, 2)), np.zeros((2, 1)), verbose=0, callbacks=[TemperatureAnnealing()])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"start": 0.0}, "start"),
        ({"schedule": "step"}, "schedule"),
        ({"update": "batch"}, "update"),
        ({"total": 0}, "total"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TemperatureAnnealing(**kwargs)


def test_finds_quantizers_in_nested_models_through_their_contract():
    from keras_fsq import FSQ, HierarchicalFSQ
    from keras_fsq.callbacks import temperature_variables

    inner_inputs = keras.Input((3,))
    inner = keras.Model(inner_inputs, HierarchicalFSQ([[5, 5, 5], [3, 3, 3]])(inner_inputs))
    inputs = keras.Input((3,))
    outer = keras.Model(inputs, FSQ([4, 4, 4])(inner(inputs)))
    assert len(temperature_variables(outer)) == 2
