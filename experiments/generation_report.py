"""Generation measured on held-out CIFAR-10: FID/KID of MaskGIT samples beside baselines, sweeps, memorization, speed.

    KERAS_BACKEND=torch python experiments/generation_report.py --data-dir ../shared/data \
        --out experiments/results/generation [--vq-generator runs/maskgit_vq.keras] \
        [--factorized-generator runs/maskgit_factorized.keras]

The generator is the shipped ``maskgit_cifar10`` (or ``--generator FILE.keras``).
Every FID/KID compares 1,085 images with the 1,085 held-out bundled images (the
last 1,085; nothing here trained on them), with the project's Inception network:

* the real-vs-real floor: 1,085 training images against the held-out ones;
* the tokenizer's rFID: the held-out images' reconstructions;
* samples: one per held-out image, of its class (the held-out class histogram), at the
  preset's sampling settings, then swept over decoding steps and guidance;
* the independent-positions baseline: each grid position drawn from its marginal over
  the training tokens of the sample's class (no dependence between positions);
* ``--vq-generator``: the same transformer and budget on a VQ tokenizer's tokens
  (``experiments/train_presets.py --quantizer vq``, then ``train_maskgit.py --tokenizer``),
  with each tokenizer's code usage on the training images (the FSQ paper's other claim);
* ``--factorized-generator``: the same transformer and budget over the same FSQ tokens,
  predicted as per-dimension symbols (``train_maskgit.py --factorized``).

Memorization: the distance (RMSE over pixels) of each sample to its nearest training
image (the generator's training set: by default the 48,915 JPEGs of shared-cifar10-jpeg50k,
``--train-set bundled`` for the first 4,000 bundled images), beside the same for the held-out
images: mean, median, and the fraction under 0.08 (near-copies). Speed: seconds for 1,000
samples at the preset's settings (guidance doubles the transformer passes).
Writes ``generation.json``, ``generation.md`` and a class grid ``samples.png``.
"""

import argparse
import json
import pathlib
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--generator", help="a .keras MaskGIT (default: the shipped maskgit_cifar10)")
parser.add_argument("--vq-generator", help="a .keras MaskGIT over a VQ tokenizer, for FSQ vs VQ")
parser.add_argument("--factorized-generator", help="a .keras MaskGIT with factorized heads, for one index vs symbols")
parser.add_argument("--steps", default="4,12", help="decoding steps to sweep beside the preset's")
parser.add_argument("--guidance", default="0,2", help="guidance values to sweep beside the preset's")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument(
    "--train-set", default="jpeg50k", choices=["jpeg50k", "bundled"], help="what the generator trained on"
)
parser.add_argument("--count", type=int, default=1085, help="held-out images (and samples) per FID; 1,085: all")
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("experiments/results/generation"))
args = parser.parse_args()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_fsq import MaskGIT, class_folders, comparisons, data, fid, inception  # noqa: E402
from keras_fsq.presets import get_generator  # noqa: E402
from keras_fsq.reporting import save_image_grid  # noqa: E402
from keras_fsq.saving import load_model  # noqa: E402

NEAR_COPY = 0.08  # RMSE under which an image counts as a near-copy of a training image
images, labels = data.load_shared_cifar10(args.data_dir)
start = class_folders.HELD_OUT_START
held_out, held_labels = images[start : start + args.count], labels[start : start + args.count]
if args.train_set == "bundled":
    train, train_labels = images[:start], labels[:start]
else:  # the JPEGs of the held-out images are not among them
    jpegs, train_labels, _ = class_folders.load_cifar10_jpeg(args.data_dir)
    train = data.to_unit_float(jpegs)
model = load_model(args.generator) if args.generator else MaskGIT.from_preset("maskgit_cifar10")
sampling = get_generator("maskgit_cifar10")["sampling"]
extract = inception.inception_features()
real = extract(held_out)


def as_files(pixels):
    return (np.clip(pixels, 0, 1) * 255).round().astype("uint8")  # what a PNG would hold


def scores(pixels):
    features = extract(as_files(pixels))
    return {"fid": fid.fid_from_features(real, features), "kid": fid.kid_from_features(real, features)[0]}


def sample(generator, **overrides):
    settings = {**sampling, **overrides}
    return generator.generate(len(held_out), class_labels=held_labels, seed=args.seed, **settings), settings


def independent_positions(tokenizer, seed):
    """Each position drawn from its marginal over the training tokens of the sample's class."""
    tokens = tokenizer.encode(train)
    shape, vocabulary = tokens.shape[1:], tokenizer.quantizer.codebook_size
    rng, out = np.random.default_rng(seed), np.zeros((len(held_out), *shape), "int32")
    for label in np.unique(held_labels):
        flat = tokens[train_labels == label].reshape(-1, int(np.prod(shape)))
        for position in range(flat.shape[1]):
            counts = np.bincount(flat[:, position], minlength=vocabulary)
            chosen = held_labels == label
            out.reshape(len(out), -1)[chosen, position] = rng.choice(vocabulary, chosen.sum(), p=counts / counts.sum())
    return tokenizer.decode(out)


