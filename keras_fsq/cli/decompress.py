"""``keras-fsq decompress``: ``.fsq`` files back into PNG images, each with the shipped codec it names."""

import contextlib
import pathlib

from keras_fsq.cli.codec_files import (
    add_codec_arguments,
    checked_outputs,
    codec_pairs,
    load_codec_model,
    report_progress,
    uses_engine,
)


def add_parser(commands):
    command = commands.add_parser(
        "decompress", help="decompress .fsq files back into PNG images (a file, or every file of a folder)"
    )
    add_codec_arguments(command, "the shipped codec the file names")


def decompressed_names(target, count):
    """Output paths of a file's ``count`` images: ``target``, or ``stem-1.png``... for several."""
    if count == 1:
        return [target]
    return [target.with_name(f"{target.stem}-{i}{target.suffix}") for i in range(1, count + 1)]


def read_bytes(path):
    try:
        return pathlib.Path(path).read_bytes()
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not a file.") from None


def run(args):
    from keras_fsq import codec, data, files

    pairs = codec_pairs(args.input, args.output, compressing=False)
    contents = {source: read_bytes(source) for source, _ in pairs}
    headers = {}
    for source, content in contents.items():
        try:
            headers[source] = codec.read_header(content)
        except ValueError as error:  # a folder stops on its first bad file, named
            raise ValueError(f"{source}: {error}") from None
    # Every output of every input, named before anything is written (a file may hold several images).
    outputs = {source: decompressed_names(target, headers[source].count) for source, target in pairs}
    with checked_outputs(args, outputs):
        engine = uses_engine(args.model, args.prior)
        models = {}  # without --model: each file's shipped codec, loaded once
        progress = report_progress(len(outputs))
        for done, (source, targets) in enumerate(outputs.items(), 1):
            name = None if args.model else headers[source].model_name
            if name not in models:
                models[name] = load_codec_model(args.model, args.prior, model_name=name, engine=engine)
            model, prior = models[name]
            try:
                with contextlib.ExitStack() as stack:  # every image of the file is written, or none
                    # The loop runs the generator to its end, where the codec checks the payload.
                    images = codec.iter_decompress(model, contents.pop(source), prior, dtype="uint8")
                    for number, image in enumerate(images):
                        target = stack.enter_context(files.replacing(targets[number], args.overwrite))
                        data.save_image(image, target)
            except ValueError as error:  # CodecError included: the file that stopped the folder is named
                raise ValueError(f"{source}: {error}") from None
            progress(
                done,
                f"{source.name} -> {', '.join(map(str, targets))}: {len(targets)} image(s), "
                f"{image.shape[1]}x{image.shape[0]}",
            )
    if len(outputs) > 1:
        print(f"decompressed {len(outputs)} files into {args.output}")
