"""Learning per CPU-hour: codec candidates trained the same way, BSD68 quality against training time.

    # one candidate per process, on one core, its curve to experiments/results/learning_curves/<name>.json
    KERAS_BACKEND=torch python benchmarks/codec_learning_curves.py train fsq_photo --minutes 45
    python benchmarks/codec_learning_curves.py train bmshj2018_factorized --minutes 45
    # the table and plot of every curve written so far
    python benchmarks/codec_learning_curves.py report

Every candidate sees the same batches (8 random 128x128 crops of the 229
photos of ``<data-dir>/photos``, left-right flipped with probability 1/2,
drawn from ``numpy.random.default_rng((seed, step))``), the same objective
``MSE + rate_weight * R / (H W)`` (pixels in [0, 1], ``R`` the estimated bits;
0.006 is the shipped quality 3), Adam at one constant learning rate, and one
thread (``torch.set_num_threads(1)``): PyTorch runs both our Keras models
(``KERAS_BACKEND=torch``) and CompressAI's. The clock counts training steps
only; at each ``--evals`` minute mark the model codes the 68 BSD68 photos
(never trained on; cropped to a multiple of 16 on each side) and the curve
records their mean PSNR (of the clipped float reconstruction) and mean bits
per pixel estimated by the model's entropy model (ours: the learned prior's
bits; CompressAI's: ``-log2`` of its likelihoods in eval mode), and the
rate-distortion cost ``MSE + rate_weight * bpp`` that training minimises.

Candidates:

* ``fsq_photo``: the first shipped codecs' design (``build_fsqvae(preset="fsq_photo_base")``:
  stride-16 conv transforms, 24 FSQ codebooks of [15, 15, 15, 15], checkerboard prior).
* ``block_dct``: ``build_fsqvae(preset="fsq_dct_base")``: YCbCr 4:2:0 and an 8x8 DCT
  (a stride-8 convolution) initialised as JPEG's transform at quality 30, learned
  residual refinements, gains and deblocking filter, factorized prior
  (``keras_fsq.block_transform``).
* ``bmshj2018_factorized``: CompressAI's ``bmshj2018_factorized(quality=3)``
  (N=128, M=192; GDN transforms, factorized entropy bottleneck), trained from
  scratch; its entropy bottleneck's auxiliary loss with a second Adam at 1e-3,
  as CompressAI's example trainer. Needs ``compressai`` (1.2.8 imports
  torchvision's transforms only to register them; where torchvision is absent
  this script registers an empty stand-in module so that CompressAI imports).
"""

import argparse
import json
import pathlib
import sys
import time
import types

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results" / "learning_curves"
KERAS_CANDIDATES = {"fsq_photo": "fsq_photo_base", "block_dct": "fsq_dct_base"}  # candidate: its preset
CANDIDATES = (*KERAS_CANDIDATES, "bmshj2018_factorized")
CROP, BATCH = 128, 8


def read_rgb(path):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def photo_paths(folder):
    return sorted(p for p in pathlib.Path(folder).rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})


def training_batch(photos, seed, step):
    """Batch ``step``: ``BATCH`` random ``CROP`` crops (float32 NHWC in [0, 1]), the same for every candidate."""
    rng = np.random.default_rng((seed, step))
    batch = []
    for choice in rng.integers(0, len(photos), BATCH):
        photo = photos[choice]
        top = rng.integers(0, photo.shape[0] - CROP + 1)
        left = rng.integers(0, photo.shape[1] - CROP + 1)
        crop = photo[top : top + CROP, left : left + CROP]
        batch.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return np.stack(batch).astype("float32") / 255.0


def evaluation_photos(folder):
    """The BSD68 photos as float32 (1, H, W, 3), cropped to multiples of 16."""
    photos = []
    for path in photo_paths(folder):
        photo = read_rgb(path)
        height, width = photo.shape[0] // 16 * 16, photo.shape[1] // 16 * 16
        photos.append(photo[None, :height, :width].astype("float32") / 255.0)
    return photos


class KerasCandidate:
    """A keras_fsq codec preset's model, on the torch backend."""

    def __init__(self, preset, rate_weight, learning_rate):
        import keras

        from keras_fsq import build_fsqvae

        self.keras = keras
        self.model = build_fsqvae(preset=preset, rate_weight=rate_weight)
        self.model.compile(optimizer=keras.optimizers.Adam(learning_rate))

    def train_step(self, batch):
        self.model.train_on_batch(batch)

    def code(self, photo):
        """(reconstruction in [0, 1], estimated bits) of one (1, H, W, 3) photo."""
        outputs = self.model(photo, training=False)
        to_numpy = self.keras.ops.convert_to_numpy
        return np.clip(to_numpy(outputs["reconstruction"]), 0, 1), float(to_numpy(outputs["rate_bits"])[0])


def import_compressai():
    try:
        import torchvision  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("torchvision")
        stand_in.transforms = types.ModuleType("torchvision.transforms")
        sys.modules["torchvision"], sys.modules["torchvision.transforms"] = stand_in, stand_in.transforms
    import compressai.zoo

    return compressai.zoo


