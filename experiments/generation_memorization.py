"""How close MaskGIT samples come to the training images: nearest-neighbour distances, and near-copies.

    KERAS_BACKEND=tensorflow python experiments/generation_memorization.py --data-dir ../shared/data

The same 1,085 class-conditional samples as ``generation_report.py`` (seed 0, the
preset's sampling). For each, the RMSE (pixels in [0, 1]) to its nearest training image;
for reference, the same for the 1,085 held-out images and for the tokenizer's own
reconstructions of 1,085 training images (what an exact copy of a training image's
tokens would score). Writes ``experiments/results/generation/memorization.json``.
"""

import argparse
import json
import pathlib

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--near", type=float, default=0.08, help="RMSE under which a sample counts as a near-copy")
args = parser.parse_args()


from keras_fsq import MaskGIT, comparisons, data, presets  # noqa: E402

images, labels = data.load_shared_cifar10(args.data_dir)
train, held_out, held_labels = images[:4000], images[4000:], labels[4000:]
model = MaskGIT.from_preset("maskgit_cifar10")
sampling = presets.get_generator("maskgit_cifar10")["sampling"]
samples = model.generate(len(held_out), class_labels=held_labels, seed=0, **sampling)
copies = model.tokenizer.reconstruct(train[: len(held_out)])
ours, real, copies = (comparisons.nearest_rmse(images, train) for images in (samples, held_out, copies))
result = {
    "samples_mean": float(ours.mean()),
    "samples_min": float(ours.min()),
    f"samples_under_{args.near}": float((ours < args.near).mean()),
    "held_out_mean": float(real.mean()),
    f"held_out_under_{args.near}": float((real < args.near).mean()),
    "training_reconstructions_mean": float(copies.mean()),
}
out = pathlib.Path(__file__).resolve().parent / "results" / "generation" / "memorization.json"
out.write_text(json.dumps(result, indent=1) + "\n")
print(json.dumps(result, indent=1))
