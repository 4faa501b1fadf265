"""What a training or evaluation run writes: metrics, a reconstruction grid, curves."""

import json
import math
import pathlib

import numpy as np

from keras_fsq import files
from keras_fsq.losses import binary_crossentropy, mean_squared_error


def evaluate_images(model, images, batch_size=128):
    """Held-out metrics of ``model`` on ``images`` (float32 in [0, 1]), as plain floats.

    The model's own metrics (PSNR, SSIM, codebook usage over the whole set, ...)
    plus BCE and MSE computed from the reconstructions, and bits per image.
    """
    from keras import ops

    results = model.evaluate(images, batch_size=batch_size, verbose=0, return_dict=True)
    reconstructions = model.reconstruct(images, batch_size=batch_size)
    metrics = {name: float(value) for name, value in results.items()}
    metrics["bce"] = float(np.mean(ops.convert_to_numpy(binary_crossentropy(images, reconstructions))))
    metrics["mse"] = float(np.mean(ops.convert_to_numpy(mean_squared_error(images, reconstructions))))
    metrics["bits_per_image"] = metrics["bits_per_pixel"] * math.prod(images.shape[1:3])
    metrics["codebook_size"] = model.quantizer.codebook_size
    metrics["images"] = len(images)
    return metrics


def write_run_report(model, held_out, out, run_name, history=None, extra=None):
    """Evaluate on ``held_out`` and write the grid, curves and metrics into the folder ``out`` (each file
    atomically): ``reconstructions.png``, with a ``history`` ``training_curves.png`` and ``history.json``,
    ``metrics.json`` and ``metrics.md`` (beside the block-average baseline). Prints the table; the metrics."""
    metrics = evaluate_images(model, held_out)
    metrics.update(extra or {})
    save_reconstruction_grid(held_out[:16], model.reconstruct(held_out[:16]), out / "reconstructions.png")
    if history:
        plot_history(history, out / "training_curves.png")
        files.write_text(out / "history.json", json.dumps(history, indent=2) + "\n")
    baseline = block_average_row(held_out, metrics["bits_per_image"])
    write_metrics({run_name: metrics}, out, reference_rows=baseline)
    print(markdown_table({run_name: metrics, **baseline}))
    return metrics


def reconstruction_scores(model, images, extract):
    """``{"rfid", "rkid"}``: FID and KID of ``images`` against ``model``'s reconstructions of them, with the
    Inception feature function ``extract`` (``inception.inception_features()``)."""
    if len(images) < 2:
        raise ValueError(f"--fid needs at least 2 held-out images; there are {len(images)} (lower --train-size).")
    from keras_fsq.fid import fid_from_features, kid_from_features

    real, rebuilt = extract(images), extract(model.reconstruct(images))
    return {"rfid": fid_from_features(real, rebuilt), "rkid": kid_from_features(real, rebuilt)[0]}


def save_reconstruction_grid(originals, reconstructions, path, count=16, scale=4):
    """A PNG with ``count`` originals on the top row and their reconstructions below (written atomically)."""
    count = min(count, len(originals))
    rows = np.concatenate([np.asarray(originals[:count]), np.asarray(reconstructions[:count])])
    save_image_grid(rows, path, columns=count, scale=scale)


def save_image_grid(images, path, columns=10, scale=2):
    """A PNG of ``images`` ``(N, H, W, C)`` in rows of ``columns`` (the last row padded black), each pixel
    enlarged ``scale`` times (written atomically)."""
    from keras_fsq.data import save_image

    images = np.asarray(images)
    rows = -(-len(images) // columns)
    padded = np.concatenate([images, np.zeros((rows * columns - len(images), *images.shape[1:]), images.dtype)])
    grid = padded.reshape(rows, columns, *images.shape[1:]).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(rows * images.shape[1], columns * images.shape[2], images.shape[3])
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    with files.replacing(path) as temporary:
        save_image(grid, temporary)


def plot_history(history, path):
    """Training curves (loss, PSNR, codebook usage, temperature where logged) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [name for name in ("loss", "psnr", "codebook_usage", "temperature") if name in history]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3), squeeze=False)
    for axis, name in zip(axes[0], panels):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], label="train")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], label="held out")
            axis.legend()
        axis.set_title(name)
        axis.set_xlabel("epoch")
    figure.tight_layout()
    with files.replacing(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)


TABLE_COLUMNS = (
    ("psnr", "PSNR (dB)", "{:.2f}"),
    ("ssim", "SSIM", "{:.3f}"),
    ("bce", "BCE", "{:.4f}"),
    ("mse", "MSE", "{:.5f}"),
    ("quantization_loss", "quant. loss", "{:.4f}"),
    ("codebook_usage", "codebook usage", "{:.3f}"),
    ("perplexity", "perplexity", "{:.1f}"),
    ("codebook_size", "codebook size", "{}"),
    ("bits_per_image", "bits / image", "{:.0f}"),
    ("bits_per_pixel", "bits / pixel", "{:.4f}"),
    ("rfid", "rFID", "{:.2f}"),
    ("rkid", "rKID", "{:.4f}"),
)


def markdown_table(rows):
    """``rows``: {run name: metrics dict} -> a Markdown table of the known columns."""
    columns = [c for c in TABLE_COLUMNS if any(c[0] in metrics for metrics in rows.values())]
    lines = ["| run | " + " | ".join(title for _, title, _ in columns) + " |"]
    lines.append("|---" * (len(columns) + 1) + "|")
    for run, metrics in rows.items():
        cells = [fmt.format(metrics[key]) if key in metrics else "–" for key, _, fmt in columns]
        lines.append(f"| {run} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_metrics(rows, directory, stem="metrics", reference_rows=None):
    """Write ``rows`` as ``stem.json`` and ``stem.md`` in ``directory``; return both paths.

    ``reference_rows`` (e.g. a baseline) join the Markdown table only.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / f"{stem}.json", directory / f"{stem}.md"
    files.write_text(json_path, json.dumps(rows, indent=2, sort_keys=True) + "\n")
    files.write_text(md_path, markdown_table({**rows, **(reference_rows or {})}))
    return json_path, md_path


def block_average_row(images, max_bits_per_image):
    """``{name: metrics}`` of the best block-averaging codec within the bits (empty when none fits)."""
    from keras_fsq.comparisons import best_block_average

    best = best_block_average(images, max_bits_per_image)
    if best is None:
        return {}
    psnr, bits, cell, bits_per_value = best
    name = f"baseline: {cell}x{cell} block means, {bits_per_value} bits each"
    return {name: {"psnr": psnr, "bits_per_image": bits, "bits_per_pixel": bits / math.prod(images.shape[1:3])}}
