"""Training and inference images per second of the presets' models, on the current backend.

    KERAS_BACKEND=torch python benchmarks/preset_throughput.py [--steps 20]

For each preset: ``train_on_batch`` images/s (batch 64, the preset's optimizer, median
of ``--steps`` steps after 3 warm-up steps) and ``reconstruct`` images/s on 1,024
images. Prints the device Keras computes on; run once per backend and compare there.
"""

import argparse
import time

import keras
import numpy as np
from training_throughput import step_seconds  # this folder is on sys.path when the script runs

from keras_fsq import build_fsqvae, presets, training
from keras_fsq.tuning import accelerator

PRESETS = ("fsq_cifar10", "fsq_cifar10_paper", "fsq_conv4x4_10bit", "fsq_conv8x8_16bit")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    batch = rng.uniform(size=(64, 32, 32, 3)).astype("float32")
    many = rng.uniform(size=(1024, 32, 32, 3)).astype("float32")
    print(f"backend {keras.backend.backend()} on {accelerator()}; batch 64, median of {args.steps} steps\n")
    print("| preset | parameters | train images/s | reconstruct images/s |\n|---|---|---|---|")
    for name in PRESETS:
        keras.utils.set_random_seed(0)
        model = build_fsqvae(preset=name)
        model.compile(optimizer=training.recipe_optimizer(presets.get_preset(name)["recipe"], 1000))
        train = len(batch) / step_seconds(model, batch, args.steps)
        model.reconstruct(many[:64])  # warm up
        start = time.perf_counter()
        model.reconstruct(many, batch_size=256)
        infer = len(many) / (time.perf_counter() - start)
        print(f"| {name} | {model.count_params():,} | {train:.0f} | {infer:.0f} |", flush=True)


if __name__ == "__main__":
    main()
