"""Data-parallel FSQ-VAE training on 2 devices, checked against 1 device.

    KERAS_BACKEND=jax python examples/data_parallel.py --data-dir ../shared/data         # Keras distribution API
    KERAS_BACKEND=tensorflow python examples/data_parallel.py --data-dir ../shared/data  # tf.distribute

Here the 2 devices are logical CPU devices; on a machine with 2 GPUs the same code
uses the GPUs. JAX's ``DataParallel`` runs one global program (BatchNorm sees the whole
batch), so it matches 1-device training to float rounding. tf.distribute's
``MirroredStrategy`` normalizes each replica's half batch, so it matches closely, not exactly.
PyTorch has no Keras data-parallel path on CPU; use JAX or TensorFlow.
"""

import argparse
import os

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--quick", action="store_true", help="256 images, 2 epochs (CI)")
args = parser.parse_args()

backend = os.environ.get("KERAS_BACKEND", "tensorflow")
if backend == "jax":  # 2 logical CPU devices; must be set before JAX starts
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
elif backend == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
else:
    raise SystemExit(f"data-parallel training needs the jax or tensorflow backend; this is {backend}.")

import contextlib  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_fsq import build_fsqvae, data  # noqa: E402

images, _ = data.load_shared_cifar10(args.data_dir)
images = images[:256] if args.quick else images[:2048]


def train(devices):
    """Fit on ``devices`` devices from the same seed; return the loss history and the weights."""
    scope = contextlib.nullcontext()
    if backend == "jax":
        distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices()[:devices])
        keras.distribution.set_distribution(distribution if devices > 1 else None)
    elif devices > 1:
        scope = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(devices)]).scope()
    keras.utils.set_random_seed(0)
    with scope:
        model = build_fsqvae(architecture="global", levels=[5, 5, 5], latent_dim=12, widths=(16, 32))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(images, epochs=2 if args.quick else 4, batch_size=64, shuffle=False, verbose=0)
    return history.history["loss"], model.get_weights()


one_loss, one_weights = train(1)
two_loss, two_weights = train(2)
difference = max(float(np.abs(a - b).max()) for a, b in zip(one_weights, two_weights))
print(
    f"{backend}: loss per epoch, 1 device {np.round(one_loss, 5).tolist()}, 2 devices {np.round(two_loss, 5).tolist()}"
)
print(f"largest weight difference after training: {difference:.2e}")
