"""Train a generator preset (``maskgit_cifar10``): a MaskGIT over its tokenizer's tokens, and write its weights.

    KERAS_BACKEND=torch python experiments/train_maskgit.py --preset maskgit_cifar10 --seed 0 --data-dir ../shared/data

Tokenizes the first 4,000 bundled CIFAR-10 images (and their mirror images, with
the recipe's ``flip``) with the preset's tokenizer (its shipped weights), trains
the transformer with the recipe through ``fit``, and writes the transformer's
weights (float16) to ``keras_fsq/weights/<preset>.npz`` and the log (history,
seconds, seed) to ``experiments/results/generation/<preset>.json``.
``--tokenizer``/``--out`` train the same transformer on another tokenizer's
tokens instead (``experiments/generation_report.py`` compares FSQ and VQ so).
"""

import argparse
import json
import pathlib
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--preset", default="maskgit_cifar10")
parser.add_argument("--tokenizer", help="a .keras tokenizer instead of the preset's (weights then go to --out)")
parser.add_argument("--out", type=pathlib.Path, help="write the whole model (.keras) here instead")
parser.add_argument("--epochs", type=int, help="instead of the recipe's")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
args = parser.parse_args()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_fsq import FSQVAE, MaskGIT, data, load_model, preset_weights, presets, training  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
preset = presets.get_generator(args.preset)
recipe = {**preset["recipe"], **({"epochs": args.epochs} if args.epochs else {})}
images, labels = data.load_shared_cifar10(args.data_dir)
train, train_labels = images[:4000], labels[:4000]
keras.utils.set_random_seed(args.seed)
tokenizer = load_model(args.tokenizer) if args.tokenizer else FSQVAE.from_preset(preset["tokenizer"])
if recipe["flip"]:
    train, train_labels = np.concatenate([train, train[:, :, ::-1]]), np.concatenate([train_labels, train_labels])
model = MaskGIT.for_tokenizer(tokenizer, seed=args.seed, **preset["model"])
tokens = tokenizer.encode(train).reshape(len(train), -1)
steps = recipe["epochs"] * -(-len(tokens) // recipe["batch_size"])
model.compile(optimizer=training.recipe_optimizer(recipe, steps))
started = time.perf_counter()
history = model.fit(
    {"tokens": tokens, "labels": train_labels},
    batch_size=recipe["batch_size"],
    epochs=recipe["epochs"],
    shuffle=True,
    verbose=2,
).history
seconds = time.perf_counter() - started
log = {
    "preset": args.preset,
    "tokenizer": args.tokenizer or preset["tokenizer"],
    "seed": args.seed,
    "backend": keras.backend.backend(),
    "train_seconds": seconds,
    "train_images": 4000,
    "train_sequences": len(tokens),
    "recipe": recipe,
    "history": history,
}
if args.out:
    model.save(args.out)
    args.out.with_suffix(".json").write_text(json.dumps(log, indent=1, default=float) + "\n")
else:
    weights = ROOT / "keras_fsq" / "weights" / preset["weights"]
    with open(weights, "wb") as file:
        preset_weights.write_weights(model, file, dtype="float16", variables=model.prior_variables)
    out = ROOT / "experiments" / "results" / "generation" / f"{args.preset}.json"
    out.write_text(json.dumps(log, indent=1, default=float) + "\n")
print(f"{args.preset}: {seconds:.0f} s; final masked-token loss {history['loss'][-1]:.3f}")
