"""FSQ against the EMA VQ-VAE baseline at the FSQ paper's codebook sizes, on the same conv model.

For every grid (4x4 and 8x8 codes per 32x32 image), codebook size (2^8 ... 2^16;
FSQ uses the paper's level sets, VQ as many codes of dimension ``len(levels)``)
and seed, trains the ``fsq_conv{g}x{g}_{bits}bit`` preset with its recipe on the
first 4,000 bundled CIFAR-10 images (BatchNorm momentum 0.9, so that the
inference statistics of short runs keep up) and evaluates on the 1,085 held out:
PSNR, SSIM, codebook usage and perplexity over the last training epoch, and
entropy-coded bits per image (the held-out indices' cross-entropy under their
training-set frequencies, add-1/2 smoothed: what a static code learned on the
training set spends). Beside each size: the best block-averaging codec within
the same fixed bits (``keras_fsq.comparisons.best_block_average``).

    KERAS_BACKEND=torch python experiments/fsq_vs_vq.py --data-dir ../shared/data --epochs 20

Each run's result is appended to ``--out``/runs.json as it finishes, so an
interrupted sweep resumes where it stopped; the table (``results.md``) and the
plot (``psnr_vs_bits.png``) are written from all finished runs.
"""

import argparse
import json
import pathlib
import time

import numpy as np

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--grids", default="4,8", help="latent grid sides")
parser.add_argument("--bits", default="8,10,12,14,16", help="codebook sizes, log2")
parser.add_argument("--seeds", default="0,1,2")
parser.add_argument("--quantizers", default="fsq,vq")
parser.add_argument("--epochs", type=int, help="epochs per run (default: the preset's recipe)")
parser.add_argument("--out", default="experiments/results/fsq_vs_vq")
args = parser.parse_args()

import keras  # noqa: E402  (after argparse: --help needs no backend)

from keras_fsq import build_fsqvae, data, presets, reporting, training  # noqa: E402
from keras_fsq.comparisons import best_block_average  # noqa: E402

out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)
runs_path = out / "runs.json"
runs = json.loads(runs_path.read_text()) if runs_path.exists() else []
images, _ = data.load_shared_cifar10(args.data_dir)
train, held_out = images[:4000], images[4000:]


def entropy_coded_bits(model, indices_train, indices_held):
    """Bits per held-out image under the training indices' smoothed frequencies (a static unigram code)."""
    counts = np.bincount(indices_train.ravel(), minlength=model.quantizer.codebook_size) + 0.5
    log2_p = np.log2(counts / counts.sum())
    return float(-log2_p[indices_held.reshape(len(indices_held), -1)].sum(axis=1).mean())


def run(grid, bits, quantizer, seed):
    name = f"fsq_conv{grid}x{grid}_{bits}bit"
    recipe = presets.get_preset(name)["recipe"]
    if args.epochs:
        recipe["epochs"] = args.epochs
    keras.utils.set_random_seed(seed)
    # BatchNorm momentum 0.9: with 0.99 the inference statistics of a run of a few hundred
    # steps still lag the weights, and held-out PSNR would measure that lag, not the quantizer.
    model = build_fsqvae(preset=name, quantizer=quantizer, seed=seed, norm_momentum=0.9)
    started = time.perf_counter()
    history = training.fit_with_recipe(model, recipe, train, seed=seed, verbose=0).history
    seconds = time.perf_counter() - started
    metrics = reporting.evaluate_images(model, held_out)
    return {
        "grid": grid,
        "bits": bits,
        "quantizer": quantizer,
        "seed": seed,
        "epochs": recipe["epochs"],
        "codebook_size": model.quantizer.codebook_size,
        "fixed_bits_per_image": metrics["bits_per_image"],
        "psnr": metrics["psnr"],
        "ssim": metrics["ssim"],
        "train_codebook_usage": history["codebook_usage"][-1],
        "train_perplexity": history["perplexity"][-1],
        "train_psnr_by_epoch": history["psnr"],
        "entropy_coded_bits_per_image": entropy_coded_bits(model, model.encode(train), model.encode(held_out)),
        "train_seconds": seconds,
        "backend": keras.backend.backend(),
    }


def summarize(runs):
    """Markdown table of mean ± std per (grid, bits, quantizer), with the block-averaging baseline."""

    def stat(values, fmt):
        values = np.asarray(values, dtype="float64")
        return f"{fmt.format(values.mean())} ± {fmt.format(values.std())}" if len(values) > 1 else fmt.format(values[0])

    lines = [
        "| grid | codes | quantizer | seeds | PSNR (dB) | SSIM | usage | perplexity | fixed bits | entropy-coded bits "
        "| block average (dB, bits) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups = {}
    for r in runs:
        groups.setdefault((r["grid"], r["bits"], r["quantizer"]), []).append(r)
    for (grid, bits, quantizer), group in sorted(groups.items()):
        fixed = group[0]["fixed_bits_per_image"]
        baseline = best_block_average(held_out, fixed)
        base = f"{baseline[0]:.2f} at {baseline[1]}" if baseline else "–"
        lines.append(
            f"| {grid}x{grid} | {group[0]['codebook_size']} | {quantizer} | {len(group)} "
            f"| {stat([r['psnr'] for r in group], '{:.2f}')} | {stat([r['ssim'] for r in group], '{:.3f}')} "
            f"| {stat([r['train_codebook_usage'] for r in group], '{:.3f}')} "
            f"| {stat([r['train_perplexity'] for r in group], '{:.0f}')} | {fixed:.0f} "
            f"| {stat([r['entropy_coded_bits_per_image'] for r in group], '{:.0f}')} | {base} |"
        )
    return "\n".join(lines) + "\n"


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for quantizer, marker in (("fsq", "o"), ("vq", "s")):
        for grid, style in ((4, "-"), (8, "--")):
            points = {}
            for r in runs:
                if r["quantizer"] == quantizer and r["grid"] == grid:
                    points.setdefault(r["fixed_bits_per_image"], []).append(r["psnr"])
            if points:
                xs = sorted(points)
                axis.errorbar(
                    xs,
                    [np.mean(points[x]) for x in xs],
                    [np.std(points[x]) for x in xs],
                    marker=marker,
                    linestyle=style,
                    label=f"{quantizer.upper()} {grid}x{grid}",
                )
    baseline = [best_block_average(held_out, b) for b in range(48, 1600, 48)]
    baseline = sorted({(b[1], b[0]) for b in baseline if b})
    axis.plot([b for b, _ in baseline], [p for _, p in baseline], ":", color="gray", label="block average")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("bits per 32x32 image (fixed rate)")
    axis.set_ylabel("held-out PSNR (dB)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


done = {(r["grid"], r["bits"], r["quantizer"], r["seed"]) for r in runs}
for seed in map(int, args.seeds.split(",")):  # seeds outermost: a partial sweep covers every size
    for grid in map(int, args.grids.split(",")):
        for bits in map(int, args.bits.split(",")):
            for quantizer in args.quantizers.split(","):
                if (grid, bits, quantizer, seed) in done:
                    continue
                result = run(grid, bits, quantizer, seed)
                runs.append(result)
                runs_path.write_text(json.dumps(runs, indent=1) + "\n")
                print(
                    f"{grid}x{grid} 2^{bits} {quantizer} seed {seed}: {result['psnr']:.2f} dB, "
                    f"usage {result['train_codebook_usage']:.3f}, {result['train_seconds']:.0f} s",
                    flush=True,
                )

(out / "results.md").write_text(summarize(runs))
plot(runs, out / "psnr_vs_bits.png")
print(summarize(runs))
