"""The seed paper's CIFAR-10 tables, measured with keras_fsq's models, beside the paper's own numbers.

    # train, then tables; tables from finished runs; the paper's own data
    TF_NUM_INTRAOP_THREADS=1 python experiments/paper_tables.py --data-dir ../shared/data
    python experiments/paper_tables.py --data-dir ../shared/data --no-train
    python experiments/paper_tables.py --data cifar10 --out runs/paper_full --cache runs/paper_full

Every run trains the ``fsq_cifar10`` preset's model (conv encoder/decoder, an 8x8
grid of 4-dimensional codes per 32x32 image, MSE) with its recipe (batch 64, Adam,
warmup + cosine learning rate from 2e-3, flips) for 50 epochs, the paper's budget,
on the first 4,000 bundled CIFAR-10 images, and evaluates on the 1,085 held out
after every epoch (``--data cifar10``: CIFAR-10's 50,000 and 10,000). Only the quantizer
(and, for the annealed run, a temperature schedule) changes between configurations (``CONFIGS``). Each finished run is
written to ``--out``/runs.json (resumable); its held-out reconstructions after
epochs 1, 25 and 50 go to ``--cache`` for rFID: the Fréchet and kernel inception
distances between the held-out images and their reconstructions
(``keras_fsq.metrics``, the TF-Inception pool3 network). The tables
(``--out``/tables.md) put the seed's numbers from its paper beside ours.
"""

import argparse
import json
import pathlib
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument(
    "--data",
    default="shared",
    choices=["shared", "cifar10"],
    help="shared: the 5,085 bundled images (4,000 train, 1,085 held out); cifar10: the paper's "
    "50,000 / 10,000 through tensorflow-datasets (needs the download)",
)
parser.add_argument(
    "--data-dir", help="the folder holding cifar10/ (shared) or the tfds data (default: $KERAS_FSQ_DATA)"
)
parser.add_argument("--configs", help="comma-separated configurations to train (default: all)")
parser.add_argument("--seeds", default="0", help="comma-separated seeds; seeds outermost")
parser.add_argument("--epochs", type=int, default=50)
parser.add_argument("--out", default="experiments/results/paper")
parser.add_argument("--cache", default="runs/paper", help="held-out reconstructions and Inception features")
parser.add_argument("--no-train", action="store_true", help="only write the tables from finished runs")
parser.add_argument("--no-tables", action="store_true", help="only train")
args = parser.parse_args()

import keras  # noqa: E402  (after argparse: --help needs no backend)
import numpy as np  # noqa: E402

from keras_fsq import (  # noqa: E402  # noqa: E402
    FSQ,
    FSQVAE,
    AdaptiveFSQ,
    ConvDecoder,
    ConvEncoder,
    HierarchicalFSQ,
    VectorQuantizer,
    data,
    presets,
    reporting,
    training,
)

SNAPSHOT_EPOCHS = (1, 25, 50)  # the paper's "initial, mid training, final"
EXPONENTIAL = {"start": 1.0, "end": 0.1, "schedule": "exponential"}
# name: (description, quantizer factory of the seed, temperature annealing or None)
CONFIGS = {
    "fsq": (
        "FSQ [8,5,5,5], no quantization loss (keras_fsq's default)",
        lambda s: FSQ([8, 5, 5, 5], track_usage=True),
        None,
    ),
    "regularized": (
        "FSQ [8,5,5,5] + the seed's quantization loss, T = 1",
        lambda s: FSQ([8, 5, 5, 5], loss_weight=1.0, track_usage=True),
        None,
    ),
    "annealed": (
        "FSQ [8,5,5,5] + quantization loss, T 1.0 -> 0.1 exponential",
        lambda s: FSQ([8, 5, 5, 5], loss_weight=1.0, track_usage=True),
        EXPONENTIAL,
    ),
    "vq": ("VQ-VAE, 1,000 codes of dimension 4, EMA", lambda s: VectorQuantizer(1000, 4, seed=s), None),
    "hierarchical": (
        "HierarchicalFSQ, 2 stages of [8,5,5,5]",
        lambda s: HierarchicalFSQ([[8, 5, 5, 5]] * 2, seed=s),
        None,
    ),
    "fsq_x2": (
        "FSQ [8,5,5,5] x 2 codebooks (the same bits as 2 stages)",
        lambda s: FSQ([8, 5, 5, 5], num_codebooks=2, track_usage=True),
        None,
    ),
    **{
        f"levels_{level}": (
            f"FSQ [{level}]x4 + quantization loss ({level**4} codes)",
            lambda s, level=level: FSQ([level] * 4, loss_weight=1.0, track_usage=True),
            None,
        )
        for level in (3, 5, 8, 10)
    },
    "adaptive": (
        "AdaptiveFSQ, per-image rungs [3]x4, [5]x4, [8,5,5,5], rate weight 3e-4",
        lambda s: AdaptiveFSQ([[3] * 4, [5] * 4, [8, 5, 5, 5]], rate_weight=3e-4, seed=s),
        None,
    ),
}


