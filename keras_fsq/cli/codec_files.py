"""What ``compress``, ``decompress`` and ``fit-prior`` share: the codec model and prior to use, the
(input, output) pairs of a file or a folder, checked before anything is written."""

import contextlib
import os
import pathlib
from collections.abc import Callable
from typing import Any

from keras_fsq.cli.arguments import add_overwrite

DEFAULT_QUALITY = 3


def add_codec_arguments(command: Any, model_default: str) -> None:
    """``input``, ``output``, ``--model`` (default: ``model_default``), ``--prior`` and ``--overwrite``."""
    command.add_argument("input", help="a file or a folder")
    command.add_argument("output", help="a file or a folder (a folder when the input is one)")
    command.add_argument(
        "--model",
        help=f"a .keras FSQVAE, a preset folder or a codec folder from keras-fsq train (default: {model_default})",
    )
    command.add_argument(
        "--prior",
        help="a prior .json from `keras-fsq fit-prior` (default: the model's learned prior, else its level usage)",
    )
    add_overwrite(command, "existing output files (never the inputs)")


def uses_engine(model: str | None, prior: str | None) -> bool:
    """Whether ``compress``/``decompress`` code with the shipped codecs' NumPy engine
    (``compression.dct_engine``): ``model`` (``--model``) none or a codec folder
    (``keras_fsq.codec_folders``), no ``prior`` (``--prior``), and no backend asked for
    (``--backend`` or ``$KERAS_BACKEND``)."""
    from keras_fsq.codec_folders import is_codec_folder

    return (not model or is_codec_folder(model)) and not (prior or os.environ.get("KERAS_BACKEND"))


def load_codec_model(
    model: str | None = None,
    prior: str | None = None,
    quality: float | None = None,
    model_name: str | None = None,
    engine: bool = False,
) -> tuple[Any, Any]:
    """``(model, prior)``: ``model`` (``--model``: a ``.keras`` model, a preset folder or a codec folder; else a
    shipped codec: ``model_name``, the one a file names, or that of ``quality``) and ``prior``
    (``--prior``: a prior file from ``keras-fsq fit-prior``; else None, the model's own).

    With ``engine`` (``uses_engine``) a shipped block-DCT codec runs in NumPy; anything else loads Keras."""
    from keras_fsq import codec, presets
    from keras_fsq.codec_folders import is_codec_folder, read_codec_folder

    record = None
    if model:
        if is_codec_folder(model):  # a shipped codec fine-tuned by keras-fsq train
            record = read_codec_folder(model)
    elif model_name is not None:
        if not presets.is_shipped(model_name):
            raise ValueError(
                f"The file was written by a model that does not ship with keras_fsq ({model_name or 'no name'!r}): "
                "pass it with --model."
            )
        record = presets.resolve(model_name)
    else:
        record = presets.resolve(presets.codec_preset(quality or DEFAULT_QUALITY))
    if engine and record is not None and record.coding_prior:
        from keras_fsq.compression.dct_engine import DCTEngine

        return DCTEngine(record), None
    from keras_fsq._backend import require_backend

    require_backend()
    from keras_fsq.models import FSQVAE
    from keras_fsq.saving import load_model

    if record is not None:
        keras_model = FSQVAE.from_preset(record)
    elif pathlib.Path(str(model)).is_dir():  # a preset folder (FSQVAE.save_to_preset)
        keras_model = FSQVAE.from_preset(pathlib.Path(str(model)))
    else:
        keras_model = load_model(model)
    if not prior:
        return keras_model, None
    prior_path = pathlib.Path(prior)
    if not prior_path.is_file():
        raise FileNotFoundError(f"--prior {prior_path} does not exist.")
    try:
        return keras_model, codec.EntropyModel.from_json(prior_path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"--prior {prior_path} is not a prior written by keras-fsq fit-prior ({error}).") from None


def codec_pairs(
    source: str | os.PathLike, target: str | os.PathLike, compressing: bool
) -> list[tuple[pathlib.Path, pathlib.Path]]:
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


def checked_outputs(args: Any, outputs: dict[pathlib.Path, list[Any]]) -> Any:
    """Refuse, before anything is written, outputs that collide, exist (without ``--overwrite``) or are
    inputs; make the output folder; a context that holds the folder's lock when a folder is coded."""
    from keras_fsq import files

    inputs = (
        [source for source in outputs] + ([args.model] if args.model else []) + ([args.prior] if args.prior else [])
    )
    files.check_unique([(source, target) for source, targets in outputs.items() for target in targets])
    for targets in outputs.values():
        for target in targets:
            files.check_target(target, args.overwrite, inputs)
    output_folder = pathlib.Path(next(iter(outputs.values()))[0]).parent
    output_folder.mkdir(parents=True, exist_ok=True)
    # Folder to folder, the output folder is this run's (single files are put in place without clobbering).
    return files.folder_lock(output_folder) if pathlib.Path(args.input).is_dir() else contextlib.nullcontext()


def report_progress(count: int) -> Callable[[int, str], None]:
    """A function ``(done, line)``: for one file its line on stdout (the command's result); for a folder,
    progress on stderr: a line rewritten in place on a terminal, else one plain line per file."""
    import sys

    if count == 1:
        return lambda done, line: print(line, flush=True)
    live = sys.stderr.isatty()

    def progress(done: int, line: str) -> None:
        if live:
            sys.stderr.write(f"\r\033[K{done}/{count} {line}" + ("\n" if done == count else ""))
        else:
            sys.stderr.write(f"{done}/{count} {line}\n")
        sys.stderr.flush()

    return progress
