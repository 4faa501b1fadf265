"""Train a generator preset (``maskgit_cifar10``): a MaskGIT over its tokenizer's tokens, and write its weights.

    KERAS_BACKEND=torch python experiments/train_maskgit.py --preset maskgit_cifar10 --seed 0 --data-dir ../shared/data

Tokenizes the first 4,000 bundled CIFAR-10 images (and their mirror images, with
the recipe's ``flip``) with the preset's tokenizer (its shipped weights), trains
the transformer with the recipe through ``fit``, and writes the transformer's
weights (float16) to ``keras_fsq/weights/<preset>.npz`` and the log (history,
seconds, seed) to ``experiments/results/generation/<preset>.json``.
``--tokenizer``/``--out`` train the same transformer on another tokenizer's
tokens instead (``experiments/generation_report.py`` compares FSQ and VQ so);
``--factorized`` predicts FSQ tokens as per-dimension symbols (``--out`` only).

``--resume`` continues training instead of starting over: from the preset's
shipped weights (or the ``--out`` model), for ``--epochs`` more under a fresh
warm-up and cosine schedule (a warm restart), and appends the run to the log::

    KERAS_BACKEND=torch python experiments/train_maskgit.py --preset maskgit_cifar10 --resume --epochs 30 \
        --seed 1 --data-dir ../shared/data
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
parser.add_argument("--factorized", action="store_true", help="a head per FSQ symbol instead of one index")
parser.add_argument("--resume", action="store_true", help="continue the shipped (or --out) model's training")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
args = parser.parse_args()
if args.factorized and not args.out:
    parser.error("--factorized trains a variant of the preset: give --out for it")
if args.resume and args.out and not args.out.is_file():
    parser.error(f"--resume continues --out {args.out}, which does not exist")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_fsq import FSQVAE, MaskGIT, data, load_model, preset_weights, presets, training  # noqa: E402
from keras_fsq.preset_weights import read_weights  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
preset = presets.get_generator(args.preset)
recipe = {**preset["recipe"], **({"epochs": args.epochs} if args.epochs else {})}
images, labels = data.load_shared_cifar10(args.data_dir)
train, train_labels = images[:4000], labels[:4000]
keras.utils.set_random_seed(args.seed)
if recipe["flip"]:
    train, train_labels = np.concatenate([train, train[:, :, ::-1]]), np.concatenate([train_labels, train_labels])
weights = ROOT / "keras_fsq" / "weights" / preset["weights"]
log_path = (
    args.out.with_suffix(".json")
    if args.out
    else ROOT / "experiments" / "results" / "generation" / f"{args.preset}.json"
)
if args.resume and args.out:
    model = load_model(args.out)
else:
    tokenizer = load_model(args.tokenizer) if args.tokenizer else FSQVAE.from_preset(preset["tokenizer"])
    model = MaskGIT.for_tokenizer(tokenizer, seed=args.seed, factorized=args.factorized, **preset["model"])
    if args.resume:
        with open(weights, "rb") as file:
            read_weights(model, file, optional=model.tokenizer.variables)
tokens = model.tokenizer.encode(train).reshape(len(train), -1)
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
run = {
    "preset": args.preset,
    "tokenizer": args.tokenizer or preset["tokenizer"],
    "seed": args.seed,
    "backend": keras.backend.backend(),
    "train_seconds": seconds,
    "train_images": 4000,
    "train_sequences": len(tokens),
    "recipe": recipe,
    "factorized": model.factorized_levels is not None,
    "history": history,
}
if args.resume:  # the first run's log, with this run appended to its "resumed" list
    log = json.loads(log_path.read_text())
    log.setdefault("resumed", []).append(run)
else:
    log = run
if args.out:
    model.save(args.out)
else:
    with open(weights, "wb") as file:
        preset_weights.write_weights(model, file, dtype="float16", variables=model.prior_variables)
log_path.write_text(json.dumps(log, indent=1, default=float) + "\n")
print(f"{args.preset}: {seconds:.0f} s; final masked-token loss {history['loss'][-1]:.3f}")