class HeldOutLog(keras.callbacks.Callback):
    """Evaluates the held-out images after every epoch; keeps their reconstructions after ``SNAPSHOT_EPOCHS``."""

    def __init__(self, images, cache):
        super().__init__()
        self.images, self.cache, self.epochs = images, cache, []

    def on_epoch_end(self, epoch, logs=None):
        metrics = self.model.evaluate(self.images, batch_size=256, verbose=0, return_dict=True)
        self.epochs.append({"epoch": epoch + 1, **{k: float(v) for k, v in metrics.items()}})
        if epoch + 1 in SNAPSHOT_EPOCHS or epoch + 1 == self.params["epochs"]:
            reconstructions = self.model.reconstruct(self.images)
            np.save(
                self.cache / f"epoch{epoch + 1}.npy", np.round(np.clip(reconstructions, 0, 1) * 255).astype("uint8")
            )


def train_run(name, seed, train, held_out, cache):
    description, make_quantizer, anneal = CONFIGS[name]
    preset = presets.get_preset("fsq_cifar10")
    recipe = {**preset["recipe"], "epochs": args.epochs, "anneal": anneal}
    keras.utils.set_random_seed(seed)
    quantizer = make_quantizer(seed)
    widths = preset["model"]["widths"]
    model = FSQVAE(
        ConvEncoder(quantizer.code_dim, widths), quantizer, ConvDecoder(3, widths[::-1]), reconstruction_loss="mse"
    )
    model.build((None, 32, 32, 3))
    cache.mkdir(parents=True, exist_ok=True)
    log = HeldOutLog(held_out, cache)
    started = time.perf_counter()
    history = training.fit_with_recipe(model, recipe, train, seed=seed, verbose=0, callbacks=[log]).history
    seconds = time.perf_counter() - started
    final = reporting.evaluate_images(model, held_out)
    final["train_mse"] = reporting.evaluate_images(model, train[: len(held_out)])["mse"]
    return {
        "config": name,
        "description": description,
        "seed": seed,
        "epochs": recipe["epochs"],
        "backend": keras.backend.backend(),
        "train_seconds": seconds,
        "final": final,
        "held_out_by_epoch": log.epochs,
        "train_loss_by_epoch": history["loss"],
    }


def main():
    out, cache = pathlib.Path(args.out), pathlib.Path(args.cache)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / "runs.json"
    runs = json.loads(runs_path.read_text()) if runs_path.exists() else []
    if args.data == "shared":
        images, _ = data.load_shared_cifar10(args.data_dir)
        train, held_out = images[:4000], images[4000:]
    else:
        train, held_out = (
            np.stack(list(data.load_cifar10(split, data_dir=args.data_dir).as_numpy_iterator()))
            for split in ("train", "test")
        )
    names = args.configs.split(",") if args.configs else list(CONFIGS)
    for name in names:
        if name not in CONFIGS:
            parser.error(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
    if not args.no_train:
        done = {(r["config"], r["seed"]) for r in runs}
        for seed in map(int, args.seeds.split(",")):
            for name in names:
                if (name, seed) in done:
                    continue
                result = train_run(name, seed, train, held_out, cache / f"{name}_seed{seed}")
                runs.append(result)
                runs_path.write_text(json.dumps(runs, indent=1) + "\n")
                print(
                    f"{name} seed {seed}: {result['final']['psnr']:.2f} dB, {result['train_seconds']:.0f} s", flush=True
                )
    if not args.no_tables:
        from paper_report import write_report

        write_report(runs, held_out, out, cache, train)


if __name__ == "__main__":
    main()
