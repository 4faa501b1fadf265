"""``keras-fsq train``: a preset's model and recipe, any option given in their place; evaluated on held-out images."""

import pathlib
import sys

from keras_fsq.architectures import ARCHITECTURES, QUANTIZERS
from keras_fsq.cli.arguments import (
    add_data_arguments,
    add_overwrite,
    load_split,
    non_negative_float,
    non_negative_int,
    parse_ints,
    parse_levels,
    positive_float,
    positive_int,
)
from keras_fsq.priors.contexts import PRIOR_CONTEXTS

OUTPUTS = (
    "model.keras",
    "reconstructions.png",
    "training_curves.png",
    "history.json",
    "metrics.json",
    "metrics.md",
)


def add_parser(commands):
    train = commands.add_parser(
        "train",
        help="train an FSQ-VAE (or the VQ baseline) and evaluate it on held-out images",
        description="Trains a preset (default: fsq_cifar10) with its recipe; any option given replaces the preset's.",
    )
    add_data_arguments(train, batch_size=None)
    train.add_argument(
        "--preset",
        default="fsq_cifar10",
        help="a named model and recipe (keras_fsq.presets), e.g. fsq_cifar10, fsq_cifar10_paper, fsq_conv4x4_10bit; "
        "or a folder saved by FSQVAE.save_to_preset, trained on from its weights with the default recipe; "
        "a shipped codec (fsq_dct_q1 ... fsq_dct_q6) with --data PHOTOS is fine-tuned on the folder's photos into "
        "a codec folder for keras-fsq compress --model OUT",
    )
    train.add_argument(
        "--architecture",
        choices=list(ARCHITECTURES),
        help="global: the paper's 32x32 model; conv, residual, gdn: fully convolutional, any image size; "
        "block_dct: the photo codecs' 8x8 DCT transform (keras_fsq.architectures)",
    )
    train.add_argument("--widths", type=parse_ints, help="encoder widths, e.g. 32,64,128,256 (global) or 64,128 (conv)")
    train.add_argument("--depth", type=non_negative_int, help="residual blocks per resolution (residual)")
    train.add_argument("--quantizer", choices=list(QUANTIZERS))
    train.add_argument("--levels", type=parse_levels, help="FSQ levels, e.g. 8,5,5,5")
    train.add_argument("--num-codebooks", type=positive_int, help="FSQ codebooks per latent vector")
    train.add_argument(
        "--rate-weight",
        type=non_negative_float,
        help="rate-distortion training: loss = distortion + this x bits per pixel under a learned prior",
    )
    train.add_argument(
        "--prior",
        choices=list(PRIOR_CONTEXTS),
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
    train.add_argument(
        "--steps-per-epoch",
        type=positive_int,
        help="batches per epoch of a recipe that trains on random crops (a shipped codec's: 500)",
    )
    train.add_argument("--seed", type=non_negative_int, default=0)
    train.add_argument("--out", default="runs/fsq", help="folder for the model, grid, curves and metrics")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --out from its last completed epoch (--out/checkpoint), "
        "with the same options; it ends as the uninterrupted run would",
    )
    add_overwrite(train, "an earlier run's files in --out")


CHECKPOINT = "checkpoint"  # the folder inside --out that keeps the last completed epoch
# Options that do not change what is trained (a resumed run may give them differently).
NOT_SETTINGS = ("command", "backend", "out", "overwrite", "resume")


def run_settings(args):
    """What a run trains, as its options say: a resumed run must match them."""
    return {key: value for key, value in sorted(vars(args).items()) if key not in NOT_SETTINGS}


def checked_checkpoint(args):
    """The checkpoint ``--resume`` continues (``None`` without ``--resume``), by ``checkpoints.run_to_continue``:
    an interrupted run's checkpoint is never silently dropped (``--overwrite`` removes it), and a resume's
    options must be the run's."""
    from keras_fsq import checkpoints

    return checkpoints.run_to_continue(
        pathlib.Path(args.out) / CHECKPOINT,
        run_settings(args),
        args.resume,
        overwrite=args.overwrite,
        fresh="pass --overwrite to start again",
    )


