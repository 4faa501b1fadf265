"""``keras-fsq tune``: a KerasTuner search over quantization levels, latent size, annealing and learning rate."""

import contextlib
import json
import os
import sys

from keras_fsq.cli.arguments import (
    add_data_arguments,
    add_overwrite,
    load_split,
    non_negative_float,
    non_negative_int,
    parse_ints,
    parse_words,
    positive_int,
)


def add_parser(commands):
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
    tune.add_argument("--seed", type=non_negative_int, default=0)
    tune.add_argument("--out", default="runs/tune", help="the tuner's folder, results.md/.json and pareto.png")


def run(args):
    from keras_fsq import files

    if args.train_size is not None and args.train_size < 1:
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

    from keras_fsq import files, search_results, tuning

    train_images, held_out = load_split(args)
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
    rows = search_results.results_table(tuner)
    if not rows:
        raise ValueError("no trial finished; see the tuner's messages above.")
    table = search_results.markdown_results(rows)
    files.write_text(out / "results.json", json.dumps(rows, indent=2) + "\n")
    files.write_text(out / "results.md", table)
    search_results.plot_pareto_front(rows, out / "pareto.png")
    print(table)
    print(
        f"best levels: {rows[0]['levels']} ({args.objective} {rows[0]['score']:.4f}); wrote {out}/results.md, "
        "results.json, pareto.png"
    )
    return rows
