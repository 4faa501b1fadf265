"""The one place that names the backend packages (tensorflow, jax, torch).

Keras picks its backend once, when it is first imported: from
``$KERAS_BACKEND``, else ``~/.keras/keras.json`` (``$KERAS_HOME``), else
TensorFlow. ``require_backend`` checks, before Keras is imported, that the
chosen backend's package is installed, so a missing one is named with the
extra that installs it instead of failing deep inside Keras.
"""

import importlib.util
import json
import os
import pathlib

BACKENDS = ("tensorflow", "jax", "torch")
INSTALL_HINTS = {
    "tensorflow": "pip install tensorflow (a core dependency of keras-fsq)",
    "jax": 'pip install "keras-fsq[jax]"',
    "torch": 'pip install "keras-fsq[torch]" (or a CPU build: pip install torch --index-url <your CPU wheel index>)',
}


def selected_backend():
    """The backend Keras will use: ``$KERAS_BACKEND``, else keras.json's, else ``"tensorflow"``."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras"))
    try:
        return json.loads((home / "keras.json").read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def require_backend(backend=None):
    """Raise ``ImportError`` naming the install command if ``backend``'s package is missing."""
    backend = backend or selected_backend()
    if backend not in BACKENDS:
        raise ImportError(
            f"Unknown Keras backend {backend!r} (KERAS_BACKEND); keras_fsq runs on {', '.join(BACKENDS)}."
        )
    if importlib.util.find_spec(backend) is None:
        raise ImportError(
            f"The Keras backend {backend!r} is selected but {backend} is not installed: {INSTALL_HINTS[backend]}."
        )
    return backend


def accelerator():
    """What Keras computes on here: the GPUs the active backend sees, or "CPU"."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    elif backend == "jax":
        import jax

        gpus = [str(d) for d in jax.devices() if d.platform == "gpu"]
    else:
        import torch

        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return ", ".join(gpus) if gpus else "CPU"


def sync_fit_state(model):
    """Inside JAX's ``fit`` the variables live in a state tuple: write it back into them, so that reading
    them (a checkpoint) or assigning them (a schedule) sees and changes what the loop uses. A no-op elsewhere."""
    sync = getattr(model, "jax_state_sync", None)  # Keras' JAX trainer defines it; the others do not
    if sync is not None:
        sync()


def scale_loss_for_distribution(loss):
    """``loss / replicas`` inside a ``tf.distribute`` strategy with several replicas, else ``loss``.

    Replicas' gradients are summed, so each replica's mean loss is divided by
    their count, as Keras' own losses do. Other backends average across devices
    themselves: unchanged.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else keras.ops.multiply(loss, 1.0 / replicas)


def value_and_gradient(fn, x):
    """``(fn(x), d fn / d x)`` for a scalar ``fn``, inside a training step on any backend; ``fn(x)`` stays
    differentiable for the step's own gradient (the gradient returned here is a value, not a loss term)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        return value, tf.stop_gradient(tape.gradient(value, x))
    if backend == "jax":
        import jax

        value, gradient = jax.value_and_grad(fn)(x)
        return value, jax.lax.stop_gradient(gradient)
    import torch

    value = fn(x)
    if not (torch.is_grad_enabled() and x.requires_grad):
        return value, torch.zeros_like(x)
    (gradient,) = torch.autograd.grad(value, x, retain_graph=True)
    return value, gradient.detach()
