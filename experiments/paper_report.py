"""The tables of ``paper_tables.py``: ours (mean ± std over the seeds run) beside the seed paper's numbers.

rFID and rKID compare the 1,085 held-out images with a run's reconstructions of
them (``keras_fsq.metrics``: TF-Inception pool3 features, 2,048 dimensions);
features are cached beside the reconstructions, so a rerun only extracts new
ones. For scale, the "real vs real" line gives the FID between the held-out
images and as many training images: what two samples of CIFAR-10 of this size
score with no reconstruction at all.
"""

import json
import pathlib

import numpy as np

from keras_fsq import callbacks, data, fid, inception, reporting

PAPER = json.loads((pathlib.Path(__file__).parent / "paper_numbers.json").read_text())


class Features:
    """Inception features of images stored as uint8 ``.npy``, cached as ``NAME.features.npy``."""

    def __init__(self):
        self.extract = inception.inception_features(batch_size=50)

    def __call__(self, images, cache_file):
        cache_file = pathlib.Path(cache_file)
        if cache_file.is_file():
            return np.load(cache_file)
        features = self.extract(images)
        np.save(cache_file, features)
        return features


def stat(values, fmt):
    """``mean ± std (n)`` over seeds, or the single value."""
    values = np.asarray([v for v in values if v is not None], dtype="float64")
    if len(values) == 0:
        return "n/a"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(values.mean())} ± {fmt.format(values.std())} ({len(values)})"


def markdown(headings, rows):
    lines = ["| " + " | ".join(headings) + " |", "|---" * len(headings) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]) + "\n"


class Report:
    def __init__(self, runs, held_out, train, cache):
        self.runs, self.held_out, self.cache = runs, held_out, pathlib.Path(cache)
        try:
            self.features = Features()
        except inception.InceptionWeightsUnavailable as error:
            self.features, self.fid_note = None, f"rFID: n/a ({error})"
        else:
            self.cache.mkdir(parents=True, exist_ok=True)
            self.real = self.features(self.held_out, self.cache / "held_out.features.npy")
            floor = self.features(train[: len(held_out)], self.cache / "train_sample.features.npy")
            self.fid_note = (
                f"real vs real: FID {fid.fid_from_features(self.real, floor):.2f} between the "
                f"{len(held_out)} held-out and {len(held_out)} training images"
            )

    def group(self, config):
        return [r for r in self.runs if r["config"] == config]

    def at_epoch(self, run, epoch):
        return next(e for e in run["held_out_by_epoch"] if e["epoch"] == epoch)

    def rfid(self, run, epoch=None):
        """(rFID, rKID) of ``run``'s held-out reconstructions after ``epoch`` (default: its last)."""
        if self.features is None:
            return None, None
        epoch = epoch or run["epochs"]
        folder = self.cache / f"{run['config']}_seed{run['seed']}"
        reconstructions = np.load(folder / f"epoch{epoch}.npy")
        features = self.features(reconstructions, folder / f"epoch{epoch}.features.npy")
        return fid.fid_from_features(self.real, features), fid.kid_from_features(self.real, features)[0]

    def row(self, name, config, columns):
        group = self.group(config)
        if not group:
            return [name, "not run"] + [""] * (len(columns) - 1)
        cells = []
        for key, fmt in columns:
            if key in ("rfid", "rkid"):
                values = [self.rfid(r)[key == "rkid"] for r in group]
            elif key == "train_mse":
                values = [r["final"]["train_mse"] for r in group]
            else:
                values = [r["final"].get(key) for r in group]
            cells.append(stat(values, fmt))
        return [name] + cells

    def trajectory(self, config, epochs=(1, 25, 50)):
        """Held-out metrics of ``config``'s first seed after each of ``epochs``."""
        group = self.group(config)
        if not group:
            return []
        run, rows = group[0], []
        for epoch in epochs:
            metrics_at = self.at_epoch(run, epoch)
            fid_value, _ = self.rfid(run, epoch)
            rows.append((epoch, metrics_at, fid_value))
        return rows