class Bmshj2018Factorized:
    """CompressAI's ``bmshj2018_factorized(quality=3)`` from scratch."""

    def __init__(self, rate_weight, learning_rate):
        import torch

        self.torch = torch
        self.net = import_compressai().bmshj2018_factorized(quality=3, pretrained=False)
        main = [p for n, p in self.net.named_parameters() if not n.endswith(".quantiles")]
        aux = [p for n, p in self.net.named_parameters() if n.endswith(".quantiles")]
        self.optimizer = torch.optim.Adam(main, lr=learning_rate)
        self.aux_optimizer = torch.optim.Adam(aux, lr=1e-3)
        self.rate_weight = rate_weight

    def bits(self, likelihoods):
        return sum(-self.torch.log2(value).sum() for value in likelihoods.values())

    def train_step(self, batch):
        torch = self.torch
        self.net.train()
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()
        out = self.net(x)
        bpp = self.bits(out["likelihoods"]) / (x.shape[0] * x.shape[2] * x.shape[3])
        loss = torch.mean((out["x_hat"] - x) ** 2) + self.rate_weight * bpp
        self.optimizer.zero_grad()
        self.aux_optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.optimizer.step()
        self.net.aux_loss().backward()
        self.aux_optimizer.step()

    def code(self, photo):
        torch = self.torch
        self.net.eval()
        with torch.no_grad():
            out = self.net(torch.from_numpy(photo).permute(0, 3, 1, 2).contiguous())
        x_hat = out["x_hat"].clamp(0, 1).permute(0, 2, 3, 1).numpy()
        return x_hat, float(self.bits(out["likelihoods"]))


def evaluate(candidate, photos, rate_weight):
    psnrs, bpps, mses = [], [], []
    for photo in photos:
        reconstruction, bits = candidate.code(photo)
        mse = float(np.mean((reconstruction - photo) ** 2))
        mses.append(mse)
        psnrs.append(10 * np.log10(1 / mse))
        bpps.append(bits / (photo.shape[1] * photo.shape[2]))
    return {
        "psnr": float(np.mean(psnrs)),
        "bits_per_pixel": float(np.mean(bpps)),
        "rd_cost": float(np.mean(mses) + rate_weight * np.mean(bpps)),
    }


def train(args):
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    data_dir = pathlib.Path(args.data_dir)
    photos = [read_rgb(path) for path in photo_paths(data_dir / "photos")]
    bsd68 = evaluation_photos(data_dir / "bsd68")
    if args.candidate in KERAS_CANDIDATES:
        import keras

        keras.utils.set_random_seed(args.seed)
        candidate = KerasCandidate(KERAS_CANDIDATES[args.candidate], args.rate_weight, args.learning_rate)
    else:
        candidate = Bmshj2018Factorized(args.rate_weight, args.learning_rate)
    marks = sorted(float(m) for m in args.evals.split(",") if float(m) <= args.minutes)
    curve, trained_seconds, step = [], 0.0, 0
    out = pathlib.Path(args.out or RESULTS / f"{args.candidate}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    for mark in marks:
        while trained_seconds < 60 * mark:
            batch = training_batch(photos, args.seed, step)
            started = time.perf_counter()
            candidate.train_step(batch)
            trained_seconds += time.perf_counter() - started
            step += 1
        point = {"minutes": trained_seconds / 60, "steps": step, **evaluate(candidate, bsd68, args.rate_weight)}
        curve.append(point)
        print(
            f"{args.candidate}: {point['minutes']:.1f} min, {step} steps: {point['psnr']:.2f} dB at "
            f"{point['bits_per_pixel']:.3f} bpp (cost {point['rd_cost']:.5f})",
            flush=True,
        )
        record = {
            "candidate": args.candidate,
            "seed": args.seed,
            "rate_weight": args.rate_weight,
            "learning_rate": args.learning_rate,
            "crop": CROP,
            "batch_size": BATCH,
            "threads": 1,
            "torch": torch.__version__,
            "curve": curve,
        }
        out.write_text(json.dumps(record, indent=1) + "\n")


def report(args):
    runs = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]
    lines = [
        "| candidate | minutes | steps | BSD68 PSNR (dB) | bpp (estimated) | MSE + w bpp |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        for point in run["curve"]:
            lines.append(
                f"| {run['candidate']} | {point['minutes']:.1f} | {point['steps']} | {point['psnr']:.2f} | "
                f"{point['bits_per_pixel']:.3f} | {point['rd_cost']:.5f} |"
            )
    table = "\n".join(lines)
    print(table)
    (RESULTS / "curves.md").write_text(table + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for run in runs:
        minutes = [p["minutes"] for p in run["curve"]]
        for axis, key in zip(axes, ("psnr", "bits_per_pixel", "rd_cost")):
            axis.plot(minutes, [p[key] for p in run["curve"]], marker="o", label=run["candidate"])
    for axis, label in zip(axes, ("BSD68 PSNR (dB)", "bits per pixel (estimated)", "MSE + w bpp (lower is better)")):
        axis.set_xlabel("training minutes, 1 CPU thread")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "curves.png", dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train one candidate and record its curve")
    run.add_argument("candidate", choices=CANDIDATES)
    run.add_argument("--minutes", type=float, default=45.0, help="training minutes (steps only)")
    run.add_argument("--evals", default="1,3,6,10,15,22,30,45,60,90,120", help="minute marks of the BSD68 evaluations")
    run.add_argument("--rate-weight", type=float, default=0.006)
    run.add_argument("--learning-rate", type=float, default=5e-4)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    run.add_argument("--out", help="the curve's JSON file")
    commands.add_parser("report", help="table and plot of the recorded curves")
    args = parser.parse_args()
    train(args) if args.command == "train" else report(args)


if __name__ == "__main__":
    main()
