"""Follow ``keras-fsq compress --quality Q`` from the command line to the range coder, as a reader does.

    python benchmarks/parameter_path.py

Runs the command in-process on a small image (the NumPy engine, as users run it) under
``sys.setprofile`` and lists, in order, each keras_fsq function that receives the quality or what
it resolves into: the parsed command line, an argument named ``quality`` equal to it, the preset's
name, its ``presets.Preset`` record, the ``DCTEngine`` built from it or its coding table
(``EntropyModel``). Each function counts once, at its first call, up to the coder's first function.
A *stay* is a run of consecutive functions in one module; a *return* is a stay in a module the
path had already left (docs/architecture.md has the path and its count).
"""

import argparse
import pathlib
import sys
import tempfile

import numpy as np
from PIL import Image

from keras_fsq import cli, presets
from keras_fsq.compression.dct_engine import DCTEngine
from keras_fsq.compression.tables import EntropyModel

QUALITY = 2


def carries_quality(value):
    """Whether ``value`` is the quality, the parsed command line, the quality's preset name, record, engine or
    coding table."""
    if isinstance(value, argparse.Namespace):
        return getattr(value, "quality", None) == QUALITY
    if isinstance(value, (presets.Preset, DCTEngine, EntropyModel)):
        return True
    return isinstance(value, str) and value == presets.codec_preset(QUALITY)


def traced_path(argv):
    """``[(module, function), ...]``: the functions the quality reaches while ``keras-fsq argv`` runs."""
    calls = []

    def profile(frame, event, arg):
        module = frame.f_globals.get("__name__", "")
        if event != "call" or not module.startswith("keras_fsq"):
            return
        code = frame.f_code
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        if frame.f_locals.get("quality") == QUALITY or any(carries_quality(frame.f_locals.get(n)) for n in names):
            calls.append((module, code.co_qualname))

    sys.setprofile(profile)
    try:
        cli.main(argv)
    except SystemExit as exit:
        if exit.code:
            raise
    finally:
        sys.setprofile(None)
    path = []
    for call in calls:
        if call not in path:
            path.append(call)
        if call[0] == "keras_fsq.compression.coder":
            break
    return path


def stays_of(path):
    """``[(module, [functions])]``: consecutive functions of ``path`` in one module, and the count of returns."""
    stays, left, returns = [], set(), 0
    for module, function in path:
        if stays and stays[-1][0] == module:
            stays[-1][1].append(function)
            continue
        if stays:
            left.add(stays[-1][0])
        returns += module in left
        stays.append((module, [function]))
    return stays, returns


def main():
    folder = pathlib.Path(tempfile.mkdtemp())
    pixels = (np.random.default_rng(0).random((128, 192, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(folder / "photo.png")
    argv = ["compress", str(folder / "photo.png"), str(folder / "photo.fsq"), "--quality", str(QUALITY)]
    stays, returns = stays_of(traced_path(argv))
    for number, (module, functions) in enumerate(stays, 1):
        print(f"{number:2d}. {module}: {', '.join(functions)}")
    print(f"{len(stays)} stays in {len({module for module, _ in stays})} modules, {returns} returns")


if __name__ == "__main__":
    main()
