"""The presets' weight files (``.npz`` archives of float16 or float32 arrays keyed by variable path),
and preset folders a user saves and shares (keras-hub's layout)."""

import io
import json
import os
import pathlib
import re
from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np

from keras_fsq.presets import Preset, resolve
from keras_fsq.validation import error_summary


def load_preset_weights(model: Any, preset: Any) -> None:
    """Load preset ``preset``'s shipped weights (a name or its ``presets.Preset``) into ``model`` (built from it).

    A model with a discriminator (``FSQVAE.adversarial_variables``) also loads a
    preset without one: the discriminator keeps its initialisation, as an
    adversarial fine-tune of a trained autoencoder starts.
    ``ValueError`` when the preset ships no weights or they do not match the model.
    """
    record = preset if isinstance(preset, Preset) else resolve(preset)
    optional = getattr(model, "adversarial_variables", ())
    with record.weights_file().open("rb") as file:
        read_weights(model, file, optional=optional)
    if record.blend is not None:  # a quality between two shipped ones: the weights of both, blended
        from keras import ops

        upper, fraction = record.blend
        lower = [ops.convert_to_numpy(variable) for variable in model.variables]
        with upper.weights_file().open("rb") as file:
            read_weights(model, file, optional=optional)
        for variable, value in zip(model.variables, lower):
            if np.issubdtype(value.dtype, np.floating):
                variable.assign(blend_arrays(value, ops.convert_to_numpy(variable), fraction).astype(variable.dtype))


def blend_arrays(lower: np.ndarray, upper: np.ndarray, fraction: float) -> np.ndarray:
    """``(1 - fraction) lower + fraction upper`` in float32: a blended codec's weights (``presets.blended_codec``),
    the same numbers in the NumPy engine and in Keras."""
    lower, upper = np.asarray(lower, dtype="float32"), np.asarray(upper, dtype="float32")
    return (np.float32(1 - fraction) * lower + np.float32(fraction) * upper).astype("float32")


def write_weights(model: Any, file: BinaryIO, dtype: str = "float16", variables: Sequence[Any] | None = None) -> None:
    """Save ``model``'s variables (or the given ``variables`` of it) into an ``.npz`` keyed by variable path;
    float variables as ``dtype``.

    float16 halves the file; ``experiments/train_presets.py`` measures what it costs.
    """
    from keras import ops

    arrays = {}
    for variable in model.variables if variables is None else variables:
        value = ops.convert_to_numpy(variable)
        arrays[variable.path] = value.astype(dtype) if np.issubdtype(value.dtype, np.floating) else value
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    file.write(buffer.getvalue())


def weight_keys(paths: Sequence[str]) -> list[tuple[str, int]]:
    """Keys that name the same variable in any model built the same way, whatever Keras' name counters say.

    Keras names a second ``MaskGIT`` ``mask_git_1`` and numbers seed generators across a process, so
    ``variable.path`` changes between two loads in one process. Each path component loses its
    ``_<n>`` suffix and the key is ``(that path, how many earlier variables share it)``: variables are
    created in the same order by the same constructor.
    """
    seen: dict[str, int] = {}
    keys = []
    for path in paths:
        plain = "/".join(re.sub(r"_\d+$", "", part) for part in path.split("/"))
        keys.append((plain, seen.get(plain, 0)))
        seen[plain] = seen.get(plain, 0) + 1
    return keys


def read_weights(
    model: Any, file: BinaryIO, optional: Sequence[str] = (), variables: Sequence[Any] | None = None
) -> None:
    """Assign the arrays of an ``.npz`` from ``write_weights`` to ``model``'s variables (or the given
    ``variables``), matched by path (``weight_keys``: Keras' automatic name suffixes aside, in creation order).

    The ``optional`` variables keep their values when the file lacks them (all of them, or none).
    """
    with np.load(file) as stored:
        stored_keys = dict(zip(weight_keys(stored.files), stored.files))
        optional_ids = {id(variable) for variable in optional}
        everything = list(model.variables if variables is None else variables)
        required = [variable for variable in everything if id(variable) not in optional_ids]
        candidates = everything
        if optional_ids and len(stored_keys) == len(required):
            candidates = required  # the file lacks the optional variables
        model_keys = dict(zip(weight_keys([variable.path for variable in candidates]), candidates))
        if set(stored_keys) != set(model_keys):
            missing = sorted(model_keys[key].path for key in set(model_keys) - set(stored_keys))
            extra = sorted(stored_keys[key] for key in set(stored_keys) - set(model_keys))
            raise ValueError(
                f"The weights do not match the model: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
                f"unexpected {extra[:3]}{'...' if len(extra) > 3 else ''}."
            )
        for key, variable in model_keys.items():
            value = stored[stored_keys[key]]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"The weights of {variable.path} have shape {value.shape}; the model's {variable.shape}."
                )
            variable.assign(value.astype(variable.dtype))


PRESET_FILES = ("config.json", "model.weights.h5", "metadata.json")


def save_preset_folder(model: Any, folder: str | os.PathLike) -> None:
    """Write ``model`` as a preset folder (``PRESET_FILES``); ``ValueError`` if one is there already."""
    import keras

    from keras_fsq import __version__, files

    existing = [name for name in PRESET_FILES if (pathlib.Path(folder) / name).exists()]
    if existing:
        raise ValueError(f"{folder} already holds a preset ({', '.join(existing)}); choose another folder.")
    with files.run_folder(folder, PRESET_FILES) as staging:
        config = keras.saving.serialize_keras_object(model)
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        model.save_weights(staging / "model.weights.h5")
        metadata = {
            "keras_fsq_version": __version__,
            "keras_version": keras.__version__,
            "parameter_count": model.count_params(),
            "preset": model.preset,
        }
        (staging / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")


def names_folder(preset: Any) -> bool:
    """Whether ``preset`` means a preset folder: a ``pathlib.Path``, or a string that is not a shipped
    preset's name and names a folder. A shipped name is never taken over by a folder of that name in
    the working directory (a folder is given as a path, ``./name``)."""
    from keras_fsq.presets import GENERATORS, PRESETS

    if isinstance(preset, pathlib.PurePath):
        return True
    return (
        isinstance(preset, str) and preset not in PRESETS and preset not in GENERATORS and pathlib.Path(preset).is_dir()
    )


def load_preset_folder(folder: str | os.PathLike, load_weights: bool = True) -> Any:
    """The model saved in preset folder ``folder`` by ``save_preset_folder``."""
    import keras

    from keras_fsq import register_serializables

    folder = pathlib.Path(folder)
    missing = [name for name in PRESET_FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{folder} is not a keras_fsq preset folder: it lacks {', '.join(missing)}.")
    register_serializables()  # a fresh process has imported none of the classes the config names
    try:
        config = json.loads((folder / "config.json").read_text())
        if not isinstance(config, dict):
            raise ValueError(f"it holds a JSON {type(config).__name__}, not an object")
        model = keras.saving.deserialize_keras_object(config)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"{folder}/config.json does not describe a keras_fsq model: {error_summary(error)}") from None
    if load_weights:
        model.load_weights(folder / "model.weights.h5")
    return model
