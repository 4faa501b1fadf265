"""``keras-fsq evaluate``: a saved model on held-out images (and, with ``--fid``, rFID/rKID)."""

import pathlib

from keras_fsq.cli.arguments import add_data_arguments, add_overwrite, split

OUTPUTS = ("reconstructions.png", "metrics.json", "metrics.md")


def add_parser(commands):
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


def run(args):
    from keras_fsq import files, reporting, sources
    from keras_fsq.saving import load_model

    model_path = pathlib.Path(args.model)
    if not model_path.is_file():
        raise FileNotFoundError(f"--model {model_path} does not exist.")
    out = pathlib.Path(args.out) if args.out else model_path.parent / "evaluation"
    with files.run_folder(out, OUTPUTS, args.overwrite) as staging:
        extract = None
        if args.fid:  # fails here, before any work, when the Inception weights are missing
            from keras_fsq.inception import inception_features

            extract = inception_features(progress=True)
        model = load_model(args.model)
        _, held_out = split(sources.load_images(args.data, args.data_dir, args.limit), args.train_size)
        extra = reporting.reconstruction_scores(model, held_out, extract) if extract else None
        metrics = reporting.write_run_report(model, held_out, staging, model_path.stem, extra=extra)
    print(f"wrote {out}/: metrics.json, metrics.md, reconstructions.png")
    return metrics
