"""The ``keras-fsq`` command: train, evaluate and tune FSQ-VAEs; compress images to files and back; generate.

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
    keras-fsq generate --num 100 --out samples/                  # MaskGIT over FSQ tokens (maskgit_cifar10)

Arguments are parsed (and checked) before Keras is imported, so ``--backend``
picks the backend and ``--help`` answers at once. No command writes over one
of its inputs, nor over an existing file unless ``--overwrite`` is given;
every file is written whole or not at all. A user error ends in one line on
stderr and exit status 2.

One module per subcommand (``keras_fsq/cli/<name>.py``, each with ``add_parser`` and
``run``); a new subcommand is a new module named in ``SUBCOMMANDS``.
"""

import importlib
import os
import sys

from keras_fsq._backend import BACKENDS, require_backend
from keras_fsq.cli.arguments import ArgumentParser
from keras_fsq.cli.codec_files import uses_engine

SUBCOMMANDS = {
    "train": "train",
    "evaluate": "evaluate",
    "tune": "tune",
    "fit-prior": "fit_prior",
    "compress": "compress",
    "decompress": "decompress",
    "fid": "fid",
    "generate": "generate",
}


def subcommand(name):
    """The module of subcommand ``name`` (``add_parser``, ``run``); none of them imports Keras at import."""
    return importlib.import_module(f"keras_fsq.cli.{SUBCOMMANDS[name]}")


def build_parser():
    parser = ArgumentParser(prog="keras-fsq", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND or tensorflow)")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        subcommand(name).add_parser(commands)
    return parser


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
        if not (args.command in ("compress", "decompress") and uses_engine(args.model, args.prior)):
            import_tensorflow_quietly(args.command)
            require_backend()
        subcommand(args.command).run(args)
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
