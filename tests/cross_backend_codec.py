"""Read a keras_fsq file's indices in a fresh process (backend from KERAS_BACKEND).

Usage: python -m tests.cross_backend_codec MODEL.keras PRIOR.json FILE.fsq INDICES.npy
(PRIOR.json "-": the model's default prior, e.g. its learned one)
"""

import pathlib
import sys

import keras
import numpy as np

import keras_fsq  # noqa: F401  (registers the serializable classes)
from keras_fsq import codec

model_path, prior_path, file_path, indices_path = sys.argv[1:5]
model = keras.saving.load_model(model_path)
prior = None if prior_path == "-" else codec.EntropyModel.from_json(pathlib.Path(prior_path).read_text())
indices, _ = codec.read_indices(model, pathlib.Path(file_path).read_bytes(), prior)
np.save(indices_path, indices)
