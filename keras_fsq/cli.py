"""The ``keras-fsq`` command: train and evaluate FSQ-VAEs on image data.

    keras-fsq [--backend jax] train --data shared-cifar10 --data-dir ../shared/data --out runs/fsq
    keras-fsq evaluate --model runs/fsq/model.keras --data shared-cifar10 --train-size 4000
    keras-fsq tune --data-dir ../shared/data --codebook-bits 8,10,12 --max-trials 20 --out runs/tune
    keras-fsq fit-prior --model runs/fsq/model.keras --data photos/ --out runs/fsq/prior.json
    keras-fsq compress photo.png photo.fsq --model runs/fsq/model.keras --prior runs/fsq/prior.json
    keras-fsq decompress photo.fsq photo.png --model runs/fsq/model.keras --prior runs/fsq/prior.json

Arguments are parsed before Keras is imported, so ``--backend`` picks the backend.
"""

import argparse
import json
import os
import pathlib
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")


def parse_levels(text):
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 8,5,5,5; got {text!r}")


def parse_words(text):
    return [part.strip() for part in text.split(",") if part.strip()]


def add_data_arguments(parser):
    parser.add_argument(
        "--data", default="shared-cifar10",
        help="shared-cifar10 (the offline real images), cifar10 (tensorflow-datasets), "
        "an image folder (centre crops), or a .npy/.npz file of images",
    )
    parser.add_argument("--data-dir", help=f"where shared/data or the tfds data lives (default: ${'KERAS_FSQ_DATA'})")
    parser.add_argument("--train-size", type=int, default=4000, help="the first N images train; the rest are held out")
    parser.add_argument("--limit", type=int, help="use at most this many images in all")
    parser.add_argument("--batch-size", type=int, default=64)


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-fsq", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND or tensorflow)")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train an FSQ-VAE (or the VQ baseline) and evaluate it on held-out images")
    add_data_arguments(train)
    train.add_argument("--quantizer", default="fsq", help="fsq or vq")
    train.add_argument("--levels", type=parse_levels, default=[8, 5, 5, 5], help="FSQ levels, e.g. 8,5,5,5")
    train.add_argument("--codebook-size", type=int, help="VQ codebook size (default: the product of --levels)")
    train.add_argument("--latent-dim", type=int, default=64, help="total latent size of the global encoder")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--anneal", default="exponential", choices=["exponential", "linear", "cosine", "none"])
    train.add_argument("--temperatures", type=float, nargs=2, default=[1.0, 0.1], metavar=("START", "END"))
    train.add_argument("--reconstruction-loss", default="binary_crossentropy", choices=["binary_crossentropy", "mse"])
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="runs/fsq", help="directory for the model, grid, curves and metrics")

    tune = commands.add_parser("tune", help="search quantization levels, latent size, temperature and learning rate with KerasTuner")
    add_data_arguments(tune)
    tune.add_argument("--tuner", default="random", choices=["random", "bayesian", "hyperband"])
    tune.add_argument("--max-trials", type=int, default=10)
    tune.add_argument("--epochs", type=int, default=3, help="epochs per trial (Hyperband: the most any trial gets)")
    tune.add_argument("--objective", default="loss", choices=["loss", "psnr", "rate_distortion"])
    tune.add_argument("--rate-weight", type=float, default=0.01, help="lambda of the rate_distortion objective")
    tune.add_argument("--codebook-bits", type=parse_levels, default=[], help="search level sets with 2^bits codes, e.g. 8,10,12")
    tune.add_argument("--code-dims", type=parse_levels, default=[3, 4, 5], help="numbers of FSQ dimensions, e.g. 3,4,5")
    tune.add_argument("--level-range", type=int, nargs=2, default=[3, 10], metavar=("MIN", "MAX"))
    tune.add_argument("--latent-dims", type=parse_levels, default=[32, 64, 128])
    tune.add_argument("--schedules", type=parse_words, default=["none", "exponential"])
    tune.add_argument("--architecture", default="global", choices=["global", "conv"])
    tune.add_argument("--widths", type=parse_levels, default=[32, 64, 128, 256])
    tune.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming --out")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--out", default="runs/tune", help="the tuner's directory, results.md/.json and pareto.png")

    fit_prior = commands.add_parser("fit-prior", help="learn the codec's entropy model from a model's codes on images")
    add_data_arguments(fit_prior)
    fit_prior.set_defaults(train_size=0)
    fit_prior.add_argument("--model", required=True)
    fit_prior.add_argument("--context", default="left", choices=["none", "left"])
    fit_prior.add_argument("--tile", type=int, default=64, help="a folder's images are cut into tiles of this size")
    fit_prior.add_argument("--out", required=True, help="the prior's .json file")
    for name, what in (("compress", "images into .fsq files"), ("decompress", ".fsq files back into PNG images")):
        command = commands.add_parser(name, help=f"{name} {what} (a file, or every file of a folder)")
        command.add_argument("input", help="a file or a folder")
        command.add_argument("output", help="a file, or a folder when the input is one")
        command.add_argument("--model", required=True, help="a .keras FSQVAE with an FSQ quantizer")
        command.add_argument("--prior", help="a prior .json from `keras-fsq fit-prior` (default: the model's level usage)")

    evaluate = commands.add_parser("evaluate", help="evaluate a saved model on held-out images")
    add_data_arguments(evaluate)
    evaluate.set_defaults(train_size=0)
    evaluate.add_argument("--model", required=True, help="a .keras file written by `train`")
    evaluate.add_argument("--out", help="directory for the grid and metrics (default: the model's)")
    return parser


