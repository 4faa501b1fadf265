"""The adversarial weight of the CIFAR-10 tokenizer: held-out PSNR and rFID against it.

    KERAS_BACKEND=torch python experiments/gan_tokenizer_sweep.py --weights 0,0.03,0.1,0.3 --epochs 40 --seed 0 \
        --data-dir ../shared/data

Each run starts from the shipped ``fsq_cifar10`` weights and fine-tunes on the
first 4,000 bundled CIFAR-10 images with ``fsq_cifar10_gan``'s recipe and the
given adversarial weight (0: the same fine-tune without a discriminator; with
``--decoder-only`` the encoder stays fixed, so the tokens do too), then
measures PSNR and rFID/rKID (Inception features of the 1,085 held-out images
against their reconstructions). Results go to
``experiments/results/presets/gan_sweep.json`` and ``.md`` (``gan_sweep_<epochs>ep`` for other
than 10 epochs); ``--save-dir`` keeps the models.
"""

import argparse
import json
import pathlib
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--weights", default="0,0.03,0.1,0.3")
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--decoder-only", action="store_true", help="train the decoder only: the tokens stay fsq_cifar10's")
parser.add_argument("--save-dir", type=pathlib.Path, help="also save each fine-tuned model here (gan_w<weight>.keras)")
args = parser.parse_args()

import keras  # noqa: E402

from keras_fsq import build_fsqvae, data, fid, inception, preset_weights, presets, reporting, training  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "experiments" / "results" / "presets"
images, _ = data.load_shared_cifar10(args.data_dir)
train, held_out = images[:4000], images[4000:]
extract = inception.inception_features()
real = extract(held_out)
rows = []
for weight in [float(w) for w in args.weights.split(",")]:
    keras.utils.set_random_seed(args.seed)
    model = build_fsqvae(preset="fsq_cifar10_gan", adversarial_weight=weight)
    preset_weights.load_preset_weights(model, "fsq_cifar10")
    if args.decoder_only:  # the same tokens as fsq_cifar10: a prior trained on them stays valid
        model.encoder.trainable = model.quantizer.trainable = False
    recipe = {**presets.get_preset("fsq_cifar10_gan")["recipe"], "epochs": args.epochs}
    started = time.perf_counter()
    training.fit_with_recipe(model, recipe, train, seed=args.seed, verbose=0)
    seconds = time.perf_counter() - started
    if args.save_dir:
        args.save_dir.mkdir(parents=True, exist_ok=True)
        model.save(args.save_dir / f"gan_w{weight}{'_decoder' if args.decoder_only else ''}.keras")
    held = reporting.evaluate_images(model, held_out)
    features = extract((model.reconstruct(held_out) * 255).round().astype("uint8"))  # as 8-bit files
    row = {
        "adversarial_weight": weight,
        "epochs": args.epochs,
        "decoder_only": args.decoder_only,
        "train_seconds": seconds,
        "psnr": held["psnr"],
        "bits_per_image": held["bits_per_image"],
        "rfid": fid.fid_from_features(real, features),
        "rkid": fid.kid_from_features(real, features)[0],
    }
    rows.append(row)
    print(json.dumps(row), flush=True)
name = "gan_sweep" + (f"_{args.epochs}ep" if args.epochs != 10 else "") + ("_decoder" if args.decoder_only else "")
(OUT / f"{name}.json").write_text(
    json.dumps({"seed": args.seed, "backend": keras.backend.backend(), "runs": rows}, indent=1) + "\n"
)
lines = [
    "| adversarial weight | epochs | PSNR (dB) | rFID | rKID | bits / image | train s |",
    "|---|---|---|---|---|---|---|",
]
lines += [
    f"| {r['adversarial_weight']} | {r['epochs']} | {r['psnr']:.2f} | {r['rfid']:.2f} | {r['rkid']:.4f} "
    f"| {r['bits_per_image']:.0f} | {r['train_seconds']:.0f} |"
    for r in rows
]
(OUT / f"{name}.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
