"""Train a preset with its recipe and write the weights that ship inside the package.

    KERAS_BACKEND=torch python experiments/train_presets.py --preset fsq_cifar10 --seed 0 --data-dir ../shared/data

Trains on the first 4,000 bundled CIFAR-10 images, evaluates on the 1,085 held
out with float32 weights and with the same weights rounded to float16, and
writes ``keras_fsq/weights/<preset>.npz`` in float16 when that costs under
0.01 dB of held-out PSNR (float32 otherwise). The held-out metrics go to
``experiments/results/presets/<preset>.json`` (the numbers in docs/presets.md).

``--quantizer vq --out runs/vq_cifar10.keras`` trains the same model and recipe with
another quantizer (a VQ codebook of as many codes) and saves the whole model there
instead, its log beside it (the VQ tokenizer of experiments/generation_report.py):

    KERAS_BACKEND=torch python experiments/train_presets.py --preset fsq_cifar10 --quantizer vq \
        --out runs/vq_cifar10.keras --data-dir ../shared/data

``--from-model`` ships a model trained elsewhere instead of training one, e.g. the tokenizer
``keras-fsq train`` trains (resumably) on the 50,000 JPEGs (``experiments/train_generator.sh``),
evaluated and written the same way:

    python experiments/train_presets.py --preset fsq_cifar10 --from-model runs/generator/tokenizer/model.keras \
        --data-dir ../shared/data
"""

import argparse
import io
import json
import pathlib
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--preset", default="fsq_cifar10")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--quantizer", help="instead of the preset's (e.g. vq); needs --out")
parser.add_argument("--out", type=pathlib.Path, help="save the whole model (.keras) here instead of shipping weights")
parser.add_argument("--from-model", type=pathlib.Path, help="ship this trained .keras model's weights; no training")
args = parser.parse_args()
if args.quantizer and not args.out:
    parser.error("--quantizer needs --out (only the preset's own model ships)")

import keras  # noqa: E402

from keras_fsq import build_fsqvae, data, load_model, preset_weights, presets, reporting, training  # noqa: E402
from keras_fsq.comparisons import best_block_average  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
images, _ = data.load_shared_cifar10(args.data_dir)
train, held_out = images[:4000], images[4000:]
keras.utils.set_random_seed(args.seed)
overrides = {"quantizer": args.quantizer} if args.quantizer else {}
model = build_fsqvae(preset=args.preset, **overrides)
recipe = presets.get_preset(args.preset)["recipe"]
started = time.perf_counter()
if args.from_model:
    model.set_weights(load_model(args.from_model).get_weights())  # refused unless the preset's architecture
    model.compile()  # evaluate() needs a compiled model; no optimizer is used
    (run,) = json.loads(args.from_model.with_name("metrics.json").read_text()).values()  # keras-fsq train's report
    recipe = {**recipe, "epochs": run["epochs"], "trained_by": f"keras-fsq train ({args.from_model})"}
    seconds, train_count = run["train_seconds"], run["train_images"]
else:
    if recipe.get("init"):  # a fine-tuning recipe starts from the shipped weights it names
        preset_weights.load_preset_weights(model, recipe["init"])
    training.fit_with_recipe(model, recipe, train, seed=args.seed, verbose=2)
    seconds, train_count = time.perf_counter() - started, len(train)
full = reporting.evaluate_images(model, held_out)
baseline = best_block_average(held_out, full["bits_per_image"])
if args.out:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    log = {"preset": args.preset, "quantizer": args.quantizer, "seed": args.seed, "train_seconds": seconds}
    args.out.with_suffix(".json").write_text(json.dumps({**log, "held_out": full}, indent=2, default=float) + "\n")
    print(f"held out: {full['psnr']:.2f} dB at {full['bits_per_image']:.0f} bits per image; wrote {args.out}")
    raise SystemExit(0)

buffer = io.BytesIO()
preset_weights.write_weights(model, buffer, dtype="float16")
half = build_fsqvae(preset=args.preset)
preset_weights.read_weights(half, io.BytesIO(buffer.getvalue()))
half.compile()  # evaluate() needs a compiled model; no optimizer is used
rounded = reporting.evaluate_images(half, held_out)
loss_db = full["psnr"] - rounded["psnr"]
if loss_db >= 0.01:
    buffer = io.BytesIO()
    preset_weights.write_weights(model, buffer, dtype="float32")
weights = ROOT / "keras_fsq" / "weights" / presets.PRESETS[args.preset]["weights"]
weights.write_bytes(buffer.getvalue())

result = {
    "preset": args.preset,
    "seed": args.seed,
    "backend": keras.backend.backend(),
    "train_seconds": seconds,
    "train_images": train_count,
    "held_out_images": len(held_out),
    "recipe": recipe,
    "float32": full,
    "float16": rounded,
    "float16_psnr_loss_db": loss_db,
    "shipped_dtype": "float16" if loss_db < 0.01 else "float32",
    "weights_bytes": weights.stat().st_size,
    "block_average": {
        "psnr": baseline[0],
        "bits_per_image": baseline[1],
        "cell": baseline[2],
        "bits_per_value": baseline[3],
    },
}
out = ROOT / "experiments" / "results" / "presets" / f"{args.preset}.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(result, indent=2) + "\n")
print(json.dumps({k: result[k] for k in ("preset", "train_seconds", "float16_psnr_loss_db", "weights_bytes")}))
print(
    f"held out: {full['psnr']:.2f} dB, SSIM {full['ssim']:.3f} at {full['bits_per_image']:.0f} bits per image; "
    f"block average {baseline[0]:.2f} dB at {baseline[1]} bits; wrote {weights}"
)
