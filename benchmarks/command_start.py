"""Fresh-process wall time of the codec commands, as a user waits for them, per engine and backend.

    python benchmarks/command_start.py --data-dir ../shared/data --repeats 3

Makes a 768x512 photo (two BSD68 photos side by side, cropped, mirrored below), then times
``keras-fsq --help``, ``keras-fsq compress photo.png photo.fsq`` and ``keras-fsq decompress
photo.fsq back.png`` as new processes: without a backend asked for (the shipped codecs' NumPy
engine, ``keras_fsq.compression.dct_engine``) and with ``--backend`` tensorflow, jax and torch
(whichever are installed). Each row is the median of ``--repeats`` runs, measured in turns
(every configuration once, then again), with the peak resident memory of the child.
"""

import argparse
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from keras_fsq import data


def photo_768x512(data_dir, path):
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in data.image_paths(pathlib.Path(data_dir) / "bsd68")[:6]]
    wide = [p for p in photos if p.shape[1] > p.shape[0]][:2]
    image = np.concatenate(wide, axis=1)[:, :768]
    Image.fromarray(np.concatenate([image, image[::-1]], axis=0)[:512]).save(path)


def timed(arguments, cwd):
    """Wall seconds and peak resident memory (MiB) of one command, as a child of its own (``wait4``)."""
    environment = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(arguments, cwd=cwd, env=environment, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(arguments)} failed: {errors.read().decode()[-500:]}")
    return seconds, usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("KERAS_FSQ_DATA", "../shared/data"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    command = [sys.executable, "-m", "keras_fsq.cli"]
    engines = [("NumPy engine (no backend given)", [])] + [
        (backend, ["--backend", backend])
        for backend in ("tensorflow", "jax", "torch")
        if importlib.util.find_spec(backend) is not None
    ]
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        photo_768x512(args.data_dir, folder / "photo.png")
        rows = {}
        for _ in range(args.repeats):
            rows.setdefault(("--help", "-"), []).append(timed([*command, "--help"], folder))
            for name, backend in engines:
                rows.setdefault(("compress", name), []).append(
                    timed([*command, *backend, "compress", "photo.png", "photo.fsq", "--overwrite"], folder)
                )
                rows.setdefault(("decompress", name), []).append(
                    timed([*command, *backend, "decompress", "photo.fsq", "back.png", "--overwrite"], folder)
                )
    print(f"768x512 photo, quality 3, median of {args.repeats} fresh processes each ({os.cpu_count()} cores)\n")
    print("| command | engine | wall s | peak RSS MiB |\n|---|---|---|---|")
    for (what, name), results in rows.items():
        seconds = float(np.median([s for s, _ in results]))
        print(f"| {what} | {name} | {seconds:.2f} | {max(m for _, m in results):.0f} |")


if __name__ == "__main__":
    main()