def run(args):
    import shutil

    from keras_fsq import files
    from keras_fsq.cli import train_codec

    if args.train_size is not None and args.train_size < 1:
        raise ValueError("--train-size must be >= 1 for training.")
    codec = train_codec.shipped_codec(args.preset)
    if codec is not None:
        train_codec.check_options(args)
    elif not is_preset_folder(args.preset):
        from keras_fsq import presets

        presets.resolve(args.preset)  # an unknown name fails before anything is written
    elif train_model_config(args, None) != {"image_shape": None}:
        raise ValueError(f"--preset {args.preset} is a saved model: its architecture options cannot change.")
    resumed = checked_checkpoint(args)
    checkpoint = pathlib.Path(args.out) / CHECKPOINT
    outputs = OUTPUTS if codec is None else train_codec.OUTPUTS
    try:
        with files.run_folder(args.out, outputs, args.overwrite or args.resume) as staging:
            if codec is None:
                metrics = train_into(args, staging, resumed)
            else:
                metrics = train_codec.fine_tune_into(args, staging, resumed, checkpoint, run_settings(args))
    except KeyboardInterrupt:
        if (checkpoint / "latest.json").is_file():
            print(
                f"keras-fsq train: the last completed epoch is kept in {checkpoint}; "
                "continue with the same command and --resume.",
                file=sys.stderr,
            )
        raise
    shutil.rmtree(checkpoint, ignore_errors=True)  # the run's files are in place
    print(f"wrote {args.out}/: {', '.join(outputs)}")
    return metrics


def train_into(args, out, resumed=None):
    """Train as ``args`` say and write the run's files into ``out``; the held-out metrics.

    Every epoch ends with a checkpoint in ``--out``/checkpoint; ``resumed`` (``read_checkpoint``'s
    record) continues from one."""
    from keras_fsq import files, presets, reporting, training

    train_images, held_out = load_split(args, lambda: load_training_images(args))

    import keras

    from keras_fsq._backend import accelerator
    from keras_fsq.models import FSQVAE, build_fsqvae

    keras.utils.set_random_seed(args.seed)
    if is_preset_folder(args.preset):  # a saved model trains on from its weights, with the default recipe
        model, recipe = FSQVAE.from_preset(args.preset), presets.resolve(presets.DEFAULT_PRESET).recipe
        recipe["init"] = None
    else:
        preset = presets.resolve(args.preset)
        model = build_fsqvae(preset=preset, seed=args.seed, **train_model_config(args, train_images.shape[1:]))
        recipe = preset.recipe
    recipe = training.override_recipe(
        recipe,
        args.epochs,
        args.learning_rate,
        args.batch_size,
        "none" if args.quantizer == "vq" else args.anneal,
        args.temperatures,
    )
    if args.steps_per_epoch:
        if not recipe.get("crop"):
            raise ValueError(f"--steps-per-epoch: the recipe of {args.preset} trains on whole images, not crops.")
        recipe["steps_per_epoch"] = args.steps_per_epoch
    if recipe.get("init") and not resumed:  # a fine-tuning recipe starts from the weights it names
        from keras_fsq import preset_weights

        preset_weights.load_preset_weights(model, recipe["init"])
    done = resumed[0] if resumed else 0
    steps = recipe["steps_per_epoch"] if recipe.get("crop") else -(-len(train_images) // recipe["batch_size"])
    print(
        f"keras-fsq train: {args.preset}, {len(train_images)} training images ({len(held_out)} held out) "
        f"from {args.data}, {recipe['epochs']} epochs of {steps} steps of {recipe['batch_size']}, "
        f"{keras.backend.backend()} backend on {accelerator()}"
        + (f"; resuming after epoch {done}" if resumed else "")
        + f"; checkpoint every epoch in {pathlib.Path(args.out) / CHECKPOINT}",
        file=sys.stderr,
        flush=True,
    )
    history, seconds = training.fit_with_checkpoints(
        model,
        recipe,
        train_images,
        pathlib.Path(args.out) / CHECKPOINT,
        run_settings(args),
        resumed,
        args.seed,
        held_out,
    )
    with files.replacing(out / "model.keras") as temporary:
        model.save(temporary)
    run_name = f"{args.preset}: {type(model.quantizer).__name__}, {model.quantizer.codebook_size} codes"
    extra = dict(
        train_seconds=seconds,
        train_images=len(train_images),
        epochs=recipe["epochs"],
        backend=keras.backend.backend(),
        preset=args.preset,
    )
    return reporting.write_run_report(model, held_out, out, run_name, history, extra)


def is_preset_folder(preset):
    """``--preset`` names a folder saved by ``FSQVAE.save_to_preset`` rather than a built-in preset."""
    from keras_fsq.preset_weights import names_folder

    return names_folder(preset)


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


def load_training_images(args):
    """``load_images``, or random crops of ``--crop`` pixels from a folder of images."""
    from keras_fsq import data, sources

    if args.crop and data.is_image_folder(args.data):
        images = data.load_image_folder(args.data, args.crop, "random_crop", args.crops_per_image, seed=args.seed)
        return images[: args.limit] if args.limit else images
    if args.crop:
        raise ValueError("--crop needs --data to be a folder of images.")
    return sources.load_images(args.data, args.data_dir, args.limit)
