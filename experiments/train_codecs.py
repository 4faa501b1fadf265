"""Train a codec preset (``fsq_photo_base``, ``fsq_photo_q<Q>``) with its recipe and write its weights.

    KERAS_BACKEND=tensorflow python experiments/train_codecs.py --preset fsq_photo_base --seed 0 \
        --data-dir ../shared/data
    KERAS_BACKEND=tensorflow python experiments/train_codecs.py --preset fsq_photo_q3 --seed 0 --data-dir ../shared/data
    KERAS_BACKEND=torch python experiments/train_codecs.py --preset fsq_dct_q3 --warm-restart --seed 1 \
        --data-dir ../shared/data

Trains on random crops of the 229 photos in ``<data-dir>/photos`` (never on
BSD68, the evaluation set). A base (``fsq_photo_base``, ``fsq_dct_base``) trains
from its initialisation and writes ``keras_fsq/weights/<base>.npz``; each quality
starts from its base's file (train the base first) and writes the weights that
ship inside the package, ``keras_fsq/weights/<preset>.npz``: float16 when that moves
the training-crop PSNR by under 0.01 dB and the rate by under 0.1% (float32
otherwise). The training log goes to ``experiments/results/codecs/<preset>.json``.

A run keeps its work: every epoch ends with a checkpoint (model, optimizer, history;
``keras_fsq.checkpoints``) in ``--checkpoint`` (default ``experiments/checkpoints/<preset>``,
``<out-dir>/checkpoints/<preset>`` with ``--out-dir``), removed once the weights are written;
``--resume`` continues an interrupted run with the same options to the result an
uninterrupted one reaches (each epoch's crops come from the seed and the epoch).

``--warm-restart`` adds to a preset's shipped weights instead: it starts from them and
trains the recipe's steps again at a tenth of its peak learning rate (cosine
from there, no warmup; ``--learning-rate`` sets another), so training accumulates across runs. The log keeps
every earlier run under ``runs`` and the total step count under ``total_steps``;
use a new ``--seed`` per resumed run so it sees new crops.
"""

import argparse
import io
import json
import pathlib
import shutil
import sys

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--preset", required=True, help="a codec preset: fsq_photo_base, fsq_photo_q<Q>, fsq_dct_base, ...")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-dir", help="the folder holding photos/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--warm-restart", action="store_true", help="continue from the preset's shipped weights")
parser.add_argument("--checkpoint", type=pathlib.Path, help="the checkpoint folder (default: see above)")
parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --checkpoint")
parser.add_argument("--steps-per-epoch", type=int, help="instead of the recipe's (a smoke test: 2)")
parser.add_argument(
    "--learning-rate",
    type=float,
    help="the peak learning rate (default: the recipe's; a tenth of it with --warm-restart)",
)
parser.add_argument(
    "--out-dir", type=pathlib.Path, help="write weights and logs here (a quality starts from the base found here)"
)
args = parser.parse_args()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_fsq import batches, build_fsqvae, checkpoints, data, preset_weights, presets, training  # noqa: E402
from keras_fsq.block_transform import rescale_quality  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = args.out_dir or ROOT / "experiments" / "results" / "codecs"
WEIGHTS = args.out_dir or ROOT / "keras_fsq" / "weights"
name = args.preset
checkpoint_folder = args.checkpoint or (args.out_dir or ROOT / "experiments") / "checkpoints" / name
settings = {
    key: value
    for key, value in vars(args).items()
    if key in ("preset", "seed", "warm_restart", "steps_per_epoch", "learning_rate")
}
try:
    found = checkpoints.run_to_continue(checkpoint_folder, settings, args.resume)
except ValueError as error:
    sys.exit(str(error))
preset = presets.get_preset(name)
recipe = preset["recipe"]
if args.steps_per_epoch:
    recipe = {**recipe, "steps_per_epoch": args.steps_per_epoch}