def load_images(args):
    """The images named by ``--data`` as float32 (N, H, W, 3) in [0, 1]."""
    import numpy as np

    from keras_fsq import data

    if args.data == "shared-cifar10":
        images, _ = data.load_shared_cifar10(args.data_dir)
    elif args.data == "cifar10":
        dataset = data.load_cifar10("train", data_dir=args.data_dir)
        if args.limit:
            dataset = dataset.take(args.limit)
        images = np.stack(list(dataset.as_numpy_iterator()))
    else:
        path = pathlib.Path(args.data)
        if path.is_dir():
            images = data.load_image_folder(path)
        elif path.suffix in (".npy", ".npz") and path.exists():
            loaded = np.load(path)
            images = loaded if path.suffix == ".npy" else loaded[loaded.files[0]]
            images = data.to_unit_float(images, "--data")
        else:
            raise ValueError(f"--data {args.data!r} is neither a known dataset, a folder nor a .npy/.npz file.")
    return images[: args.limit] if args.limit else images


def split(images, train_size):
    if not 0 <= train_size < len(images):
        raise ValueError(f"--train-size {train_size} must leave held-out images among the {len(images)} loaded.")
    return images[:train_size], images[train_size:]


def write_report(model, held_out, out, run_name, history=None):
    from keras_fsq import reporting

    out.mkdir(parents=True, exist_ok=True)
    metrics = reporting.evaluate_images(model, held_out)
    reporting.save_reconstruction_grid(held_out[:16], model.reconstruct(held_out[:16]), out / "reconstructions.png")
    if history:
        reporting.plot_history(history, out / "training_curves.png")
        (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    reporting.write_metrics({run_name: metrics}, out)
    print(reporting.markdown_table({run_name: metrics}))
    print(f"wrote {out}/: metrics.json, metrics.md, reconstructions.png" + (", training_curves.png, model.keras" if history else ""))
    return metrics


def run_train(args):
    import keras

    from keras_fsq.callbacks import TemperatureAnnealing
    from keras_fsq.models import build_fsqvae

    keras.utils.set_random_seed(args.seed)
    train_images, held_out = split(load_images(args), args.train_size)
    model = build_fsqvae(
        quantizer=args.quantizer, levels=args.levels, codebook_size=args.codebook_size,
        latent_dim=args.latent_dim, image_shape=train_images.shape[1:],
        reconstruction_loss=args.reconstruction_loss, seed=args.seed,
    )
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    callbacks = []
    if args.anneal != "none" and args.quantizer != "vq":
        callbacks.append(TemperatureAnnealing(*args.temperatures, schedule=args.anneal))
    started = time.perf_counter()
    history = model.fit(
        train_images, validation_data=(held_out,), batch_size=args.batch_size, epochs=args.epochs,
        callbacks=callbacks, shuffle=True, verbose=1 if sys.stdout.isatty() else 2,
    )
    seconds = time.perf_counter() - started
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    run_name = f"{args.quantizer} {args.levels if args.quantizer == 'fsq' else model.quantizer.codebook_size}"
    history = {name: [float(v) for v in values] for name, values in history.history.items()}
    metrics = write_report(model, held_out, out, run_name, history)
    metrics_path = out / "metrics.json"
    rows = json.loads(metrics_path.read_text())
    rows[run_name].update(train_seconds=seconds, train_images=len(train_images), epochs=args.epochs, backend=keras.backend.backend())
    metrics_path.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
    return metrics


def run_evaluate(args):
    import keras

    import keras_fsq  # noqa: F401  (registers the serializable classes)

    model = keras.saving.load_model(args.model)
    _, held_out = split(load_images(args), args.train_size)
    out = pathlib.Path(args.out) if args.out else pathlib.Path(args.model).parent
    return write_report(model, held_out, out, pathlib.Path(args.model).stem)


def run_tune(args):
    import keras

    from keras_fsq import tuning

    keras.utils.set_random_seed(args.seed)
    train_images, held_out = split(load_images(args), args.train_size)
    space = tuning.SearchSpace(
        code_dims=tuple(args.code_dims), min_level=args.level_range[0], max_level=args.level_range[1],
        codebook_bits=tuple(args.codebook_bits), latent_dims=tuple(args.latent_dims), schedules=tuple(args.schedules),
    )
    hypermodel = tuning.FSQVAEHyperModel(
        space, objective=args.objective, rate_weight=args.rate_weight,
        image_shape=train_images.shape[1:], architecture=args.architecture, widths=args.widths,
    )
    out = pathlib.Path(args.out)
    tuner = tuning.make_tuner(
        hypermodel, args.tuner, max_trials=args.max_trials, max_epochs=args.epochs,
        directory=out, overwrite=args.overwrite, seed=args.seed,
    )
    print(f"keras-fsq tune: {keras.backend.backend()} backend on {tuning.accelerator()}", flush=True)
    tuner.search(
        train_images, validation_data=(held_out,), epochs=args.epochs, batch_size=args.batch_size,
        verbose=1 if sys.stdout.isatty() else 0,
    )
    if "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in os.environ.get("KERASTUNER_TUNER_ID", ""):
        return None  # a worker of a distributed search (KerasTuner's rule): the chief writes the results
    rows = tuning.results_table(tuner)
    if not rows:
        raise ValueError("no trial finished; see the tuner's messages above.")
    table = tuning.markdown_results(rows)
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "results.md").write_text(table)
    tuning.plot_pareto_front(rows, out / "pareto.png")
    print(table)
    print(f"best levels: {rows[0]['levels']} ({args.objective} {rows[0]['score']:.4f}); wrote {out}/results.md, results.json, pareto.png")
    return rows


