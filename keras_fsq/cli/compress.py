"""``keras-fsq compress``: images into ``.fsq`` files with a shipped codec (``--quality``) or a model.

``--quality`` takes any number in [1, 6] (to hundredths): between two shipped qualities, their blend
(``presets.blended_codec``). ``--max-bytes N`` / ``--target-bpp X`` fit a size instead of naming a
quality: each image is coded at the highest quality in tenths whose file takes at most ``N`` bytes
(``X`` bits per pixel), found by bisection over 1.0, 1.1, ..., 6.0 (file sizes grow with the
quality), at most 6 encodes.
"""

import sys

from keras_fsq.cli.arguments import codec_quality, positive_float, positive_int
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

LOWEST, HIGHEST = min(DCT_QUALITIES), max(DCT_QUALITIES)
STEPS_PER_QUALITY = 10  # --max-bytes searches qualities in tenths


def add_parser(commands):
    command = commands.add_parser(
        "compress", help="compress images into .fsq files (a file, or every file of a folder)"
    )
    add_codec_arguments(command, "the shipped codec of --quality")
    command.add_argument(
        "--quality",
        type=codec_quality,
        help=f"a shipped codec: {LOWEST} smallest files ... {HIGHEST} best quality, any number between "
        f"(default {DEFAULT_QUALITY})",
    )
    size = command.add_mutually_exclusive_group()
    size.add_argument(
        "--max-bytes", type=positive_int, help="each file at most this many bytes: the best shipped quality that fits"
    )
    size.add_argument(
        "--target-bpp", type=positive_float, help="each file at most this many bits per pixel (as --max-bytes)"
    )


def run(args):
    from keras_fsq import codec, data, files

    if args.model and args.quality:
        raise ValueError("--quality picks a shipped codec; give it or --model, not both.")
    fitting = args.max_bytes or args.target_bpp
    if fitting and (args.model or args.quality or args.prior):
        option = "--max-bytes" if args.max_bytes else "--target-bpp"
        raise ValueError(f"{option} chooses among the shipped qualities; it takes no --quality, --model or --prior.")
    outputs = {source: [target] for source, target in codec_pairs(args.input, args.output, compressing=True)}
    with checked_outputs(args, outputs):
        codecs = {}

        def codec_of(quality):
            """The shipped codec of ``quality`` (model, prior), loaded once."""
            if quality not in codecs:
                codecs[quality] = load_codec_model(quality=quality, engine=engine)
            return codecs[quality]

        engine = uses_engine(args.model, args.prior)
        model, prior = (
            (None, None) if fitting else load_codec_model(args.model, args.prior, args.quality, engine=engine)
        )
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
            area = image.shape[0] * image.shape[1]
            if fitting:
                budget = args.max_bytes or int(args.target_bpp * area / 8)
                payload, quality = fitted(image, budget, codec_of, source)
                chosen = f", quality {quality:g}"
            else:
                payload, chosen = codec.compress(model, image, prior), ""
            files.write_bytes(target, payload, overwrite=args.overwrite)
            size = target.stat().st_size
            written, pixels = written + size, pixels + area
            progress(done, f"{source.name} -> {target}: {size} bytes, {8 * size / area:.3f} bits/pixel{chosen}")
    if len(outputs) > 1:
        print(
            f"compressed {len(outputs)} files into {args.output}: {written} bytes, "
            f"{8 * written / pixels:.3f} bits/pixel"
        )


def fitted(image, budget, codec_of, source):
    """``(file bytes, quality)`` of ``image`` at the highest quality in tenths whose file takes at most
    ``budget`` bytes (bisection: file sizes grow with the quality); ``ValueError`` naming ``source`` when even
    the lowest quality's file is larger."""
    from keras_fsq import codec

    low, high = 0, (HIGHEST - LOWEST) * STEPS_PER_QUALITY  # steps above the lowest quality
    best, smallest = None, None
    while low <= high:
        step = (low + high) // 2
        quality = LOWEST + step / STEPS_PER_QUALITY
        model, prior = codec_of(quality)
        payload = codec.compress(model, image, prior)
        if len(payload) <= budget:
            best, low = (payload, round(quality, 1)), step + 1
        else:
            high = step - 1
            smallest = len(payload) if step == 0 else smallest
    if best is None:
        raise ValueError(f"{source}: the smallest shipped quality takes {smallest} bytes, over the {budget} allowed.")
    return best
