"""The codec's design choices, measured at equal steps: rate relaxation, transforms, context model.

    KERAS_BACKEND=tensorflow python experiments/codec_choices.py --data-dir ../shared/data --variant preset
    (variants: preset, noise, gdn, factorized)

Each variant is the ``fsq_photo_q2`` preset (conv transforms, interpolated rate,
checkerboard prior, rate weight 0.006) with one thing changed: ``noise`` relaxes
the rate with additive uniform noise, ``gdn`` uses GDN transforms, ``factorized``
a prior without context. Each is trained ``--steps`` steps on random 128x128 crops of the photos in
``photos/`` except every 8th, which are held out (BSD68 is not touched). Prints
and appends to ``--out``/choices.json: held-out PSNR and rate (bits per pixel
under the model's own prior, hard symbols) on the held-out photos' 256x256 centres,
and ``MSE + rate_weight * rate``, the quantity trained on.
"""

import argparse
import json
import pathlib
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--variant", required=True, choices=["preset", "noise", "gdn", "factorized"])
parser.add_argument("--steps", type=int, default=600)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-dir")
parser.add_argument("--out", default="experiments/results/codecs")
args = parser.parse_args()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_fsq import FSQVAE, CategoricalPrior, build_fsqvae, data, presets, training  # noqa: E402

paths = data.image_paths(data.resolve_data_dir(args.data_dir) / "photos", recursive=True)
photos = [(data.read_image(path) * 255).round().astype("uint8") for path in paths]
train = [photo for i, photo in enumerate(photos) if i % 8]
held_out = (
    np.stack([data.patches(photo, 256)[0] for i, photo in enumerate(photos) if not i % 8]).astype("float32") / 255
)

name = "fsq_photo_q2"
recipe = {**presets.get_preset(name)["recipe"], "epochs": 1, "steps_per_epoch": args.steps, "init": None}
changes = {"gdn": {"architecture": "gdn"}, "factorized": {"prior": "none"}}.get(args.variant, {})
keras.utils.set_random_seed(args.seed)
model = build_fsqvae(preset=name, image_shape=(128, 128, 3), **changes)
if args.variant == "noise":
    prior = CategoricalPrior(model.prior.levels, "checkerboard", relaxation="noise", seed=args.seed, name="prior")
    model = FSQVAE(model.encoder, model.quantizer, model.decoder, prior=prior, rate_weight=model.rate_weight)
    model.build((None, 128, 128, 3))
started = time.perf_counter()
training.fit_with_recipe(model, recipe, train, seed=args.seed, verbose=0)
seconds = time.perf_counter() - started
outputs = model.predict(held_out, batch_size=8, verbose=0)
mse = float(np.mean((outputs["reconstruction"] - held_out) ** 2))
rate = float(np.mean(outputs["rate_bits"]) / (256 * 256))
result = {
    "variant": args.variant,
    "steps": args.steps,
    "seed": args.seed,
    "held_out_photos": len(held_out),
    "psnr": 10 * np.log10(1 / mse),
    "rate_bits_per_pixel": rate,
    "rd_loss": mse + model.rate_weight * rate,
    "train_seconds": seconds,
    "backend": keras.backend.backend(),
}
out = pathlib.Path(args.out) / "choices.json"
out.parent.mkdir(parents=True, exist_ok=True)
results = json.loads(out.read_text()) if out.exists() else []
out.write_text(json.dumps(results + [result], indent=1) + "\n")
print(json.dumps(result))
