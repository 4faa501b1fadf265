"""What fine-tuning the shipped codecs on a domain buys: ``keras-fsq train`` on 80 Urban100 photos, 20 held out.

    python experiments/codec_domain.py select --data-dir ../shared/data --learning-rates 3e-5,1e-4,3e-4
    python experiments/codec_domain.py final --data-dir ../shared/data --learning-rate 1e-4

Runs the command a user runs, ``keras-fsq train --preset fsq_dct_q<Q> --data FOLDER --out DIR``, in
a fresh process per run (PyTorch backend, one thread), and continues a run that stopped
(``--resume``) or skips a finished one, so the command can be run again until it is done.

``select`` chooses the learning rate on the 80 training photos alone (quality 3; the command's
default split holds out the last 16 of them): the 20 reported photos never choose anything.
``final`` fine-tunes each quality on the first 80 photos of ``photos/urban100`` and reports,
on the last 20, the BD-rate of the fine-tuned codecs against the shipped ones, JPEG, WebP and
AVIF (``keras_fsq.comparisons.bd_rate``, PSNR), and writes ``domain_urban100.md``/``.json`` and
``domain_urban100.png`` under ``--results``.

The shipped codecs trained on random crops of all 229 photos in ``photos/``, the 20 held-out
Urban100 photos among them: the comparison with the shipped codecs favours the shipped ones.
"""

import argparse
import json
import os
import pathlib
import subprocess

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("stage", choices=["select", "final"])
parser.add_argument("--data-dir", help="the folder holding photos/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--learning-rates", default="3e-5,1e-4,3e-4", help="select: the candidates")
parser.add_argument("--learning-rate", type=float, help="final: the one select chose")
parser.add_argument("--qualities", default="1,2,3,4,5,6")
parser.add_argument("--train", type=int, default=80, help="the first N photos train, the rest are held out")
parser.add_argument("--steps-per-epoch", type=int, help="instead of the recipe's 500 (a smoke run)")
parser.add_argument("--runs", type=pathlib.Path, default=pathlib.Path("runs/domain"))
parser.add_argument("--results", type=pathlib.Path, default=pathlib.Path("experiments/results/codecs"))
args = parser.parse_args()

from keras_fsq import data  # noqa: E402

photos = data.resolve_data_dir(args.data_dir) / "photos" / "urban100"
ENVIRONMENT = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def train(quality, folder, out, learning_rate, train_size=None):
    """``keras-fsq train`` of quality ``quality`` on ``folder`` into ``out`` (resumed or skipped as it stands)."""
    if (out / "metrics.json").is_file():
        return json.loads((out / "metrics.json").read_text())
    command = ["keras-fsq", "train", "--preset", f"fsq_dct_q{quality}", "--data", str(folder), "--out", str(out)]
    command += ["--learning-rate", str(learning_rate), "--seed", "0"]
    command += ["--train-size", str(train_size)] if train_size else []
    command += ["--steps-per-epoch", str(args.steps_per_epoch)] if args.steps_per_epoch else []
    command += ["--resume"] if (out / "checkpoint").is_dir() else []
    print(" ".join(command), flush=True)
    subprocess.run(command, env=ENVIRONMENT, check=True)
    return json.loads((out / "metrics.json").read_text())


