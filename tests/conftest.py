"""Shared test helpers: which backend runs, gradients on it, the real images."""

import os
import pathlib

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("KERAS_FSQ_DATA", REPO_ROOT.parent / "shared" / "data"))


def missing(reason):
    """Skip a test whose data or optional package is missing on this machine; under CI, where the test
    command installs everything and ../shared/data is laid out, fail instead: a broken path must not
    pass as a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI has everything: a missing piece is an error here)")
    pytest.skip(reason)


def gradient(fn, x):
    """d sum(fn(x)) / dx as a numpy array, using the active backend's autodiff."""
    x = np.asarray(x, dtype="float32")
    if BACKEND == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.reduce_sum(fn(xt))
        return tape.gradient(y, xt).numpy()
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v).sum())(x))
    import torch

    xt = torch.tensor(x, requires_grad=True)
    fn(xt).sum().backward()
    return xt.grad.numpy()


def small_conv_fsqvae(quantizer):
    """A compiled FSQVAE small enough to train in seconds: 32x32 images -> 8x8x3 latents, MSE."""
    from keras_fsq import FSQVAE, ConvDecoder, ConvEncoder

    model = FSQVAE(
        ConvEncoder(3, [16, 32], norm_momentum=0.9),
        quantizer,
        ConvDecoder(3, [32, 16], norm_momentum=0.9),
        reconstruction_loss="mse",
    )
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    return model


@pytest.fixture(scope="session")
def cifar_images():
    """The 5,085 real CIFAR-10 images of ../shared/data as uint8 (N, 32, 32, 3)."""
    path = SHARED_DATA / "cifar10" / "cifar10_train_first1017_of_each_batch.npz"
    if not path.exists():
        missing(f"real images not found at {path}; set KERAS_FSQ_DATA")
    with np.load(path) as archive:
        return np.concatenate([archive[f"data_batch_{i}_x"] for i in range(1, 6)])


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.clear_session(free_memory=False)  # gc.collect() on every test costs seconds on a large heap
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def flat_and_textured_crops():
    """32x32 tiles of the 68 real BSD68 photos: the 10% flattest and the 10% most textured (by pixel std)."""
    from keras_fsq.data import load_image_folder

    folder = SHARED_DATA / "bsd68"
    if not folder.is_dir():
        missing(f"real photos not found at {folder}; set KERAS_FSQ_DATA")
    tiles = load_image_folder(folder, size=32, mode="tile")
    order = np.argsort(tiles.std(axis=(1, 2, 3)))
    tenth = len(tiles) // 10
    rng = np.random.default_rng(0)
    return tiles[rng.permutation(order[:tenth])], tiles[rng.permutation(order[-tenth:])]


def killed_after_a_checkpoint(command, checkpoint, cwd, env, timeout=300):
    """Run ``command``, SIGKILL it (no chance to clean up) once ``checkpoint``/latest.json exists, and return the
    epoch that checkpoint records: what a run stopped without warning leaves to ``--resume``."""
    import json
    import signal
    import subprocess
    import time

    latest = pathlib.Path(checkpoint) / "latest.json"
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not latest.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return json.loads(latest.read_text())["epoch"]