OURS = [
    ("mse", "{:.5f}"),
    ("psnr", "{:.2f}"),
    ("quantization_loss", "{:.4f}"),
    ("bits_per_image", "{:.0f}"),
    ("codebook_usage", "{:.3f}"),
    ("rfid", "{:.2f}"),
    ("rkid", "{:.4f}"),
]
OURS_HEADINGS = ["held-out MSE", "PSNR dB", "quant. loss", "bits/image", "usage", "rFID", "rKID"]


def paper_table(name):
    return markdown(PAPER[name]["headings"], PAPER[name]["rows"])


def write_report(runs, held_out, out, cache, train, grids="docs/images/paper"):
    report = Report(runs, held_out, train, cache)
    seeds = sorted({r["seed"] for r in runs})
    header = (
        f"Ours: {len(held_out)} held-out images, {runs[0]['epochs'] if runs else 0} epochs, backend "
        f"{runs[0]['backend'] if runs else '-'}, seeds {seeds}; mean ± std (seeds) where more than one seed ran. "
        f"{report.fid_note}.\n"
    )

    def section(paper_name, rows, headings=None):
        text = f"Seed paper:\n\n{paper_table(paper_name)}\nOurs:\n\n"
        tables[paper_name] = text + markdown(["run"] + (headings or OURS_HEADINGS), rows)

    tables = {}
    strategies = [
        ("no quantization loss, T = 1 (keras_fsq)", "fsq"),
        ("regularized (quantization loss), T = 1", "regularized"),
        ("annealed T 1.0 -> 0.1", "annealed"),
    ]
    section(
        "strategies",
        [report.row(name, config, [("train_mse", "{:.5f}")] + OURS) for name, config in strategies],
        ["train MSE"] + OURS_HEADINGS,
    )
    section(
        "levels",
        [
            report.row(f"[{level}]x4 + quantization loss, {level**4} codes", f"levels_{level}", OURS)
            for level in (3, 5, 8, 10)
        ],
    )
    for paper_name, config in (("annealing", "annealed"), ("adaptive", "adaptive")):
        rows = []
        for epoch, at, fid_value in report.trajectory(config):
            temperature = (
                callbacks.scheduled_value(1.0, 0.1, (epoch - 1) / 49, "exponential") if config == "annealed" else 1.0
            )
            rows.append(
                [
                    f"epoch {epoch}",
                    f"{temperature:.3f}",
                    f"{at['reconstruction_loss']:.5f}",
                    f"{at['psnr']:.2f}",
                    f"{at['quantization_loss']:.4f}",
                    f"{at['bits_per_pixel'] * 1024:.0f}",
                    "n/a" if fid_value is None else f"{fid_value:.2f}",
                ]
            )
        section(paper_name, rows, ["temperature", "held-out MSE", "PSNR dB", "quant. loss", "bits/image", "rFID"])
    section(
        "hierarchical",
        [
            report.row("FSQ [8,5,5,5] + quantization loss (baseline)", "regularized", OURS),
            report.row("HierarchicalFSQ, 2 stages of [8,5,5,5]", "hierarchical", OURS),
            report.row("FSQ [8,5,5,5] x 2 codebooks (same bits)", "fsq_x2", OURS),
        ],
    )
    section(
        "vq", [report.row("FSQ [8,5,5,5] (1,000 codes)", "fsq", OURS), report.row("VQ-VAE, 1,000 codes", "vq", OURS)]
    )
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (out / f"{name}.md").write_text(text)
    text = "\n".join([header] + [f"## {name}\n\n{table}" for name, table in tables.items()])
    (out / "tables.md").write_text(text)
    grids = pathlib.Path(grids)
    grids.mkdir(parents=True, exist_ok=True)
    for run in runs:
        if run["seed"] == seeds[0]:
            reconstructions = np.load(report.cache / f"{run['config']}_seed{run['seed']}" / f"epoch{run['epochs']}.npy")
            reporting.save_reconstruction_grid(
                held_out[:12],
                data.to_unit_float(reconstructions[:12]),
                grids / f"{run['config']}.png",
                count=12,
                scale=3,
            )
    print(text)
