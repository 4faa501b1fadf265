"""keras_fsq's FSQ and LFQ against the PyTorch references (vector-quantize-pytorch), torch backend.

    pip install torch==2.13.0 vector-quantize-pytorch    # with the CPU torch already pinned
    KERAS_BACKEND=torch python benchmarks/vs_vector_quantize_pytorch.py [--repeats 50]

Forward + backward (``d sum(q(x)^2) / dx``) of both, eager, on the same inputs and levels
(``dim == len(levels)``, so the reference has no projection; it takes 4-D inputs
channel-first, so it gets the same (64, 8, 8, d) values as (64, d, 8, 8)), timed
alternately in one run; medians in ms and the ratio ours / reference (target: no slower, <= 1).
Our layer runs in training mode with its defaults: the FSQ paper's quantizer, no
quantization loss and no level-usage statistics, like the reference.
"""

import argparse
import os
import statistics
import time

import numpy as np

LEVELS = {"2^8": [8, 6, 5], "2^12": [7, 5, 5, 5, 5], "2^16": [8, 8, 8, 5, 5, 5]}
SHAPES = {"(64, 8, 8, d)": (64, 8, 8), "(64, 1024, d)": (64, 1024)}


def backward_time(module, x, **kwargs):
    import torch

    x = x.detach().requires_grad_(True)
    start = time.perf_counter()
    out = module(x, **kwargs)
    out = out[0] if isinstance(out, tuple) else out
    (out**2).sum().backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def timed_pair(ours, reference, x, x_reference, repeats, **kwargs):
    """Medians (ms) of ours and the reference, timed alternately after 10 warm-up calls each."""
    for _ in range(10):
        backward_time(ours, x, **kwargs), backward_time(reference, x_reference)
    times = {"ours": [], "reference": []}
    for _ in range(repeats):
        times["ours"].append(backward_time(ours, x, **kwargs))
        times["reference"].append(backward_time(reference, x_reference))
    return statistics.median(times["ours"]), statistics.median(times["reference"])


class WithLoss:
    """A keras_fsq layer's codes plus its added loss, so backward includes the loss (as the reference's)."""

    def __init__(self, layer):
        self.layer = layer

    def __call__(self, x, **kwargs):
        codes = self.layer(x, **kwargs)
        return codes + sum(self.layer.losses)


def lfq_table(repeats, device):
    import torch
    from vector_quantize_pytorch import LFQ as ReferenceLFQ

    from keras_fsq import LFQ

    print("\n| input | codebook | keras_fsq LFQ | vector-quantize-pytorch LFQ | ours / reference |")
    print("|---|---|---|---|---|")
    for shape_name, shape in {"(64, 8, 8, d)": (64, 8, 8), "(16, 1024, d)": (16, 1024)}.items():
        for bits in (8, 10):
            x = torch.from_numpy(np.random.default_rng(0).normal(size=shape + (bits,)).astype("float32")).to(device)
            x_reference = x.permute(0, 3, 1, 2).contiguous() if x.ndim == 4 else x
            ours = LFQ(bits, commitment_weight=0.0)
            ours.build(tuple(x.shape))
            reference = ReferenceLFQ(dim=bits, codebook_size=2**bits).to(device).train()
            a, b = timed_pair(WithLoss(ours), ReferenceWithLoss(reference), x, x_reference, repeats, training=True)
            print(f"| {shape_name} d={bits} | 2^{bits} | {a:.3f} | {b:.3f} | {a / b:.2f} |")


class ReferenceWithLoss:
    """The reference LFQ's output plus its auxiliary loss, so backward includes it."""

    def __init__(self, module):
        self.module = module

    def __call__(self, x):
        quantized, _, aux_loss = self.module(x)
        return quantized + aux_loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    if os.environ.get("KERAS_BACKEND") != "torch":
        raise SystemExit("run with KERAS_BACKEND=torch")
    import torch
    from vector_quantize_pytorch import FSQ as ReferenceFSQ

    from keras_fsq import FSQ

    device = "cuda" if torch.cuda.is_available() else "cpu"  # where Keras' torch backend computes too
    where = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__} on {where}; median of {args.repeats}, ms\n")
    print("| input | levels | keras_fsq | vector-quantize-pytorch | ours / reference |")
    print("|---|---|---|---|---|")
    for shape_name, shape in SHAPES.items():
        for size_name, levels in LEVELS.items():
            x = torch.from_numpy(np.random.default_rng(0).normal(size=shape + (len(levels),)).astype("float32")).to(
                device
            )
            x_reference = x.permute(0, 3, 1, 2).contiguous() if x.ndim == 4 else x
            ours, reference = FSQ(levels), ReferenceFSQ(levels=levels).to(device)
            ours.build(tuple(x.shape))
            a, b = timed_pair(ours, reference, x, x_reference, args.repeats, training=True)
            print(f"| {shape_name} d={len(levels)} | {size_name} {levels} | {a:.3f} | {b:.3f} | {a / b:.2f} |")
    lfq_table(args.repeats, device)


if __name__ == "__main__":
    main()
