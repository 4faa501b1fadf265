"""Loading ``.keras`` files with every keras_fsq class registered, and clear errors for bad ones."""

import pathlib
import re
import zipfile

import keras

from keras_fsq.validation import error_summary


def load_model(path):
    """A ``.keras`` file written by keras_fsq (or any Keras model file), loaded with every keras_fsq class registered.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the
    file for one that is truncated, not a ``.keras`` archive, or names a class
    neither Keras nor keras_fsq defines.
    """
    from keras_fsq import register_serializables

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist" + (" (it is a folder)." if path.is_dir() else "."))
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .keras model file (not a zip archive: truncated, or another format).")
    register_serializables()
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises TypeError, ValueError, KeyError, zip and HDF5 errors alike
        unknown = re.search(r"Could not locate class '([^']+)'", str(error))
        if unknown:
            raise ValueError(
                f"{path} names the class {unknown.group(1)!r}, which neither Keras nor keras_fsq defines."
            ) from None
        raise ValueError(f"{path} could not be loaded: {error_summary(error)}") from None
