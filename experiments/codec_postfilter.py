"""Train the codecs' post-filter on the frozen codecs' decoded training photos; measure it on BSD68.

    python experiments/codec_postfilter_data.py --data-dir ../shared/data                 # inputs, once
    python experiments/codec_postfilter_data.py --data-dir ../shared/data --split bsd68
    KERAS_BACKEND=jax python experiments/codec_postfilter.py train --steps 12000 --seed 0  # resumes
    python experiments/codec_postfilter.py export --out keras_fsq/weights/fsq_dct_postfilter.npz
    python experiments/codec_postfilter.py evaluate --split bsd68

``train``: ``keras_fsq.post_filter.PostFilter`` on random 96x96 crops (block-aligned) of the six
qualities' decoded photos against the originals, mean squared error, Adam with a cosine schedule
over ``--steps``; the crops of step ``t`` come from ``seed + t``, and the model, its optimizer and
the log are saved every ``--save-every`` steps, so a stopped run continues where it was. Every
10th photo never trains: it scores the filter (``validation`` lines, PSNR gain per quality).
``evaluate``: the exported NumPy filter on a split's decoded photos: PSNR before and after per
quality at the same files, and the BD-rate change (``keras_fsq.comparisons.bd_rate``).
"""

import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
QUALITIES = (1, 2, 3, 4, 5, 6)
CROP = 96


def load_split(folder, prefix, keep):
    """Originals and decoded photos (uint8) of the photos ``keep(i)`` selects, and each file's bits."""
    with np.load(folder / f"{prefix}originals.npz") as stored:
        count = len(stored.files)
        chosen = [i for i in range(count) if keep(i)]
        originals = [stored[f"photo_{i}"] for i in chosen]
    decoded, bits = {}, {}
    for quality in QUALITIES:
        with np.load(folder / f"{prefix}decoded_q{quality}.npz") as stored:
            decoded[quality] = [stored[f"photo_{i}"] for i in chosen]
        every = json.loads((folder / f"{prefix}bits_q{quality}.json").read_text())
        bits[quality] = [every[i] for i in chosen]
    return originals, decoded, bits


def psnr(image, original):
    mse = np.mean((np.round(np.clip(image, 0, 1) * 255) - original.astype("float64")) ** 2)
    return 10 * math.log10(255**2 / mse)


