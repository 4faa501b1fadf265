"""``keras-fsq fit-prior``: the codec's entropy model counted from a model's codes on images."""

from keras_fsq.cli.arguments import add_data_arguments, add_overwrite, positive_int
from keras_fsq.cli.codec_files import load_codec_model
from keras_fsq.compression.contexts import COUNTED_CONTEXTS


def add_parser(commands):
    fit_prior = commands.add_parser("fit-prior", help="learn the codec's entropy model from a model's codes on images")
    add_data_arguments(fit_prior, train_size=0)
    fit_prior.add_argument("--model", required=True)
    fit_prior.add_argument(
        "--context",
        default="left",
        choices=list(COUNTED_CONTEXTS),
        help="what each symbol is coded given: nothing, its left neighbour's level, its left and upper "
        "neighbours, or those and the group of dimensions coded before it (the shipped photo codecs' "
        "tables; default: left)",
    )
    fit_prior.add_argument(
        "--tile",
        type=positive_int,
        help="a folder's images are cut into tiles of this size (default: the model's input size, "
        "or 64 for a fully convolutional model)",
    )
    fit_prior.add_argument("--out", required=True, help="the prior's .json file")
    add_overwrite(fit_prior, "an existing --out")


def default_tile(model):
    """The model's own input size (a fixed-size encoder), else 64 rounded up to its downsampling factor."""
    factor = model.downsampling_factor
    if factor:
        return -(-64 // factor) * factor
    return model.image_shape[0]


def run(args):
    from keras_fsq import codec, data, files, sources

    files.check_target(args.out, args.overwrite, inputs=[args.model, args.data])
    model, _ = load_codec_model(args.model)
    if data.is_image_folder(args.data):
        images = data.load_image_folder(args.data, size=args.tile or default_tile(model), mode="tile")
        images = images[: args.limit] if args.limit else images
    else:
        images = sources.load_images(args.data, args.data_dir, args.limit)
    prior = codec.EntropyModel.fit(model, images, context=args.context)
    files.write_text(args.out, prior.to_json(), overwrite=args.overwrite)
    print(f"wrote {args.out}: {args.context} prior from {len(images)} images")
