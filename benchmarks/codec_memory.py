"""Peak memory of `keras-fsq compress` and `decompress` on the largest image a file may hold (2^25 pixels).

    python benchmarks/codec_memory.py --backends tensorflow,jax,torch --quality 3

Writes an 8192x4096 PNG (a BSD68 photo tiled and mirrored, so it has real texture),
then runs the two commands as separate processes on each backend and prints a table of
wall time and peak resident memory (the child's ``ru_maxrss``), the file size and the
round trip's PSNR. The codec tiles the encoder and decoder (``keras_fsq.tiling``), so
what grows with the image is its pixels (float32 in, float32 out) and its symbols.
"""

import argparse
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]


def large_photo(path, data_dir):
    """An 8192x4096 RGB PNG made of one BSD68 photo, mirrored and tiled."""
    with Image.open(pathlib.Path(data_dir) / "bsd68" / "102061.png") as image:
        photo = np.asarray(image.convert("RGB"))
    pair = np.concatenate([photo, photo[:, ::-1]], axis=1)
    block = np.concatenate([pair, pair[::-1]], axis=0)
    reps = (-(-4096 // block.shape[0]), -(-8192 // block.shape[1]), 1)
    Image.fromarray(np.tile(block, reps)[:4096, :8192]).save(path)


def run(command, backend):
    """Wall seconds and peak RSS (MiB) of ``keras-fsq --backend backend command...`` in a child process."""
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run(
        [sys.executable, "-m", "keras_fsq.cli", "--backend", backend, *command], capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed on {backend}: {result.stderr.strip()[-500:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return time.perf_counter() - started, max(peak, before) / 1024


def measured(command, backend):
    """``run`` in a fresh parent process, so that the children's peak is this command's alone."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        f"from benchmarks.codec_memory import run\nprint(*run({command!r}, {backend!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    seconds, mib = map(float, result.stdout.split())
    return seconds, mib


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--quality", default="3")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp())
    large_photo(work / "large.png", args.data_dir)
    original = np.asarray(Image.open(work / "large.png"), dtype="float64")
    print("| backend | compress s | compress peak MiB | decompress s | decompress peak MiB | bits/pixel | PSNR (dB) |")
    print("|---|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        fsq, png = str(work / f"{backend}.fsq"), str(work / f"{backend}.png")
        compress_s, compress_mib = measured(
            ["compress", str(work / "large.png"), fsq, "--quality", args.quality], backend
        )
        decompress_s, decompress_mib = measured(["decompress", fsq, png], backend)
        decoded = np.asarray(Image.open(work / f"{backend}.png"), dtype="float64")
        psnr = 10 * np.log10(255.0**2 / np.mean((decoded - original) ** 2))
        bits = 8 * (work / f"{backend}.fsq").stat().st_size / (8192 * 4096)
        print(
            f"| {backend} | {compress_s:.0f} | {compress_mib:.0f} | {decompress_s:.0f} | {decompress_mib:.0f} | "
            f"{bits:.3f} | {psnr:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
