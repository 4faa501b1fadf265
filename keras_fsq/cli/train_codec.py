"""``keras-fsq train --preset fsq_dct_q<Q> --data PHOTOS``: a shipped codec fine-tuned on a folder of photos.

The photos are split by photo (``codec_tuning.split_photos``); the quality's shipped weights train
further on random crops of the training photos with its recipe (any option given in its place),
with a checkpoint every epoch as ``keras-fsq train`` keeps one; the run folder becomes a codec
folder (``keras_fsq.codec_folders``) that ``keras-fsq compress --model DIR`` codes with, and
``metrics.md`` measures it on the held-out photos.
"""

import json
import sys

from keras_fsq.codec_folders import FILES as CODEC_FILES

OUTPUTS = (*CODEC_FILES, "history.json", "metrics.json", "metrics.md")
# keras-fsq train's options that a fine-tune cannot change: the codec keeps its architecture.
FIXED = ("architecture", "widths", "depth", "quantizer", "levels", "num_codebooks", "rate_weight", "prior")
FIXED += ("codebook_size", "latent_dim", "reconstruction_loss")


def shipped_codec(name):
    """The ``presets.Preset`` of ``--preset`` when it names a shipped block-DCT codec, else None."""
    from keras_fsq import presets

    if name not in presets.PRESETS:
        return None
    record = presets.resolve(name)
    return record if record.model.get("architecture") == "block_dct" and record.coding_prior else None


def check_options(args):
    """``ValueError`` naming the first option a codec fine-tune does not take, or a ``--data`` that is no folder."""
    import pathlib

    for option in FIXED:
        if getattr(args, option) is not None:
            raise ValueError(
                f"--{option.replace('_', '-')}: --preset {args.preset} is a shipped codec, fine-tuned as it is built."
            )
    if not pathlib.Path(args.data).is_dir():
        raise ValueError(f"--data {args.data!r} must be a folder of photos to fine-tune --preset {args.preset} on.")


MAX_PHOTO_PIXELS = 2**28  # the photos a fine-tune holds in memory (8-bit RGB): 768 MiB at most


def load_photos(paths, budget=MAX_PHOTO_PIXELS):
    """The photos of ``paths`` as 8-bit RGB arrays; ``ValueError`` before decoding the one that would pass
    ``budget`` pixels in all (each photo's size read from its header)."""
    from PIL import Image

    from keras_fsq import data

    photos, pixels = [], 0
    for path in paths:
        try:
            with Image.open(path) as image:
                pixels += image.width * image.height
        except Exception:  # noqa: BLE001 - read_image below names what is wrong with the file
            pass
        if pixels > budget:
            raise ValueError(
                f"--data: its photos hold more than {budget:,} pixels in all, more than a fine-tune keeps in "
                f"memory (reached at {path}); pass --limit or smaller photos."
            )
        photos.append(data.to_uint8(data.read_image(path)))
    return photos


def fine_tune_into(args, out, resumed, checkpoint_folder, settings):
    """Fine-tune ``--preset`` on ``--data``'s training photos and write the codec folder and its report into
    ``out``; the report (``codec_tuning.held_out_report``)."""
    import keras

    from keras_fsq import codec_folders, codec_tuning, data, files, training
    from keras_fsq._backend import accelerator
    from keras_fsq.models import FSQVAE

    base = shipped_codec(args.preset)
    train_paths, held_out_paths = codec_tuning.split_photos(
        data.image_paths(args.data, recursive=True)[: args.limit], args.train_size
    )
    photos = load_photos(train_paths)
    held_out = load_photos(held_out_paths, MAX_PHOTO_PIXELS - sum(p.shape[0] * p.shape[1] for p in photos))
    recipe = training.override_recipe(base.recipe, args.epochs, args.learning_rate, args.batch_size)
    recipe.update(init=None, crop=args.crop or recipe["crop"])
    recipe["steps_per_epoch"] = args.steps_per_epoch or recipe["steps_per_epoch"]
    keras.utils.set_random_seed(args.seed)
    model = FSQVAE.from_preset(base)  # the shipped weights: a resumed run's checkpoint replaces them
    done = resumed[0] if resumed else 0
    print(
        f"keras-fsq train: {base.name} fine-tuned on {len(photos)} photos of {args.data} ({len(held_out)} held out), "
        f"{recipe['epochs']} epochs of {recipe['steps_per_epoch']} steps of {recipe['batch_size']} crops of "
        f"{recipe['crop']}, {keras.backend.backend()} backend on {accelerator()}"
        + (f"; resuming after epoch {done}" if resumed else "")
        + f"; checkpoint every epoch in {checkpoint_folder}",
        file=sys.stderr,
        flush=True,
    )
    history, seconds = training.fit_with_checkpoints(
        model, recipe, photos, checkpoint_folder, settings, resumed, seed=args.seed
    )
    print("keras-fsq train: counting the coding table and measuring the held-out photos", file=sys.stderr, flush=True)
    table, table_weight = codec_tuning.count_coding_table(model, base, photos)
    description = (
        f"{base.name} fine-tuned on {len(photos)} photos of {args.data} ({recipe['epochs']} epochs of "
        f"{recipe['steps_per_epoch']} steps, seed {args.seed}; coding table: their counts and {table_weight:g} "
        f"times as many of the shipped table's); held out: {len(held_out)} photos"
    )
    codec_folders.write_codec_folder(out, base.name, model, table, description)
    report = codec_tuning.held_out_report(codec_folders.read_codec_folder(out), base, held_out)
    report.update(
        train_photos=[str(p) for p in train_paths],
        held_out_photos=[str(p) for p in held_out_paths],
        recipe=recipe,
        shipped_table_weight=table_weight,
        train_seconds=seconds,
        seed=args.seed,
        backend=keras.backend.backend(),
    )
    files.write_text(out / "history.json", json.dumps(history, indent=2) + "\n")
    files.write_text(out / "metrics.json", json.dumps(report, indent=1, default=float) + "\n")
    table_text = codec_tuning.report_markdown(report)
    files.write_text(out / "metrics.md", table_text)
    print(table_text)
    return report
