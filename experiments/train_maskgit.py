"""Train a generator preset (``maskgit_cifar10``): a MaskGIT over its tokenizer's tokens, and write its weights.

    KERAS_BACKEND=torch python experiments/train_maskgit.py --preset maskgit_cifar10 --seed 0 --data-dir ../shared/data

Tokenizes the training images with the preset's tokenizer (its shipped weights): by default the
48,915 CIFAR-10 JPEGs of ``shared-cifar10-jpeg50k`` (the JPEGs of the held-out lossless images
left out), ``--data shared-cifar10`` for the first 4,000 bundled images; with the recipe's
``flip``, their mirror images too. Trains the transformer with the recipe through ``fit`` and
writes its weights (float16) to ``keras_fsq/weights/<preset>.npz`` and the log (history,
seconds, seed) to ``experiments/results/generation/<preset>.json``.
``--tokenizer``/``--out`` train the same transformer on another tokenizer's
tokens instead (``experiments/generation_report.py`` compares FSQ and VQ so);
``--factorized`` predicts FSQ tokens as per-dimension symbols (``--out`` only).

A long run keeps its work: every epoch ends with a checkpoint (model, optimizer, history;
``keras_fsq.checkpoints``) in ``--checkpoint`` (default ``experiments/checkpoints/<name>``),
and ``--resume`` continues it with the same options to the result an uninterrupted run
reaches (each epoch's order comes from the seed and the epoch). The checkpoint is removed
once the weights are written.

``--warm-restart`` continues training from the preset's shipped weights (or the ``--out``
model) for ``--epochs`` more under a fresh warm-up and cosine schedule, and appends the run
to the log::

    KERAS_BACKEND=torch python experiments/train_maskgit.py --preset maskgit_cifar10 --warm-restart --epochs 30 \
        --seed 1 --data-dir ../shared/data
"""

import argparse
import json
import pathlib
import shutil
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--preset", default="maskgit_cifar10")
parser.add_argument("--data", default="shared-cifar10-jpeg50k", choices=["shared-cifar10-jpeg50k", "shared-cifar10"])
parser.add_argument("--limit", type=int, help="train on the first N images only (a smoke test)")
parser.add_argument("--tokenizer", help="a .keras tokenizer instead of the preset's (weights then go to --out)")
parser.add_argument("--out", type=pathlib.Path, help="write the whole model (.keras) here instead")
parser.add_argument("--epochs", type=int, help="instead of the recipe's")
parser.add_argument("--factorized", action="store_true", help="a head per FSQ symbol instead of one index")
parser.add_argument("--checkpoint", type=pathlib.Path, help="the checkpoint folder (default experiments/checkpoints/)")
parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --checkpoint")
parser.add_argument("--warm-restart", action="store_true", help="continue the shipped (or --out) model's training")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
args = parser.parse_args()
if args.factorized and not args.out:
    parser.error("--factorized trains a variant of the preset: give --out for it")
if args.warm_restart and args.out and not args.out.is_file():
    parser.error(f"--warm-restart continues --out {args.out}, which does not exist")
if args.limit is not None and args.limit < 1:
    parser.error("--limit must be >= 1")
name = args.out.stem if args.out else args.preset
checkpoint_folder = args.checkpoint or ROOT / "experiments" / "checkpoints" / name
settings = {
    key: str(value) if isinstance(value, pathlib.Path) else value
    for key, value in vars(args).items()
    if key not in ("resume", "data_dir", "checkpoint")
}

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_fsq import FSQVAE, MaskGIT, batches, checkpoints, class_folders, data, load_model, presets, training  # noqa: E402
from keras_fsq.preset_weights import read_weights, write_weights  # noqa: E402
from keras_fsq.progress import TrainingProgress  # noqa: E402

try:
    found = checkpoints.run_to_continue(checkpoint_folder, settings, args.resume)
except ValueError as error:
    sys.exit(str(error))

