"""Codec folders: a shipped block-DCT codec fine-tuned on a user's photos, kept as the files a shipped one has.

``keras-fsq train --preset fsq_dct_q3 --data PHOTOS --out DIR`` writes one (``keras_fsq.codec_tuning``)::

    DIR/codec.json            {"format": FORMAT, "base": "fsq_dct_q3", "weights": ..., "coding_prior": ...}
    DIR/weights.npz           the fine-tuned weights (float32, keyed by variable path, preset_weights.write_weights)
    DIR/coding_table.json.gz  its "neighbours_bands" coding table, counted on the training photos

``read_codec_folder(DIR)`` gives the base preset's record with these two files in place of the shipped
ones (``Preset.folder``): its deblocking, post-filter and RDO multiplier are the base quality's. The
NumPy engine (``DCTEngine``) and ``FSQVAE.from_preset`` take the record as they take a shipped one, so
``keras-fsq compress --model DIR`` codes with it; its files record no model name and decode only with
``--model DIR``.
"""

import dataclasses
import json
import pathlib
from typing import Any

from keras_fsq import presets

FORMAT = "keras_fsq codec folder 1"
CODEC_FILE = "codec.json"
WEIGHTS_FILE = "weights.npz"
TABLE_FILE = "coding_table.json.gz"
FILES = (CODEC_FILE, WEIGHTS_FILE, TABLE_FILE)
MAX_CODEC_JSON = 2**16  # bytes: codec.json holds a few names


def is_codec_folder(path: Any) -> bool:
    """Whether ``path`` is a folder holding a ``codec.json`` (what ``read_codec_folder`` then checks)."""
    return isinstance(path, (str, pathlib.PurePath)) and (pathlib.Path(path) / CODEC_FILE).is_file()


def read_codec_folder(folder: str | pathlib.Path) -> presets.Preset:
    """The ``presets.Preset`` of codec folder ``folder``; ``ValueError`` naming what is wrong with it."""
    folder = pathlib.Path(folder)
    path = folder / CODEC_FILE
    try:
        with path.open("rb") as file:
            text = file.read(MAX_CODEC_JSON + 1)
        if len(text) > MAX_CODEC_JSON:
            raise ValueError(f"over {MAX_CODEC_JSON} bytes")
        description = json.loads(text.decode("utf-8"))
        if not isinstance(description, dict) or description.get("format") != FORMAT:
            raise ValueError(f"its format is not {FORMAT!r}")
        base = presets.resolve(str(description.get("base")))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{folder} is not a codec folder: {path} ({error}).") from None
    if base.model.get("architecture") != "block_dct" or not base.coding_prior:
        raise ValueError(f"{folder} is not a codec folder: its base {base.name!r} is not a shipped block-DCT codec.")
    missing = [name for name in (WEIGHTS_FILE, TABLE_FILE) if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{folder} is not a codec folder: it lacks {', '.join(missing)}.")
    return dataclasses.replace(
        base,
        name=f"{base.name} fine-tuned in {folder}",
        description=str(description.get("description", "")),
        weights=WEIGHTS_FILE,
        coding_prior=TABLE_FILE,
        earlier_coding_prior=None,
        folder=str(folder),
    )


def write_codec_folder(folder: pathlib.Path, base: str, model: Any, table: Any, description: str = "") -> None:
    """Write ``model``'s weights, its coding ``table`` (an ``EntropyModel``) and ``codec.json`` (fine-tuned from
    shipped codec ``base``) into ``folder`` (a run's staging folder: ``keras_fsq.files.run_folder``)."""
    from keras_fsq.compression.tables import write_table_file
    from keras_fsq.preset_weights import write_weights

    with open(folder / WEIGHTS_FILE, "wb") as file:
        write_weights(model, file, dtype="float32")
    write_table_file(folder / TABLE_FILE, table)
    codec = {"format": FORMAT, "base": base, "weights": WEIGHTS_FILE, "coding_prior": TABLE_FILE}
    (folder / CODEC_FILE).write_text(json.dumps({**codec, "description": description}, indent=1) + "\n")
