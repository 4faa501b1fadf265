"""What temperature annealing does to the default preset's model: no annealing against the three temperature modes.

    KERAS_BACKEND=torch python experiments/annealing.py --data-dir ../shared/data --epochs 15

Trains the ``fsq_cifar10`` preset's model (conv, 8x8 grid of FSQ [8,5,5,5], MSE,
warmup + cosine learning rate, flips) on the first 4,000 bundled CIFAR-10 images
with FSQ's ``temperature_mode`` ``"bound"`` (the seed's: T inside the tanh),
``"soft"`` and ``"noise"`` annealed exponentially, and without annealing; prints
held-out PSNR and codebook usage (the table in docs/concepts/temperature.md).
"""

import argparse
import json

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--epochs", type=int, default=15)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

import keras  # noqa: E402

from keras_fsq import FSQ, FSQVAE, ConvDecoder, ConvEncoder, data, presets, training  # noqa: E402

RUNS = {
    "no annealing (T = 1)": ("bound", None),
    "bound, exponential 1.0 -> 0.1": ("bound", {"start": 1.0, "end": 0.1, "schedule": "exponential"}),
    "soft, exponential 1.0 -> 0.01": ("soft", {"start": 1.0, "end": 0.01, "schedule": "exponential"}),
    "noise, exponential 1.0 -> 0.01": ("noise", {"start": 1.0, "end": 0.01, "schedule": "exponential"}),
}
images, _ = data.load_shared_cifar10(args.data_dir)
train, held_out = images[:4000], images[4000:]
model_config = presets.get_preset("fsq_cifar10")["model"]
print("| training | held-out PSNR (dB) | codebook usage |\n|---|---|---|")
for name, (mode, anneal) in RUNS.items():
    keras.utils.set_random_seed(args.seed)
    levels, widths = model_config["levels"], model_config["widths"]
    model = FSQVAE(
        ConvEncoder(len(levels), widths),
        FSQ(levels, temperature_mode=mode, seed=args.seed),
        ConvDecoder(3, widths[::-1]),
        reconstruction_loss="mse",
    )
    model.build((None, 32, 32, 3))
    recipe = {**presets.get_preset("fsq_cifar10")["recipe"], "epochs": args.epochs, "anneal": anneal}
    training.fit_with_recipe(model, recipe, train, seed=args.seed, verbose=0)
    result = model.evaluate(held_out, batch_size=256, verbose=0, return_dict=True)
    print(f"| {name} | {result['psnr']:.2f} | {result['codebook_usage']:.3f} |", flush=True)
    print(json.dumps({"run": name, "backend": keras.backend.backend(), **{k: float(v) for k, v in result.items()}}))
