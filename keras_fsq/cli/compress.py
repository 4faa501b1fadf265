"""``keras-fsq compress``: images into ``.fsq`` files with a shipped codec (``--quality``) or a model."""

import sys

from keras_fsq.cli.codec_files import (
    DEFAULT_QUALITY,
    add_codec_arguments,
    checked_outputs,
    codec_pairs,
    load_codec_model,
    report_progress,
    uses_engine,
)
from keras_fsq.presets import DCT_QUALITIES

QUALITIES = tuple(DCT_QUALITIES)


def add_parser(commands):
    command = commands.add_parser(
        "compress", help="compress images into .fsq files (a file, or every file of a folder)"
    )
    add_codec_arguments(command, "the shipped codec of --quality")
    command.add_argument(
        "--quality",
        type=int,
        choices=QUALITIES,
        help=f"a shipped codec: 1 smallest files ... {QUALITIES[-1]} best quality (default {DEFAULT_QUALITY})",
    )


def run(args):
    from keras_fsq import codec, data, files

    if args.model and args.quality:
        raise ValueError("--quality picks a shipped codec; give it or --model, not both.")
    outputs = {source: [target] for source, target in codec_pairs(args.input, args.output, compressing=True)}
    with checked_outputs(args, outputs):
        model, prior = load_codec_model(args, engine=uses_engine(args))
        progress = report_progress(len(outputs))
        written = pixels = 0
        lossy = [source.name for source in outputs if source.suffix.lower() in (".jpg", ".jpeg")]
        if lossy:
            print(
                f"keras-fsq compress: note: {lossy[0]}{f' and {len(lossy) - 1} more' if len(lossy) > 1 else ''} "
                "already went through JPEG: its artefacts cost bits, and quality is measured against it, "
                "not the original.",
                file=sys.stderr,
            )
        for done, (source, (target,)) in enumerate(outputs.items(), 1):
            image = data.read_image(source)
            files.write_bytes(target, codec.compress(model, image, prior), overwrite=args.overwrite)
            size, area = target.stat().st_size, image.shape[0] * image.shape[1]
            written, pixels = written + size, pixels + area
            progress(done, f"{source.name} -> {target}: {size} bytes, {8 * size / area:.3f} bits/pixel")
    if len(outputs) > 1:
        print(
            f"compressed {len(outputs)} files into {args.output}: {written} bytes, "
            f"{8 * written / pixels:.3f} bits/pixel"
        )