def select():
    """Quality 3 at each learning rate on the training photos only (their last fifth held out)."""
    training = args.runs / "training_photos"
    training.mkdir(parents=True, exist_ok=True)
    for path in data.image_paths(photos)[: args.train]:
        if not (training / path.name).exists():
            (training / path.name).symlink_to(path.resolve())
    rows = []
    for rate in args.learning_rates.split(","):
        report = train(3, training, args.runs / f"select_lr{rate}", float(rate))
        tuned = report["fine_tuned"]
        rows.append(
            f"| {rate} | {tuned['bits_per_pixel']:.3f} | {tuned['psnr']:.2f} "
            f"| {tuned['psnr'] - report['psnr_at_fine_tuned_bits']['shipped']:+.2f} "
            f"| {100 * report['rate_change_vs_shipped']:+.1f}% |"
        )
    lines = [
        f"Quality 3 fine-tuned on the first {args.train} Urban100 photos at each learning rate, measured on the "
        "last fifth of them (the 20 reported photos not used).",
        "",
        "| learning rate | bits / pixel | PSNR (dB) | against the shipped codecs at equal bits | size at equal PSNR |",
        "|---|---|---|---|---|",
        *rows,
    ]
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "domain_urban100_select.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def final():
    from keras_fsq.comparisons import bd_rate

    reports = {
        q: train(q, photos, args.runs / f"q{q}", args.learning_rate, args.train)
        for q in (int(v) for v in args.qualities.split(","))
    }
    first = next(iter(reports.values()))
    tuned = [report["fine_tuned"] for report in reports.values()]
    families = {"fine-tuned": tuned, **first["families"]}
    summary = {"learning_rate": args.learning_rate, "held_out_photos": first["photos"], "bd_rate": {}}
    lines = [
        f"Urban100: the shipped codecs fine-tuned on its first {args.train} photos (`keras-fsq train --preset "
        f"fsq_dct_q<Q> --data photos/urban100 --train-size {args.train} --learning-rate {args.learning_rate}`), "
        f"measured on the other {first['photos']}.",
        "",
        "| quality | fine-tuned bpp | PSNR (dB) | shipped bpp | PSNR (dB) | shipped table weight |",
        "|---|---|---|---|---|---|",
    ]
    for (quality, report), shipped in zip(reports.items(), first["families"]["shipped"]):
        own = report["fine_tuned"]
        lines.append(
            f"| {quality} | {own['bits_per_pixel']:.3f} | {own['psnr']:.2f} | {shipped['bits_per_pixel']:.3f} "
            f"| {shipped['psnr']:.2f} | {report['shipped_table_weight']:g} |"
        )
    lines.append("")
    for name, rows in first["families"].items():
        try:
            value = bd_rate(
                [r["bits_per_pixel"] for r in rows],
                [r["psnr"] for r in rows],
                [r["bits_per_pixel"] for r in tuned],
                [r["psnr"] for r in tuned],
            )
        except ValueError as error:
            lines.append(f"BD-rate against {name}: not defined ({error})")
            continue
        summary["bd_rate"][name] = value
        label = "the shipped codecs" if name == "shipped" else name
        lines.append(f"BD-rate of the fine-tuned codecs against {label} (PSNR): {value:+.1f}%")
    shipped_vs = {}
    for name in ("JPEG", "WebP", "AVIF"):
        rows = first["families"].get(name)
        if rows:
            shipped_vs[name] = bd_rate(
                [r["bits_per_pixel"] for r in rows],
                [r["psnr"] for r in rows],
                [r["bits_per_pixel"] for r in first["families"]["shipped"]],
                [r["psnr"] for r in first["families"]["shipped"]],
            )
            lines.append(f"BD-rate of the shipped codecs against {name} on these photos: {shipped_vs[name]:+.1f}%")
    summary["shipped_bd_rate"] = shipped_vs
    seconds = sum(report["train_seconds"] for report in reports.values())
    lines.append(f"Training: {seconds / 60:.0f} CPU-minutes for the {len(reports)} qualities (one thread).")
    text = "\n".join(lines) + "\n"
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "domain_urban100.md").write_text(text)
    report = {"summary": summary, "families": families, "runs": {q: r["recipe"] for q, r in reports.items()}}
    (args.results / "domain_urban100.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    plot(families, args.results / "domain_urban100.png")
    print(text)


def plot(families, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    for name, rows in families.items():
        rows = sorted(rows, key=lambda r: r["bits_per_pixel"])
        style = "o-" if name in ("fine-tuned", "shipped") else ".--"
        axes.plot([r["bits_per_pixel"] for r in rows], [r["psnr"] for r in rows], style, label=name)
    axes.set_xlim(0, 2.2)
    axes.set_xlabel("bits per pixel")
    axes.set_ylabel("PSNR (dB)")
    axes.set_title("20 held-out Urban100 photos")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    select() if args.stage == "select" else final()
