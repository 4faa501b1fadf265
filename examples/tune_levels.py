"""Search FSQ quantization levels at fixed codebook budgets with KerasTuner.

    python examples/tune_levels.py --data-dir ../shared/data            # 12 trials, a few minutes on a GPU
    python examples/tune_levels.py --data-dir ../shared/data --quick    # 2 trials, 1 epoch (what CI runs)

On a GPU nothing changes: Keras places the models on it when the backend sees one.
"""

import argparse
import pathlib

from keras_fsq import data, search_results, tuning

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--out", default="runs/tune_levels")
parser.add_argument("--quick", action="store_true", help="a tiny budget that only shows the search runs")
args = parser.parse_args()

images, _ = data.load_shared_cifar10(args.data_dir)
images = images[:96] if args.quick else images
train, held_out = images[: len(images) * 4 // 5], images[len(images) * 4 // 5 :]

# Level lists with 2^8 or 2^10 codes, e.g. [8, 6, 5] or [8, 5, 5, 5]; plus latent size,
# temperature schedule and learning rate.
space = tuning.SearchSpace(codebook_bits=(8, 10), code_dims=(3, 4), latent_dims=(32, 64))
hypermodel = tuning.FSQVAEHyperModel(
    space,
    objective="rate_distortion",  # held-out BCE + 0.01 * bits per pixel
    rate_weight=0.01,
    widths=(8, 16) if args.quick else (32, 64, 128, 256),
)
tuner = tuning.make_tuner(
    hypermodel, "bayesian", max_trials=2 if args.quick else 12, directory=args.out, overwrite=True
)
print(f"searching on {tuning.accelerator()}")
tuner.search(train, validation_data=(held_out,), epochs=1 if args.quick else 4, batch_size=64, verbose=0)

rows = search_results.results_table(tuner)  # best first
print(search_results.markdown_results(rows))
print("best levels:", rows[0]["levels"])
search_results.plot_pareto_front(rows, pathlib.Path(args.out) / "pareto.png")
