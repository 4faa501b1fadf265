"""Forward+backward time and memory of FSQ, LFQ, BSQ and VQ against identity layers, eager and compiled.

    KERAS_BACKEND=jax python benchmarks/quantizer_cost.py [--repeats 20] [--mode both|eager|compiled] [--scaling]
    KERAS_BACKEND=jax python benchmarks/quantizer_cost.py --memory

For each input shape and codebook size (2^8, 2^12, 2^16 with the FSQ paper's level
sets; VQ with the same number of codes and dimension; LFQ and BSQ with as many bits) it
times ``d sum(layer(x)^2) / dx`` eagerly and compiled with the backend's own compiler
(tf.function(jit_compile=True), jax.jit, torch.compile), every layer in turn round after
round, and prints medians in ms and the ratios to an identity layer of the same input
shape (target: FSQ at most 1.5x identity in a compiled step), VQ/FSQ and, on torch with
vector-quantize-pytorch installed, FSQ / the peer's FSQ on the same values (target: at most
0.9 eager). "FSQ" is the layer's default (the FSQ paper's quantizer); "FSQ + loss"
adds the seed's options, its quantization loss (commitment and entropy terms) and the
level-usage EMA. ``--no-vq`` leaves VQ out. ``--memory`` prints each step's memory peak instead: the
resident memory one forward+backward adds above what was resident before it (outputs,
gradients and temporaries), read from Linux's peak RSS (``VmHWM``, reset through
``/proc/self/clear_refs``), with glibc told from the start to return every buffer over
64 KiB to the system when freed, so a step cannot reuse memory unseen. That makes every
allocation a system call, so memory and time are measured in separate runs.
``--scaling`` adds FSQ's time per latent vector as the batch and the image grow
(quantization should stay linear: constant ns per vector).
"""

import argparse
import statistics
import time

import numpy as np

LEVELS = {"2^8": [8, 6, 5], "2^12": [7, 5, 5, 5, 5], "2^16": [8, 8, 8, 5, 5, 5]}
SHAPES = {"(64, 8, 8, d)": (64, 8, 8), "(64, 1024, d)": (64, 1024)}


def gradient_function(layer, compiled=True):
    """``x -> d sum(layer(x, training=True)^2) / dx`` on the active backend, compiled by its own compiler
    (``tf.function(jit_compile=True)``, ``jax.jit``, ``torch.compile``) or eager (``compiled=False``)."""
    import keras

    from keras_fsq import Quantizer

    kwargs = {"training": True} if isinstance(layer, Quantizer) else {}  # Identity takes no `training`

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(tf.square(layer(x, **kwargs)))
            return tape.gradient(y, x)

        return tf.function(step, jit_compile=True) if compiled else step
    if backend == "jax":
        import jax

        def loss(x, trainable, non_trainable):
            values, _ = layer.stateless_call(trainable, non_trainable, x, **kwargs)
            return (values**2).sum()

        grad = jax.jit(jax.grad(loss)) if compiled else jax.grad(loss)
        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        return lambda x: grad(x, trainable, non_trainable)
    return torch_gradient(lambda x: layer(x, **kwargs), compiled)


def torch_gradient(forward, compiled):
    """``x -> d sum(forward(x)^2) / dx`` on torch; ``compiled``: the loss through ``torch.compile``
    (AOTAutograd compiles its backward too)."""
    import torch

    def loss(x):
        out = forward(x)
        out = out[0] if isinstance(out, tuple) else out
        return (out**2).sum()

    loss = torch.compile(loss) if compiled else loss

    def step(x):
        x = x.detach().requires_grad_(True)
        loss(x).backward()
        return x.grad

    return step


def return_freed_buffers_to_the_system():
    """glibc: serve buffers over 64 KiB with mmap and unmap them when freed, so RSS tracks live memory."""
    import ctypes

    M_MMAP_THRESHOLD = -3
    ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 64 * 1024)


def resident_mib(field):
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