photos = [
    (data.read_image(path) * 255).round().astype("uint8")
    for path in data.image_paths(data.resolve_data_dir(args.data_dir) / "photos", recursive=True)
]
keras.utils.set_random_seed(args.seed)
model = build_fsqvae(preset=name)
log_path = RESULTS / f"{name}.json"
earlier = json.loads(log_path.read_text()) if args.warm_restart else None
if args.warm_restart:
    preset_weights.load_preset_weights(model, name)
    recipe = {**recipe, "learning_rate": recipe["learning_rate"] / 10, "warmup_fraction": 0.0, "init": name}
if args.learning_rate:
    recipe = {**recipe, "learning_rate": args.learning_rate}
elif recipe["init"] and args.out_dir:  # the base this run's family trained
    with open(WEIGHTS / presets.get_preset(recipe["init"])["weights"], "rb") as file:
        preset_weights.read_weights(model, file)
elif recipe["init"]:
    preset_weights.load_preset_weights(model, recipe["init"])  # a base ships inside the package
    start_quality = presets.get_preset(recipe["init"])["model"].get("dct_quality")
    if start_quality is not None and start_quality != preset["model"]["dct_quality"]:
        rescale_quality(model, start_quality, preset["model"]["dct_quality"])  # block-DCT: its steps to this quality
done = found[0] if found else 0
history, seconds = training.fit_with_checkpoints(model, recipe, photos, checkpoint_folder, settings, found, args.seed)


def crop_metrics(trained):
    """PSNR and rate of ``trained`` on 64 fixed 128x128 training crops (a check of the weights' rounding)."""
    crops = batches.random_crop_batches(photos, 128, 64, 1, seed=12345, flip=False)[0]
    reconstruction = trained.reconstruct(crops)
    mse = float(np.mean((reconstruction - crops) ** 2))
    bits = keras.ops.convert_to_numpy(trained.predict(crops, verbose=0)["rate_bits"]).mean() / (128 * 128)
    return {"psnr": float(10 * np.log10(1 / mse)), "rate_bits_per_pixel": float(bits)}


full = crop_metrics(model)
buffer = io.BytesIO()
preset_weights.write_weights(model, buffer, dtype="float16")
half = build_fsqvae(preset=name)
preset_weights.read_weights(half, io.BytesIO(buffer.getvalue()))
rounded = crop_metrics(half)
if (
    abs(full["psnr"] - rounded["psnr"]) >= 0.01
    or abs(rounded["rate_bits_per_pixel"] / full["rate_bits_per_pixel"] - 1) >= 1e-3
):
    buffer = io.BytesIO()
    preset_weights.write_weights(model, buffer, dtype="float32")
weights = WEIGHTS / preset["weights"] if preset["weights"] else RESULTS / f"{name}.weights.npz"
weights.write_bytes(buffer.getvalue())
result = {
    "preset": name,
    "seed": args.seed,
    "backend": keras.backend.backend(),
    "train_seconds": seconds,
    "resumed_after_epoch": done,
    "photos": len(photos),
    "recipe": recipe,
    "history": history,
    "training_crops_float32": full,
    "training_crops_float16": rounded,
    "weights_bytes": weights.stat().st_size,
}
steps = recipe["epochs"] * recipe["steps_per_epoch"]
if earlier is None:
    result.update(runs=[], total_steps=steps)
else:
    runs = earlier.pop("runs", [])
    result.update(runs=[*runs, {k: v for k, v in earlier.items() if k != "total_steps"}])
    earlier_steps = earlier["recipe"]["epochs"] * earlier["recipe"]["steps_per_epoch"]
    result["total_steps"] = earlier.get("total_steps", earlier_steps) + steps
log_path.parent.mkdir(parents=True, exist_ok=True)
log_path.write_text(json.dumps(result, indent=1, default=float) + "\n")
shutil.rmtree(checkpoint_folder)  # the run's weights and log are written
print(
    f"{name}: {seconds:.0f} s; training crops {full['psnr']:.2f} dB at {full['rate_bits_per_pixel']:.3f} bpp "
    f"(float16: {rounded['psnr']:.2f} dB, {rounded['rate_bits_per_pixel']:.3f} bpp); wrote {weights}"
)