def crops(originals, decoded, batch, rng):
    """``batch`` random block-aligned crops: (decoded, original, quality index)."""
    inputs, targets, qualities = [], [], []
    for _ in range(batch):
        quality = int(rng.integers(len(QUALITIES)))
        photo = int(rng.integers(len(originals)))
        height, width = originals[photo].shape[:2]
        top = 8 * int(rng.integers((height - CROP) // 8 + 1))
        left = 8 * int(rng.integers((width - CROP) // 8 + 1))
        window = (slice(top, top + CROP), slice(left, left + CROP))
        inputs.append(decoded[QUALITIES[quality]][photo][window])
        targets.append(originals[photo][window])
        qualities.append(quality)
    return (np.stack(inputs).astype("float32") / 255, np.asarray(qualities, "int32")), np.stack(targets).astype(
        "float32"
    ) / 255


def build(steps, learning_rate):
    import keras

    from keras_fsq.post_filter import PostFilter

    images = keras.Input((None, None, 3), name="images")
    quality = keras.Input((), dtype="int32", name="quality")
    model = keras.Model([images, quality], PostFilter(name="post_filter")([images, quality]))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    return model


def validation_gains(model, originals, decoded):
    """Mean PSNR gain per quality of the Keras filter on whole photos (cropped to even sides)."""
    gains = {}
    for index, quality in enumerate(QUALITIES):
        before, after = [], []
        for original, image in zip(originals, decoded[quality]):
            height, width = (s - s % 8 for s in original.shape[:2])
            x = image[None, :height, :width].astype("float32") / 255
            y = np.asarray(model.predict_on_batch([x, np.asarray([index], "int32")]))[0]
            before.append(psnr(x[0], original[:height, :width]))
            after.append(psnr(y, original[:height, :width]))
        gains[quality] = float(np.mean(after) - np.mean(before))
    return gains


def train(args):
    import keras

    folder = pathlib.Path(args.data)
    originals, decoded, _ = load_split(folder, "", lambda i: i % 10)
    held_originals, held_decoded, _ = load_split(folder, "", lambda i: i % 10 == 0)
    checkpoint, log_path = folder / "filter.keras", folder / "train_log.json"
    log = (
        json.loads(log_path.read_text()) if log_path.exists() else {"seed": args.seed, "steps": args.steps, "rows": []}
    )
    if checkpoint.exists():
        model = keras.saving.load_model(checkpoint)
        if (log["seed"], log["steps"]) != (args.seed, args.steps):
            raise SystemExit(f"{checkpoint} was trained with seed {log['seed']} and {log['steps']} steps.")
    else:
        model = build(args.steps, args.learning_rate)
    step = int(np.asarray(model.optimizer.iterations))
    print(f"post-filter: {len(originals)} training photos, {len(held_originals)} held out, step {step} of {args.steps}")
    losses, started = [], time.time()
    while step < args.steps:
        inputs, targets = crops(originals, decoded, args.batch, np.random.default_rng(args.seed * 1_000_003 + step))
        losses.append(float(model.train_on_batch(inputs, targets)))
        step += 1
        if step % args.save_every == 0 or step == args.steps:
            row = {"step": step, "loss": float(np.mean(losses)), "seconds": round(time.time() - started, 1)}
            if step % args.eval_every == 0 or step == args.steps:
                row["validation_gain_db"] = validation_gains(model, held_originals, held_decoded)
            log["rows"].append(row)
            model.save(folder / "filter.tmp.keras")
            (folder / "filter.tmp.keras").replace(checkpoint)
            log_path.with_suffix(".tmp").write_text(json.dumps(log, indent=1))
            log_path.with_suffix(".tmp").replace(log_path)
            print(json.dumps(row), flush=True)
            losses, started = [], time.time()


def export(args):
    import keras

    from keras_fsq.post_filter import numpy_weights

    model = keras.saving.load_model(pathlib.Path(args.data) / "filter.keras")
    np.savez(args.out, **numpy_weights(model.get_layer("post_filter")))
    print(f"wrote {args.out}")


def evaluate(args):
    from keras_fsq.comparisons import bd_rate
    from keras_fsq.compression.post_filter import PostFilter

    folder = pathlib.Path(args.data)
    prefix, keep = ("bsd68_", lambda i: True) if args.split == "bsd68" else ("", lambda i: i % 10 == 0)
    originals, decoded, bits = load_split(folder, prefix, keep)
    pixels = [o.shape[0] * o.shape[1] for o in originals]
    plain_curve, filtered_curve = [], []
    for index, quality in enumerate(QUALITIES):
        post_filter = PostFilter.shipped(args.weights, index)
        before, after, seconds = [], [], 0.0
        for original, image in zip(originals, decoded[quality]):
            height, width = (s + s % 2 for s in original.shape[:2])
            padded = np.pad(image, ((0, height - image.shape[0]), (0, width - image.shape[1]), (0, 0)), mode="edge")
            started = time.perf_counter()
            filtered = post_filter(padded.astype("float32") / 255)[: original.shape[0], : original.shape[1]]
            seconds += time.perf_counter() - started
            before.append(psnr(image.astype("float32") / 255, original))
            after.append(psnr(filtered, original))
        rate = float(np.mean([b / p for b, p in zip(bits[quality], pixels)]))
        plain_curve.append((rate, float(np.mean(before))))
        filtered_curve.append((rate, float(np.mean(after))))
        print(
            f"quality {quality}: {rate:.3f} bpp, {np.mean(before):.3f} -> {np.mean(after):.3f} dB "
            f"({np.mean(after) - np.mean(before):+.3f}), filter {seconds / len(originals):.3f} s per photo",
            flush=True,
        )
    change = bd_rate(*zip(*plain_curve), *zip(*filtered_curve))
    print(f"BD-rate of the filter (published convention, {args.split}): {change:+.2f}%")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["train", "export", "evaluate"])
    parser.add_argument("--data", default="experiments/checkpoints/postfilter")
    parser.add_argument("--steps", type=int, default=12000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--out", default="keras_fsq/weights/fsq_dct_postfilter.npz")
    parser.add_argument("--weights", default="fsq_dct_postfilter.npz", help="a file under keras_fsq/weights/")
    parser.add_argument("--split", choices=["validation", "bsd68"], default="validation")
    args = parser.parse_args()
    {"train": train, "export": export, "evaluate": evaluate}[args.command](args)


if __name__ == "__main__":
    main()
