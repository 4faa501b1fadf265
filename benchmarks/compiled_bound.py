"""Where FSQ's time goes under torch.compile on a CPU: its elementwise chain with and without the tanh bound.

    python benchmarks/compiled_bound.py [--repeats 30] [--threads 1]

Times ``d sum(f(x)^2) / dx`` for x of shape (64, 1024, 6), eager and through ``torch.compile``
(inductor), for plain PyTorch functions that isolate FSQ's parts: the identity; FSQ's chain
``round_ste(tanh(x / T + s) h + o) c`` (round by ``x + stop_gradient(round(x) - x)``); the same
chain without the tanh; without the rounding; and with the tanh written as ``2 sigmoid(2 u) - 1``
(equal in exact arithmetic). Every function in turn, round after round; medians in ms.
"""

import argparse
import statistics
import time

import torch

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--repeats", type=int, default=30)
parser.add_argument("--threads", type=int, default=1)
args = parser.parse_args()
torch.set_num_threads(args.threads)
generator = torch.Generator().manual_seed(0)
x = torch.randn(64, 1024, 6, generator=generator)
half, shift, offset, scale = (torch.rand(6, generator=generator) for _ in range(4))
temperature = torch.tensor(1.0)


def round_ste(value):
    return value + (torch.round(value) - value).detach()


def squared(codes):
    return (codes**2).sum()


CHAINS = {
    "identity": lambda v: squared(v),
    "FSQ chain": lambda v: squared(round_ste(torch.tanh(v / temperature + shift) * half + offset) * scale),
    "without tanh": lambda v: squared(round_ste((v / temperature + shift) * half + offset) * scale),
    "without rounding": lambda v: squared((torch.tanh(v / temperature + shift) * half + offset) * scale),
    "tanh as sigmoid": lambda v: squared(
        round_ste((2 * torch.sigmoid(2 * (v / temperature + shift)) - 1) * half + offset) * scale
    ),
}


def gradient_step(loss):
    def step():
        value = x.detach().requires_grad_(True)
        loss(value).backward()
        return value.grad

    return step


steps = {
    (name, mode): gradient_step(torch.compile(f) if mode == "compiled" else f)
    for name, f in CHAINS.items()
    for mode in ("eager", "compiled")
}
times: dict = {key: [] for key in steps}
for step in steps.values():
    for _ in range(5):  # compile and warm up
        step()
for _ in range(args.repeats):
    for key, step in steps.items():
        started = time.perf_counter()
        step()
        times[key].append((time.perf_counter() - started) * 1e3)
print(f"torch {torch.__version__}, {args.threads} thread(s), x (64, 1024, 6), median of {args.repeats}, ms")
print("| function | eager | compiled | compiled / compiled identity |")
print("|---|---|---|---|")
identity = statistics.median(times[("identity", "compiled")])
for name in CHAINS:
    eager, compiled = (statistics.median(times[(name, mode)]) for mode in ("eager", "compiled"))
    print(f"| {name} | {eager:.3f} | {compiled:.3f} | {compiled / identity:.1f} |")