preset = presets.get_generator(args.preset)
recipe = {**preset["recipe"], **({"epochs": args.epochs} if args.epochs else {})}
if args.data == "shared-cifar10":
    images, labels = data.load_shared_cifar10(args.data_dir)
    train, train_labels = images[: class_folders.HELD_OUT_START], labels[: class_folders.HELD_OUT_START]
else:
    train, train_labels, _ = class_folders.load_cifar10_jpeg(args.data_dir, args.limit)
train, train_labels = train[: args.limit], train_labels[: args.limit]
keras.utils.set_random_seed(args.seed)
weights = ROOT / "keras_fsq" / "weights" / preset["weights"]
log_path = (
    args.out.with_suffix(".json")
    if args.out
    else ROOT / "experiments" / "results" / "generation" / f"{args.preset}.json"
)
if args.warm_restart and args.out:
    model = load_model(args.out)
else:
    tokenizer = load_model(args.tokenizer) if args.tokenizer else FSQVAE.from_preset(preset["tokenizer"])
    model = MaskGIT.for_tokenizer(tokenizer, seed=args.seed, factorized=args.factorized, **preset["model"])
    if args.warm_restart:
        with open(weights, "rb") as file:
            read_weights(model, file, optional=model.tokenizer.variables)


def tokenize(images):
    """The tokenizer's token grids of ``images`` (uint8, or floats in [0, 1]), flattened; 1,024 images are
    converted to float at a time, not the whole set."""
    chunks = [model.tokenizer.encode(data.to_unit_float(images[i : i + 1024])) for i in range(0, len(images), 1024)]
    return np.concatenate(chunks).reshape(len(images), -1)


started = time.perf_counter()
tokens = tokenize(train)
if recipe["flip"]:
    tokens = np.concatenate([tokens, tokenize(train[:, :, ::-1])])
    train_labels = np.concatenate([train_labels, train_labels])
tokenize_seconds = time.perf_counter() - started
dataset = batches.shuffled_records(
    {"tokens": tokens.astype("int32"), "labels": np.asarray(train_labels, "int32")}, recipe["batch_size"], args.seed
)
done, history, _, state = found or (0, {}, None, None)
print(
    f"train_maskgit: {name}, {len(train)} images of {args.data} ({len(tokens)} sequences; tokenized in "
    f"{tokenize_seconds:.0f} s), {recipe['epochs']} epochs of {len(dataset)} steps, {keras.backend.backend()}"
    + (f"; resuming after epoch {done}" if done else "")
    + f"; checkpoint every epoch in {checkpoint_folder}",
    file=sys.stderr,
    flush=True,
)
checkpoint = checkpoints.EpochCheckpoint(checkpoint_folder, settings, history)
started = time.perf_counter()
training.fit_on_dataset(
    model, recipe, dataset, verbose=0, callbacks=[checkpoint, TrainingProgress()], initial_epoch=done, state=state
)
seconds = time.perf_counter() - started
history = checkpoint.history
run = {
    "preset": args.preset,
    "tokenizer": args.tokenizer or preset["tokenizer"],
    "seed": args.seed,
    "backend": keras.backend.backend(),
    "train_seconds": seconds,  # of this sitting: epochs done + 1 .. epochs
    "resumed_after_epoch": done,
    "data": args.data,
    "train_images": len(train),
    "train_sequences": len(tokens),
    "recipe": recipe,
    "factorized": model.factorized_levels is not None,
    "history": history,
}
if args.warm_restart:  # the first run's log, with this run appended to its "resumed" list
    log = json.loads(log_path.read_text())
    log.setdefault("resumed", []).append(run)
else:
    log = run
if args.out:
    model.save(args.out)
else:
    with open(weights, "wb") as file:
        write_weights(model, file, dtype="float16", variables=model.prior_variables)
log_path.write_text(json.dumps(log, indent=1, default=float) + "\n")
shutil.rmtree(checkpoint_folder)  # the run's results are written
print(f"{name}: {seconds:.0f} s; final masked-token loss {history['loss'][-1]:.3f}")
