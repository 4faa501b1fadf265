"""Training runs that keep their work: a checkpoint at the end of every epoch, and resuming from it.

A run's checkpoint folder holds its last completed epoch::

    latest.json               {"epoch": e, "folder": "epoch-0007", "settings": {...}}
    epoch-0007/model.keras    the model after e epochs (loads as any .keras file)
    epoch-0007/state.npz      every variable of the model and of its optimizer (float32)
    epoch-0007/history.json   the logs of epochs 1..e, as ``History.history``

An epoch's folder is written whole under a temporary name and renamed into place, then
``latest.json`` is replaced (atomically) to name it, then older epochs are removed; SIGINT and
SIGTERM wait until that is done. A process stopped at any point leaves ``latest.json`` naming a
complete epoch, or no ``latest.json`` before the first epoch ends.

Resuming restores the model's variables (BatchNorm statistics and random seed states included)
and the optimizer's (step count, moments), so with data whose order is a function of the epoch
(``batches.shuffled_batches``, ``batches.random_crop_batches``) a resumed run ends where an
uninterrupted one does.
"""

import json
import pathlib
import shutil

import keras

from keras_fsq import files, preset_weights
from keras_fsq._backend import sync_fit_state

LATEST = "latest.json"


def optimizer_variables(model):
    """The optimizer's variables, built for the model's trainable variables if they are not yet."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    return list(optimizer.variables)


class EpochCheckpoint(keras.callbacks.Callback):
    """Write a checkpoint into ``folder`` at the end of every epoch (see the module doc).

    Args:
        folder: the checkpoint folder (created).
        settings: JSON-able description of the run, stored so a resume can check it continues the same run.
        history: the logs of the epochs before this ``fit`` (a resumed run's), ``{name: [values]}``.
    """

    def __init__(self, folder, settings, history=None):
        super().__init__()
        self.folder = pathlib.Path(folder)
        self.settings = settings
        self.history = {name: list(values) for name, values in (history or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(float(value))
        sync_fit_state(self.model)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epoch + 1:04d}"
        staging = self.folder / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        self.model.save(staging / "model.keras")
        with open(staging / "state.npz", "wb") as file:
            variables = list(self.model.variables) + optimizer_variables(self.model)
            preset_weights.write_weights(self.model, file, dtype="float32", variables=variables)
        (staging / "history.json").write_text(json.dumps(self.history) + "\n")
        with files.signals_deferred():
            shutil.rmtree(self.folder / name, ignore_errors=True)
            staging.rename(self.folder / name)
            latest = {"epoch": epoch + 1, "folder": name, "settings": self.settings}
            files.write_text(self.folder / LATEST, json.dumps(latest, indent=2) + "\n")
            for older in self.folder.glob("epoch-*"):
                if older.name != name:
                    shutil.rmtree(older, ignore_errors=True)


def read_checkpoint(folder):
    """``(epoch, history, settings, state_path)`` of the checkpoint in ``folder``; ``None`` if there is none.

    ``ValueError`` for a ``latest.json`` that does not name a complete epoch.
    """
    folder = pathlib.Path(folder)
    latest = folder / LATEST
    if not latest.is_file():
        return None
    try:
        record = json.loads(latest.read_text())
        epoch, name, settings = int(record["epoch"]), str(record["folder"]), record["settings"]
        if pathlib.PurePath(name).name != name or not name.startswith("epoch-"):
            raise ValueError(f"it names {name!r}, not an epoch folder beside it")
        history = json.loads((folder / name / "history.json").read_text())
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{latest} does not name a complete checkpoint ({error}).") from None
    state = folder / name / "state.npz"
    if not state.is_file():
        raise ValueError(f"{latest} names {name}, which holds no state.npz.")
    return epoch, history, settings, state


def run_to_continue(folder, settings, resume, overwrite=False, fresh="remove it"):
    """What a run continues: ``read_checkpoint(folder)``'s record with ``resume``, ``None`` for a fresh run.

    ``ValueError`` for a fresh run over an interrupted run's checkpoint (nothing is dropped silently;
    ``fresh`` says how to start again), a ``resume`` with nothing to continue, or one whose ``settings``
    (option name -> value) differ from the run's (the first named, with both values). ``overwrite``: a
    fresh run removes the checkpoint instead."""
    folder = pathlib.Path(folder)
    found = read_checkpoint(folder) if folder.is_dir() else None
    if not resume:
        if found and not overwrite:
            raise ValueError(
                f"{folder} holds an interrupted run (epoch {found[0]} done): continue it with --resume, or {fresh}."
            )
        if overwrite and folder.is_dir():
            shutil.rmtree(folder)
        return None
    if found is None:
        raise ValueError(f"--resume: {folder} holds no checkpoint to continue; run without --resume.")
    settings = json.loads(json.dumps(settings))  # as the checkpoint stored them: tuples as lists
    changed = [key for key in settings if found[2].get(key) != settings[key]]
    if changed:
        key = changed[0]
        raise ValueError(
            f"--resume continues the run as it was started: --{key.replace('_', '-')} was {found[2].get(key)!r}, "
            f"now {settings[key]!r}."
        )
    return found


def restore(model, state_path):
    """Load a checkpoint's ``state.npz`` into ``model`` and its optimizer (``model`` compiled as it was).

    Priced first from the archive's headers: a state holding more than 8 bytes per value of the variables
    it must fill (a damaged or crafted file) is a ``ValueError`` before anything is inflated."""
    import math

    import numpy as np

    from keras_fsq import array_files

    variables = list(model.variables) + optimizer_variables(model)
    try:
        headers = array_files.array_file_headers(state_path)
    except Exception as error:  # zip and header errors of a damaged file
        raise ValueError(f"{state_path} is not a readable checkpoint state: {error}") from None
    needed = sum(math.prod(v.shape) * 8 for v in variables)  # float32 weights, an int64 step count
    stored = sum(math.prod(shape) * np.dtype(dtype).itemsize for shape, dtype in headers.values())
    if stored > needed:
        raise ValueError(f"{state_path} holds {stored} bytes of arrays; the model and optimizer take at most {needed}.")
    with open(state_path, "rb") as file:
        preset_weights.read_weights(model, file, variables=variables)