def load_codec_model(args):
    import keras

    import keras_fsq  # noqa: F401  (registers the serializable classes)
    from keras_fsq import codec

    if not pathlib.Path(args.model).is_file():
        raise FileNotFoundError(f"--model {args.model} does not exist.")
    model = keras.saving.load_model(args.model)
    prior = codec.EntropyModel.from_json(pathlib.Path(args.prior).read_text()) if getattr(args, "prior", None) else None
    return model, prior


def run_fit_prior(args):
    from keras_fsq import codec, data

    model, _ = load_codec_model(args)
    folder = pathlib.Path(args.data)
    images = data.load_image_folder(folder, size=args.tile, mode="tile") if folder.is_dir() else load_images(args)
    prior = codec.EntropyModel.fit(model, images, context=args.context)
    pathlib.Path(args.out).write_text(prior.to_json())
    print(f"wrote {args.out}: {args.context} prior from {len(images)} images")


def file_pairs(source, target, suffix):
    """(input, output) paths: one file, or each image/.fsq of a folder into the ``target`` folder."""
    source, target = pathlib.Path(source), pathlib.Path(target)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist.")
    if source.is_file():
        return [(source, target)]
    from keras_fsq.data import image_paths

    paths = image_paths(source) if suffix == ".fsq" else sorted(source.glob("*.fsq"))
    if not paths:
        raise ValueError(f"{source} holds no .fsq files.")
    target.mkdir(parents=True, exist_ok=True)
    return [(path, target / (path.stem + suffix)) for path in paths]


def run_codec(args):
    from keras_fsq import codec, data

    model, prior = load_codec_model(args)
    compressing = args.command == "compress"
    pairs = file_pairs(args.input, args.output, ".fsq" if compressing else ".png")
    for number, (source, target) in enumerate(pairs, 1):
        if compressing:
            image = data.read_image(source)
            target.write_bytes(codec.compress(model, image, prior))
            size = target.stat().st_size
            detail = f"{size} bytes, {8 * size / (image.shape[0] * image.shape[1]):.3f} bits/pixel"
        else:
            (image,) = codec.decompress(model, source.read_bytes(), prior)
            data.write_image(image, target)
            detail = f"{image.shape[1]}x{image.shape[0]}"
        print(f"[{number}/{len(pairs)}] {source.name} -> {target}: {detail}", flush=True)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        commands = {"train": run_train, "evaluate": run_evaluate, "tune": run_tune, "fit-prior": run_fit_prior,
                    "compress": run_codec, "decompress": run_codec}
        commands[args.command](args)
    except (ValueError, FileNotFoundError) as error:
        print(f"keras-fsq {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
