"""The seed paper's CIFAR-10 tables, measured with keras_fsq.

    python experiments/paper_tables.py --data-dir ../shared/data --out runs/paper      # offline real images
    python experiments/paper_tables.py --data cifar10 --out runs/paper               # full CIFAR-10 via tfds

Every run uses the paper's global encoder/decoder (64-dim latent, BCE), Adam 1e-3,
the same images and epochs. Tables (each written as ``NAME.md`` in ``--out``):

- strategies: FSQ regularized (quantization loss, T = 1) vs temperature annealing 1.0 -> 0.1:
  train and held-out reconstruction loss;
- levels: uniform levels 3, 5, 8, 10 on 4 dimensions: reconstruction and quantization loss;
- annealing: temperature schedules (none, exponential, linear, cosine) from 1.0 to 0.1;
- hierarchical: HierarchicalFSQ (3 stages of [3,3,3,3]) against FSQ [8,5,5,5];
- baseline: FSQ [8,5,5,5] against the VQ-VAE with 1,000 codes.

FID is reported where InceptionV3's ImageNet weights can be loaded, else the tables
say so. The adaptive-quantization table is experiments/adaptive_and_hierarchical.py's.
"""

import argparse
import pathlib
import time

import keras
import numpy as np

from keras_fsq import FSQ, FSQVAE, Decoder, Encoder, HierarchicalFSQ, TemperatureAnnealing, VectorQuantizer, data
from keras_fsq.metrics import InceptionWeightsUnavailable, fid, inception_features
from keras_fsq.reporting import evaluate_images


def build(quantizer, code_dim, widths):
    model = FSQVAE(
        Encoder(64 // code_dim, code_dim, widths), quantizer, Decoder((32, 32, 3), widths[::-1]), name="fsqvae"
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


class Runner:
    """Trains one configuration on the shared split and returns its held-out (and train) metrics.

    A configuration that several tables share (same quantizer config and schedule) trains once.
    """

    def __init__(self, train, held_out, epochs, widths, features):
        self.train, self.held_out, self.epochs, self.widths, self.features = train, held_out, epochs, widths, features
        self.done = {}

    def __call__(self, quantizer, code_dim, schedule="none"):
        config = {k: v for k, v in quantizer.get_config().items() if k != "name"}
        key = (type(quantizer).__name__, repr(sorted(config.items())), schedule)
        if key not in self.done:
            self.done[key] = self.train_and_evaluate(quantizer, code_dim, schedule)
        return self.done[key]

    def train_and_evaluate(self, quantizer, code_dim, schedule):
        keras.utils.set_random_seed(0)
        model = build(quantizer, code_dim, self.widths)
        callbacks = [] if schedule == "none" else [TemperatureAnnealing(1.0, 0.1, schedule=schedule)]
        started = time.perf_counter()
        model.fit(self.train, epochs=self.epochs, batch_size=64, shuffle=True, callbacks=callbacks, verbose=0)
        metrics = evaluate_images(model, self.held_out)
        metrics["train_reconstruction_loss"] = evaluate_images(model, self.train[: len(self.held_out)])["reconstruction_loss"]
        metrics["seconds"] = time.perf_counter() - started
        metrics["fid"] = fid(self.held_out, model.reconstruct(self.held_out), self.features) if self.features else None
        return metrics


def table(title, columns, rows):
    """``columns``: [(metric key, heading, format)]; ``rows``: {name: metrics}."""
    lines = [f"### {title}", "", "| run | " + " | ".join(c[1] for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, metrics in rows.items():
        cells = ["n/a" if metrics.get(key) is None else fmt.format(metrics[key]) for key, _, fmt in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


LOSSES = [("train_reconstruction_loss", "train BCE", "{:.4f}"), ("reconstruction_loss", "held-out BCE", "{:.4f}")]
QUALITY = [("psnr", "PSNR dB", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"), ("fid", "FID", "{:.1f}")]
QUANT = [("quantization_loss", "quant. loss", "{:.4f}"), ("codebook_usage", "usage", "{:.3f}"), ("bits_per_image", "bits/image", "{:.0f}")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="shared", choices=["shared", "cifar10"])
    parser.add_argument("--data-dir", help="folder holding cifar10/ (shared) or the tfds data")
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--widths", default="32,64,128,256")
    parser.add_argument("--tables", default="strategies,levels,annealing,hierarchical,baseline")
    parser.add_argument("--out", default="runs/paper")
    args = parser.parse_args()

    if args.data == "shared":
        images, _ = data.load_shared_cifar10(args.data_dir)
        train, held_out = images[: args.train_size], images[args.train_size :]
    else:
        train = np.stack(list(data.load_cifar10("train", data_dir=args.data_dir).take(args.train_size).as_numpy_iterator()))
        held_out = np.stack(list(data.load_cifar10("test", data_dir=args.data_dir).as_numpy_iterator()))
    try:
        features, fid_note = inception_features(), "FID: InceptionV3 pool features of held-out images vs their reconstructions."
    except InceptionWeightsUnavailable as error:
        features, fid_note = None, f"FID: n/a. {error}"
    run = Runner(train, held_out, args.epochs, [int(w) for w in args.widths.split(",")], features)
    header = (f"{len(train)} training and {len(held_out)} held-out images ({args.data}), {args.epochs} epochs, "
              f"batch 64, Adam 1e-3, {keras.backend.backend()} backend. {fid_note}\n\n")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # The seed's quantizer: its quantization loss, and level usage for the statistics.
    fsq_1000 = lambda: FSQ([8, 5, 5, 5], loss_weight=1.0, track_usage=True)  # noqa: E731
    experiments = {
        "strategies": lambda: table("Training strategy", LOSSES + QUALITY, {
            "FSQ [8,5,5,5], regularized (T = 1)": run(fsq_1000(), 4),
            "FSQ [8,5,5,5], annealed 1.0 -> 0.1": run(fsq_1000(), 4, "exponential"),
        }),
        "levels": lambda: table("Quantization levels (4 dimensions, T = 1)", LOSSES + QUANT + QUALITY, {
            f"FSQ [{level}]x4 ({level**4} codes)": run(FSQ([level] * 4, loss_weight=1.0, track_usage=True), 4) for level in (3, 5, 8, 10)
        }),
        "annealing": lambda: table("Temperature schedule, 1.0 -> 0.1", LOSSES + QUANT + QUALITY, {
            f"FSQ [8,5,5,5], {schedule}": run(fsq_1000(), 4, schedule) for schedule in ("none", "exponential", "linear", "cosine")
        }),
        "hierarchical": lambda: table("Hierarchical vs single-stage FSQ", LOSSES + QUANT + QUALITY, {
            "FSQ [8,5,5,5]": run(fsq_1000(), 4),
            "HierarchicalFSQ [3,3,3,3] x 3 stages": run(HierarchicalFSQ([[3, 3, 3, 3]] * 3, seed=0), 4),
        }),
        "baseline": lambda: table("FSQ vs VQ-VAE (1,000 codes)", LOSSES + QUANT + QUALITY, {
            "FSQ [8,5,5,5]": run(fsq_1000(), 4),
            "VQ-VAE, 1,000 codes, EMA": run(VectorQuantizer(1000, 4, seed=0), 4),
        }),
    }
    for name in args.tables.split(","):
        if name not in experiments:
            parser.error(f"unknown table {name!r}; choose from {', '.join(experiments)}")
        started = time.perf_counter()
        text = header + experiments[name]()
        (out / f"{name}.md").write_text(text)
        print(text, f"({time.perf_counter() - started:.0f} s)\n", flush=True)


if __name__ == "__main__":
    main()
