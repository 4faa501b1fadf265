"""Hostile and careless inputs to the command line, each in a fresh process: outcome, time and peak memory.

    python benchmarks/hostile_probe.py [--backend jax]

Every case crafts its inputs (at most a few MB on disk) in a scratch folder and runs one
``keras-fsq`` command on them the way a user would. For each it prints the exit status, the
last line the command wrote to stderr, the wall time and the command's peak resident memory
(``ru_maxrss`` of the child, measured by a wrapper process that runs nothing else). The
expectation for every case: exit 0 with the documented work done, or exit 2 with one line
naming the argument or file (never a traceback), within 2 GB and 2 minutes.
"""

import argparse
import io
import json
import os
import pathlib
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code, file=sys.stderr)\n"
)


def run(command, cwd, env, timeout=300):
    """``(exit status, last stderr line, seconds, peak MiB)`` of ``keras-fsq command`` in a fresh process."""
    started = time.perf_counter()
    full = [sys.executable, "-c", WRAPPER, sys.executable, "-m", "keras_fsq.cli", *command]
    result = subprocess.run(full, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    peak_kib, code = (int(v) for v in lines[-1].split())
    said = [line for line in lines[:-1] if not line.startswith(("WARNING: All log", "I0000", "W0000", "E0000"))]
    traceback = any(line.startswith("Traceback") for line in said)
    return code, ("TRACEBACK: " if traceback else "") + (said[-1] if said else ""), seconds, peak_kib / 1024


def png_header_only(width, height):
    """A PNG whose header claims ``width`` x ``height`` and whose data is one empty row."""

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def tar_of(path, files):
    with tarfile.open(path, "w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))


def largest_claim():
    """A file of the shipped quality-1 codec (format 5) whose header claims the largest photo a file may hold,
    8192x4096 (50 million symbols), behind 1.2 KB of random payload: as many symbols as its payload can carry
    at the cheapest cost (``codec.ONLINE_MIN_SYMBOL_BITS``), so every one of them is decoded before the
    payload check fails."""
    from keras_fsq import codec
    from keras_fsq.compression.dct_engine import DCTEngine

    header = codec.read_header(codec.compress(DCTEngine("fsq_dct_q1"), np.zeros((8, 8, 3), "float32")))
    symbols = 4096 // 8 * 8192 // 8 * 96
    words = int(symbols * codec.ONLINE_MIN_SYMBOL_BITS // 32) + 1
    payload = np.random.default_rng(0).integers(0, 2**32, words, dtype="uint64").astype("<u4").tobytes()
    fields = {"height": 4096, "width": 8192, "payload": payload}
    return codec.Header(*(fields.get(name, getattr(header, name)) for name in codec.Header._fields)).pack()


def cases(folder):
    """``(name, command)`` pairs, their inputs written into ``folder``."""
    f = pathlib.Path(folder)
    np.savez_compressed(f / "many.npz", x=np.zeros((400_000, 32, 32, 3), "uint8"))  # 1.2 GB of pixels, ~1 MB file
    np.save(f / "wide.npy", np.zeros((20, 32, 32, 3), np.longdouble))
    np.savez_compressed(f / "float64.npz", x=np.zeros((40_000, 32, 32, 3), "float64"))
    tar_of(f / "traversal.tar.gz", {"../../escaped/a.png": png_header_only(32, 32)})
    tar_of(f / "bomb.tar.gz", {"set/cat/a.png": png_header_only(100_000, 100_000)})
    (f / "huge.png").write_bytes(png_header_only(60_000, 60_000))
    (f / "photos").mkdir()
    (f / "photos" / "a.png").write_bytes(png_header_only(60_000, 60_000))
    (f / "garbage.fsq").write_bytes(b"KFSQ" + os.urandom(200))
    (f / "claims_8192x4096.fsq").write_bytes(largest_claim())
    checkpoint = f / "run" / "checkpoint"
    checkpoint.mkdir(parents=True)
    (checkpoint / "latest.json").write_text(json.dumps({"epoch": 1, "folder": "../../x", "settings": {}}))
    tiny = ["--data", "many.npz", "--limit", "20", "--train-size", "10", "--epochs", "1"]  # seconds of training
    return [
        ("train on 400,000 zero images (1 MB .npz), --limit 20", ["train", *tiny, "--out", "t1"]),
        ("train on the same file without --limit", ["train", "--data", "many.npz", "--out", "t2"]),
        ("train on a float128 .npy", ["train", "--data", "wide.npy", "--out", "t3"]),
        ("train on 40,000 float64 images (compressed zeros)", ["train", "--data", "float64.npz", "--out", "t4"]),
        ("fid on 400,000 images", ["fid", "many.npz", "many.npz"]),
        ("train on a .tar.gz whose member climbs out", ["train", "--data", "traversal.tar.gz", "--out", "t5"]),
        ("train on a .tar.gz holding a 100,000^2 PNG header", ["train", "--data", "bomb.tar.gz", "--out", "t6"]),
        ("compress a 60,000^2 PNG header", ["compress", "huge.png", "huge.fsq"]),
        ("compress a folder holding it", ["compress", "photos", "out"]),
        ("decompress random bytes after the magic", ["decompress", "garbage.fsq", "g.png"]),
        ("decompress 1.3 KB claiming an 8192x4096 photo", ["decompress", "claims_8192x4096.fsq", "c.png"]),
        ("train --resume on a checkpoint naming ../../x", ["train", *tiny, "--out", "run", "--resume"]),
        ("generate --num 100001", ["generate", "--num", "100001", "--out", "g"]),
        ("generate --steps 0", ["generate", "--steps", "0", "--out", "g2"]),
        ("generate --class 3 --num 2, shipped model", ["generate", "--class", "3", "--num", "2", "--out", "g3"]),
        ("compress --quality 7", ["compress", "huge.png", "q.fsq", "--quality", "7"]),
        ("train --epochs nan", ["train", "--epochs", "nan"]),
        ("train --learning-rate inf", ["train", "--learning-rate", "inf", "--out", "t7"]),
        (
            "train --architecture block_dct on 32x32 images",
            ["train", "--architecture", "block_dct", *tiny, "--out", "t8"],
        ),
        (
            "train --train-size 0 on shared-cifar10-jpeg50k",
            ["train", "--data", "shared-cifar10-jpeg50k", "--train-size", "0", "--out", "t9"],
        ),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="jax", help="KERAS_BACKEND for the commands that need one")
    args = parser.parse_args()
    env = {**os.environ, "KERAS_BACKEND": args.backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    print(f"KERAS_BACKEND={args.backend}\n")
    print("| case | exit | last line on stderr | s | peak MiB |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for name, command in cases(folder):
            code, said, seconds, mib = run(command, folder, env)
            said = said.replace("|", "\\|")[:160]
            print(f"| {name} | {code} | {said} | {seconds:.1f} | {mib:.0f} |", flush=True)
        escaped = pathlib.Path(folder).parent / "escaped"
        print(f"\nanything written outside the scratch folder: {escaped.exists()}")


if __name__ == "__main__":
    main()
