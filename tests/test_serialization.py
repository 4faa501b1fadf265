import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from keras_fsq import FSQ
from tests.conftest import BACKEND, REPO_ROOT, missing


def fsq_model(levels=(8, 5, 5, 5)):
    inputs = keras.Input((6, len(levels)))
    hidden = keras.layers.Dense(len(levels))(inputs)
    codes, indices = FSQ(list(levels), temperature=0.7, entropy_weight=0.2, track_usage=True, name="fsq")(
        hidden, return_indices=True
    )
    return keras.Model(inputs, [codes, indices])


def test_config_round_trip_keeps_every_argument():
    layer = FSQ(
        [8, 6, 5],
        dim=5,
        num_codebooks=2,
        use_projection_bias=False,
        preserve_symmetry=True,
        noise_dropout=0.3,
        temperature=0.5,
        eps=2e-3,
        entropy_weight=0.3,
        loss_weight=0.5,
        track_usage=True,
        usage_decay=0.9,
        seed=4,
        data_format="channels_first",
    )
    clone = FSQ.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.levels == [8, 6, 5] and clone.usage_decay == 0.9


def test_config_records_the_current_temperature():
    layer = FSQ([5, 5])
    layer.temperature.assign(0.2)
    assert FSQ.from_config(layer.get_config()).get_config()["temperature"] == pytest.approx(0.2)


def test_keras_file_round_trip(tmp_path):
    model = fsq_model()
    fsq = model.get_layer("fsq")
    fsq.temperature.assign(0.4)
    fsq(np.random.default_rng(0).normal(size=(8, 4)).astype("float32"), training=True)  # move the usage EMA
    x = np.random.default_rng(1).normal(size=(3, 6, 4)).astype("float32")
    path = tmp_path / "fsq.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(model(x), loaded(x)):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    loaded_fsq = loaded.get_layer("fsq")
    assert float(ops.convert_to_numpy(loaded_fsq.temperature)) == pytest.approx(0.4)
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded_fsq.level_usage), ops.convert_to_numpy(fsq.level_usage))


OTHER_BACKENDS = [b for b in ("tensorflow", "jax", "torch") if b != BACKEND]


@pytest.mark.parametrize("other", OTHER_BACKENDS)
def test_saved_on_this_backend_loads_on_another(tmp_path, other):
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[other]
    if importlib.util.find_spec(module) is None:
        missing(f"{module} is not installed")
    model = fsq_model()
    x = np.random.default_rng(2).normal(scale=2.0, size=(5, 6, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "KERAS_BACKEND": other}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.cross_backend_predict",
            str(tmp_path / "m.keras"),
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npz"),
        ],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    with np.load(tmp_path / "y.npz") as other_outputs:
        codes, indices = (ops.convert_to_numpy(o) for o in model(x))
        np.testing.assert_array_equal(other_outputs["arr_0"], codes)
        np.testing.assert_array_equal(other_outputs["arr_1"], indices)
