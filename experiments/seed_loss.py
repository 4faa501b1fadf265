"""What the seed paper's quantization loss does to FSQ: reconstruction and codebook use, with and without it.

    python experiments/seed_loss.py --data-dir ../shared/data --epochs 10 --seeds 0,1 --out runs/seed_loss

The fully convolutional model (widths 64, 128: an 8x8 grid of [8, 5, 5, 5] per 32x32
image, 638 bits), MSE, Adam 1e-3, batch 64, trained on the first 4,000 bundled CIFAR-10
images and evaluated on the 1,085 held out, once per seed with ``FSQ(levels)`` (the FSQ
paper's quantizer: no auxiliary loss) and once with ``FSQ(levels, loss_weight=1.0)``
(the seed's commitment terms over T = 1 and its entropy bonus, lambda 0.1). Prints a
Markdown table of mean ± std over the seeds and writes it to ``OUT/seed_loss.md``.
"""

import argparse
import pathlib
import statistics
import time

LEVELS = [8, 5, 5, 5]


def train_and_evaluate(images, held_out, loss_weight, epochs, seed):
    import keras

    from keras_fsq import FSQ, FSQVAE, ConvDecoder, ConvEncoder
    from keras_fsq.reporting import evaluate_images

    keras.utils.set_random_seed(seed)
    model = FSQVAE(
        ConvEncoder(len(LEVELS), [64, 128], norm_momentum=0.9),
        FSQ(LEVELS, loss_weight=loss_weight),
        ConvDecoder(3, [128, 64], norm_momentum=0.9),
        reconstruction_loss="mse",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    started = time.perf_counter()
    model.fit(images, epochs=epochs, batch_size=64, shuffle=True, verbose=0)
    seconds = time.perf_counter() - started
    metrics = evaluate_images(model, held_out)
    return {
        "psnr": metrics["psnr"],
        "usage": metrics["codebook_usage"],
        "perplexity": metrics["perplexity"],
        "seconds": seconds,
    }


def summary(values, fmt):
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} ± {fmt.format(statistics.stdev(values))}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--out", default="runs/seed_loss")
    args = parser.parse_args()
    import keras

    from keras_fsq import data

    images, _ = data.load_shared_cifar10(args.data_dir)
    train, held_out = images[:4000], images[4000:]
    seeds = [int(s) for s in args.seeds.split(",")]
    lines = [
        f"{len(train)} training and {len(held_out)} held-out CIFAR-10 images, {args.epochs} epochs, seeds {seeds}, "
        f"{keras.backend.backend()} backend; conv model, 8x8 grid of {LEVELS} (638 bits per image).\n",
        "| quantizer | held-out PSNR (dB) | codebook usage | perplexity | train seconds |",
        "|---|---|---|---|---|",
    ]
    for name, loss_weight in (("FSQ (paper: no auxiliary loss)", 0.0), ("FSQ + seed loss (weight 1, lambda 0.1)", 1.0)):
        runs = [train_and_evaluate(train, held_out, loss_weight, args.epochs, seed) for seed in seeds]
        cells = [
            summary([r[k] for r in runs], fmt)
            for k, fmt in (("psnr", "{:.2f}"), ("usage", "{:.3f}"), ("perplexity", "{:.0f}"), ("seconds", "{:.0f}"))
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "seed_loss.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
