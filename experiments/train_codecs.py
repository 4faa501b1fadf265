"""Train a codec preset (``fsq_photo_q<Q>``) with its recipe and write the weights that ship inside the package.

    KERAS_BACKEND=tensorflow python experiments/train_codecs.py --quality 2 --seed 0 --data-dir ../shared/data
    KERAS_BACKEND=tensorflow python experiments/train_codecs.py --quality 1 --seed 0 --data-dir ../shared/data

Trains on random crops of the 229 photos in ``<data-dir>/photos`` (never on
BSD68, the evaluation set). Qualities other than 2 start from quality 2's
shipped weights (train quality 2 first). Weights are written in float16 when
that moves the training-crop PSNR by under 0.01 dB and the rate by under 0.1%
(float32 otherwise), to ``keras_fsq/weights/fsq_photo_q<Q>.npz``; the training
log to ``experiments/results/codecs/fsq_photo_q<Q>.json``.
"""

import argparse
import io
import json
import pathlib
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--quality", type=int, required=True)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-dir", help="the folder holding photos/ (default: $KERAS_FSQ_DATA)")
args = parser.parse_args()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_fsq import build_fsqvae, data, presets  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
name = presets.codec_preset(args.quality)
preset = presets.get_preset(name)
recipe = preset["recipe"]
photos = [(data.read_image(path) * 255).round().astype("uint8")
          for path in data.image_paths(data.resolve_data_dir(args.data_dir) / "photos", recursive=True)]
keras.utils.set_random_seed(args.seed)
model = build_fsqvae(preset=name)
if recipe["init"]:
    presets.load_preset_weights(model, recipe["init"])
started = time.perf_counter()
history = presets.fit_with_recipe(model, recipe, photos, seed=args.seed, verbose=2).history
seconds = time.perf_counter() - started


def crop_metrics(trained):
    """PSNR and rate of ``trained`` on 64 fixed 128x128 training crops (a check of the weights' rounding)."""
    crops = data.random_crop_batches(photos, 128, 64, 1, seed=12345, flip=False)[0]
    reconstruction = trained.reconstruct(crops)
    mse = float(np.mean((reconstruction - crops) ** 2))
    bits = keras.ops.convert_to_numpy(trained.predict(crops, verbose=0)["rate_bits"]).mean() / (128 * 128)
    return {"psnr": float(10 * np.log10(1 / mse)), "rate_bits_per_pixel": float(bits)}


full = crop_metrics(model)
buffer = io.BytesIO()
presets.write_weights(model, buffer, dtype="float16")
half = build_fsqvae(preset=name)
presets.read_weights(half, io.BytesIO(buffer.getvalue()))
rounded = crop_metrics(half)
if abs(full["psnr"] - rounded["psnr"]) >= 0.01 or abs(rounded["rate_bits_per_pixel"] / full["rate_bits_per_pixel"] - 1) >= 1e-3:
    buffer = io.BytesIO()
    presets.write_weights(model, buffer, dtype="float32")
weights = ROOT / "keras_fsq" / "weights" / preset["weights"]
weights.write_bytes(buffer.getvalue())
result = {
    "preset": name, "seed": args.seed, "backend": keras.backend.backend(), "train_seconds": seconds,
    "photos": len(photos), "recipe": recipe, "history": history, "training_crops_float32": full,
    "training_crops_float16": rounded, "weights_bytes": weights.stat().st_size,
}
out = ROOT / "experiments" / "results" / "codecs" / f"{name}.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(result, indent=1, default=float) + "\n")
print(f"{name}: {seconds:.0f} s; training crops {full['psnr']:.2f} dB at {full['rate_bits_per_pixel']:.3f} bpp "
      f"(float16: {rounded['psnr']:.2f} dB, {rounded['rate_bits_per_pixel']:.3f} bpp); wrote {weights}")