report = {"backend": keras.backend.backend(), "seed": args.seed, "held_out": len(held_out), "sampling": sampling}
report["real_vs_real"] = scores(images[: len(held_out)])  # lossless training images
report["tokenizer_rfid"] = scores(model.tokenizer.reconstruct(held_out))
samples, _ = sample(model)
report["samples"] = scores(samples)
report["independent_positions"] = scores(independent_positions(model.tokenizer, args.seed))
report["steps"] = {s: scores(sample(model, steps=int(s))[0]) for s in args.steps.split(",")}
report["guidance"] = {g: scores(sample(model, guidance=float(g))[0]) for g in args.guidance.split(",")}
if args.vq_generator:
    vq = load_model(args.vq_generator)
    report["vq_tokenizer_rfid"] = scores(vq.tokenizer.reconstruct(held_out))
    report["vq_samples"] = scores(sample(vq)[0])
    report["code_usage"] = {  # the fraction of the codebook the training images' tokens use
        name: len(np.unique(tokenizer.encode(train))) / tokenizer.quantizer.codebook_size
        for name, tokenizer in (("fsq", model.tokenizer), ("vq", vq.tokenizer))
    }
if args.factorized_generator:
    report["factorized_samples"] = scores(sample(load_model(args.factorized_generator))[0])
nearest = {
    name: comparisons.nearest_rmse(pixels, train) for name, pixels in (("samples", samples), ("held_out", held_out))
}
report["memorization"] = {
    "train_set": args.train_set,
    "train_images": len(train),
    **{f"{name}_nearest_train_rmse": float(d.mean()) for name, d in nearest.items()},
    **{f"{name}_nearest_train_rmse_median": float(np.median(d)) for name, d in nearest.items()},
    **{f"{name}_near_copies": float((d < NEAR_COPY).mean()) for name, d in nearest.items()},
}
model.generate(50, class_labels=np.zeros(50, "int32"), seed=1, **sampling)  # warm up compiled functions
started = time.perf_counter()
model.generate(1000, class_labels=np.arange(1000) % 10, seed=2, **sampling)
report["seconds_per_1000_samples"] = time.perf_counter() - started

args.out.mkdir(parents=True, exist_ok=True)
(args.out / "generation.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
grid = np.concatenate([model.generate(10, class_labels=np.full(10, c), seed=c, **sampling) for c in range(10)])
save_image_grid(grid, args.out / "samples.png", columns=10, scale=2)
rows = [
    (f"real vs real ({len(held_out)} training images)", report["real_vs_real"]),
    ("tokenizer reconstructions (rFID)", report["tokenizer_rfid"]),
    (
        f"MaskGIT samples ({sampling['steps']} steps, guidance {sampling['guidance']}, temperature "
        f"{sampling['temperature']}, choice temperature {sampling['choice_temperature']})",
        report["samples"],
    ),
    ("independent positions (per-class marginals)", report["independent_positions"]),
]
rows += [(f"MaskGIT, {s} steps (guidance {sampling['guidance']})", v) for s, v in report["steps"].items()]
rows += [(f"MaskGIT, guidance {g} ({sampling['steps']} steps)", v) for g, v in report["guidance"].items()]
if args.vq_generator:
    rows += [
        ("VQ tokenizer reconstructions", report["vq_tokenizer_rfid"]),
        ("MaskGIT on VQ tokens", report["vq_samples"]),
    ]
if args.factorized_generator:
    rows.append(("MaskGIT with factorized heads (same tokens)", report["factorized_samples"]))
lines = [f"| {len(held_out)} images against the {len(held_out)} held-out | FID | KID |", "|---|---|---|"]
lines += [f"| {name} | {v['fid']:.2f} | {v['kid']:.4f} |" for name, v in rows]
memo = report["memorization"]
lines += [
    "",
    f"Nearest of the {memo['train_images']:,} training images (RMSE, mean / median): samples "
    f"{memo['samples_nearest_train_rmse']:.4f} / {memo['samples_nearest_train_rmse_median']:.4f}, held-out images "
    f"{memo['held_out_nearest_train_rmse']:.4f} / {memo['held_out_nearest_train_rmse_median']:.4f} (median ratio "
    f"{memo['samples_nearest_train_rmse_median'] / memo['held_out_nearest_train_rmse_median']:.2f}); near-copies "
    f"(RMSE < {NEAR_COPY}): samples {memo['samples_near_copies']:.1%}, held-out {memo['held_out_near_copies']:.1%}.",
    f"1,000 samples: {report['seconds_per_1000_samples']:.1f} s ({keras.backend.backend()}).",
]
if args.vq_generator:
    usage = report["code_usage"]
    lines.append(f"Codes used by the training images' tokens: FSQ {usage['fsq']:.1%}, VQ {usage['vq']:.1%}.")
(args.out / "generation.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
