"""Load a .keras file in a fresh process (backend from KERAS_BACKEND) and save its outputs.

Usage: python -m tests.cross_backend_predict MODEL.keras INPUTS.npy OUTPUTS.npz
"""

import sys

import keras
import numpy as np

import keras_fsq  # noqa: F401  (registers the serializable classes)

model_path, inputs_path, outputs_path = sys.argv[1:4]
model = keras.saving.load_model(model_path)
outputs = model(np.load(inputs_path), training=False)
outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
np.savez(outputs_path, *[keras.ops.convert_to_numpy(o) for o in outputs])