def peak_step_mib(fn, x):
    """MiB one call of the (warmed-up) ``fn(x)`` adds to the resident set at its peak."""
    from keras import ops

    before = resident_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset the peak (VmHWM) to the current RSS
    ops.convert_to_numpy(fn(x))
    return resident_mib("VmHWM") - before


def scaling_table(repeats):
    from keras import ops

    from keras_fsq import FSQ

    levels = LEVELS["2^12"]
    print("\nFSQ levels", levels, "time per latent vector as inputs grow (linear = constant ns/vector)\n")
    print("| input | vectors | ms | ns / vector |")
    print("|---|---|---|---|")
    shapes = [(batch, 8, 8) for batch in (16, 64, 256, 1024)] + [
        (8, side // 8, side // 8) for side in (64, 128, 256, 512)
    ]
    for shape in shapes:
        x = ops.convert_to_tensor(np.random.default_rng(0).normal(size=shape + (len(levels),)).astype("float32"))
        layer = FSQ(levels)
        layer.build(x.shape)
        ms = median_ms(gradient_function(layer), x, repeats)
        vectors = int(np.prod(shape))
        label = (
            f"batch {shape[0]}, 8x8 grid"
            if shape[1] == 8 and shape[0] != 8
            else f"8 images of {shape[1] * 8}x{shape[2] * 8} px"
        )
        print(f"| {label} | {vectors} | {ms:.3f} | {ms * 1e6 / vectors:.1f} |")


def median_ms(fn, x, repeats):
    from keras import ops

    ops.convert_to_numpy(fn(x))  # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ops.convert_to_numpy(fn(x))
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def peer_fsq(levels):
    """vector-quantize-pytorch's FSQ (channels-last 3-D inputs), or ``None`` when it is not installed."""
    try:
        from vector_quantize_pytorch import FSQ as PeerFSQ
    except ImportError:
        return None
    return PeerFSQ(levels=levels)


def benchmark_cases(with_vq=True, compiled=True):
    """Yield (input name, codebook name, {layer name: (x, step)}) for every table row.

    FSQ, FSQ + loss and VQ take ``d = len(levels)`` channels; LFQ and BSQ ``log2(codes)`` bits; each is
    compared with an identity layer of its own input shape. On torch, vector-quantize-pytorch's FSQ
    (``peer``) runs beside ours on the same values when it is installed.
    """
    import keras
    from keras import ops

    from keras_fsq import BSQ, FSQ, LFQ, VectorQuantizer

    torch_backend = keras.backend.backend() == "torch"
    for shape_name, shape in SHAPES.items():
        for size_name, levels in LEVELS.items():
            d, bits = len(levels), int(size_name.split("^")[1])
            rng = np.random.default_rng(0)
            x = ops.convert_to_tensor(rng.normal(size=shape + (d,)).astype("float32"))
            x_bits = ops.convert_to_tensor(rng.normal(size=shape + (bits,)).astype("float32"))
            layers = {
                "identity": (x, keras.layers.Identity()),
                "fsq": (x, FSQ(levels)),
                "fsq_loss": (x, FSQ(levels, loss_weight=1.0, track_usage=True)),  # the seed's options
                "identity_bits": (x_bits, keras.layers.Identity()),
                "lfq": (x_bits, LFQ(bits, commitment_weight=0.0)),
                "bsq": (x_bits, BSQ(bits)),
                "vq": (x, VectorQuantizer(int(np.prod(levels)), d, commitment_weight=0.0, seed=0)),
            }
            # VQ materializes a rows x codes distance matrix: past 1 GiB of it a step takes seconds (VQ/FSQ is
            # in the hundreds already at the rows below), so it is left out there.
            if not with_vq or np.prod(shape) * np.prod(levels) * 4 > 2**30:
                del layers["vq"]
            steps = {}
            for name, (inputs, layer) in layers.items():
                layer.build(inputs.shape)
                steps[name] = (inputs, gradient_function(layer, compiled))
            peer = peer_fsq(levels) if torch_backend else None
            if peer is not None:
                flat = ops.reshape(x, (shape[0], -1, d))  # the peer reads (batch, sequence, d)
                steps["peer"] = (flat, torch_gradient(peer, compiled))
            yield f"{shape_name} d={d}", f"{size_name} ({int(np.prod(levels))})", steps


def time_table(repeats, with_vq=True, compiled=True):
    """Medians (ms) of every layer's step, timed in turns (one call each, round after round)."""
    columns = ["identity", "fsq", "fsq_loss", "identity_bits", "lfq", "bsq", "vq", "peer"]
    print(
        "| input | codebook | identity | FSQ | FSQ + loss | identity (bits) | LFQ | BSQ | VQ | vector-quantize-pytorch "
        "FSQ | FSQ / identity | LFQ / identity | BSQ / identity | VQ / FSQ | FSQ / peer |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for input_name, codebook_name, steps in benchmark_cases(with_vq, compiled):
        ms = alternating_medians(steps, repeats)

        def cell(name, denominator=None, digits=3):
            if name not in ms or denominator is not None and denominator not in ms:
                return "–"
            return f"{ms[name] / ms[denominator]:.2f}" if denominator else f"{ms[name]:.{digits}f}"

        cells = [cell(name) for name in columns] + [
            cell("fsq", "identity"),
            cell("lfq", "identity_bits"),
            cell("bsq", "identity_bits"),
            cell("vq", "fsq"),
            cell("fsq", "peer"),
        ]
        print(f"| {input_name} | {codebook_name} | " + " | ".join(cells) + " |")


def alternating_medians(steps, repeats):
    """``{name: median ms}`` of ``steps`` (``{name: (x, step)}``), warmed up (compiled), then timed in turns."""
    from keras import ops

    for x, step in steps.values():
        for _ in range(3):
            ops.convert_to_numpy(step(x))
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, (x, step) in steps.items():
            start = time.perf_counter()
            ops.convert_to_numpy(step(x))
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def memory_table():
    from keras import ops

    print("| input | codebook | identity | FSQ | FSQ + loss | VQ |")
    print("|---|---|---|---|---|---|")
    for input_name, codebook_name, steps in benchmark_cases():
        mib = {}
        for name, (x, step) in steps.items():
            ops.convert_to_numpy(step(x))  # compile and warm up
            mib[name] = peak_step_mib(step, x)
        vq = f"{mib['vq']:.1f}" if "vq" in mib else "skipped"
        print(
            f"| {input_name} | {codebook_name} | {mib['identity']:.1f} | {mib['fsq']:.1f} | {mib['fsq_loss']:.1f} | "
            f"{vq} |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    # Not both: --memory slows every allocation, which would distort the scaling times.
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--memory", action="store_true", help="print peak memory per step instead of times")
    mode.add_argument("--scaling", action="store_true", help="also time FSQ as batch and image size grow")
    parser.add_argument("--mode", choices=["both", "eager", "compiled"], default="both")
    parser.add_argument(
        "--no-vq", action="store_true", help="leave VQ out of the time table (it takes most of the run)"
    )
    args = parser.parse_args()

    import keras

    if args.memory:
        # Before anything is allocated: later, freed heap memory would be reused unseen.
        return_freed_buffers_to_the_system()
        print(f"backend {keras.backend.backend()}; peak MiB one forward+backward adds to the resident set\n")
        memory_table()
    else:
        for compiled in {"both": (False, True), "eager": (False,), "compiled": (True,)}[args.mode]:
            how = "compiled" if compiled else "eager"
            print(f"\n{keras.backend.backend()}, {how}: median of {args.repeats} forward+backward passes, ms\n")
            time_table(args.repeats, with_vq=not args.no_vq, compiled=compiled)
    if args.scaling:
        scaling_table(args.repeats)


if __name__ == "__main__":
    main()
