"""Forward+backward time and memory of FSQ against an identity layer and VectorQuantizer.

    KERAS_BACKEND=jax python benchmarks/quantizer_cost.py [--repeats 20] [--scaling]
    KERAS_BACKEND=jax python benchmarks/quantizer_cost.py --memory

For each input shape and codebook size (2^8, 2^12, 2^16 with the FSQ paper's level
sets; VQ with the same number of codes and dimension) it times ``d sum(layer(x)^2) / dx``
compiled with the backend's own compiler (tf.function(jit_compile), jax.jit, or eager
torch) and prints medians in ms and the ratios FSQ/identity and VQ/FSQ, measured side by
side in one run. Targets (issue 8): FSQ within 1.5x of identity; VQ at 2^16 at least 20x
slower than FSQ. "FSQ" is the layer's default (the FSQ paper's quantizer); "FSQ + loss"
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


def gradient_function(layer):
    """A compiled ``x -> d sum(layer(x, training=True)^2) / dx`` on the active backend."""
    import keras

    from keras_fsq import Quantizer

    kwargs = {"training": True} if isinstance(layer, Quantizer) else {}  # Identity takes no `training`

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(tf.square(layer(x, **kwargs)))
            return tape.gradient(y, x)

        return step
    if backend == "jax":
        import jax

        def loss(x, trainable, non_trainable):
            values, _ = layer.stateless_call(trainable, non_trainable, x, **kwargs)
            return (values**2).sum()

        grad = jax.jit(jax.grad(loss))
        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        return lambda x: grad(x, trainable, non_trainable)

    def step(x):
        x = x.detach().requires_grad_(True)
        (layer(x, **kwargs) ** 2).sum().backward()
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


def benchmark_cases(with_vq=True):
    """Yield (input name, codebook name, x, {layer name: compiled step}) for every table row."""
    import keras
    from keras import ops

    from keras_fsq import FSQ, VectorQuantizer

    for shape_name, shape in SHAPES.items():
        for size_name, levels in LEVELS.items():
            d = len(levels)
            x = ops.convert_to_tensor(np.random.default_rng(0).normal(size=shape + (d,)).astype("float32"))
            layers = {
                "identity": keras.layers.Identity(),
                "fsq": FSQ(levels),
                "fsq_loss": FSQ(levels, loss_weight=1.0, track_usage=True),  # the seed's options
                "vq": VectorQuantizer(int(np.prod(levels)), d, commitment_weight=0.0, seed=0),
            }
            # Eager torch materializes VQ's rows x codes distance matrix; skip it past 4 GiB.
            if not with_vq or keras.backend.backend() == "torch" and np.prod(shape) * np.prod(levels) * 4 > 4 * 2**30:
                del layers["vq"]
            for layer in layers.values():
                layer.build(x.shape)
            steps = {name: gradient_function(layer) for name, layer in layers.items()}
            yield f"{shape_name} d={d}", f"{size_name} ({int(np.prod(levels))})", x, steps


def time_table(repeats, with_vq=True):
    print("| input | codebook | identity | FSQ | FSQ + loss | VQ | FSQ / identity | VQ / FSQ |")
    print("|---|---|---|---|---|---|---|---|")
    for input_name, codebook_name, x, steps in benchmark_cases(with_vq):
        ms = {name: median_ms(step, x, repeats) for name, step in steps.items()}
        vq, ratio = (f"{ms['vq']:.3f}", f"{ms['vq'] / ms['fsq']:.1f}") if "vq" in ms else ("skipped", "–")
        print(
            f"| {input_name} | {codebook_name} | {ms['identity']:.3f} | {ms['fsq']:.3f} | {ms['fsq_loss']:.3f} "
            f"| {vq} | {ms['fsq'] / ms['identity']:.2f} | {ratio} |"
        )


def memory_table():
    from keras import ops

    print("| input | codebook | identity | FSQ | FSQ + loss | VQ |")
    print("|---|---|---|---|---|---|")
    for input_name, codebook_name, x, steps in benchmark_cases():
        mib = {}
        for name, step in steps.items():
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
        print(f"backend {keras.backend.backend()}; median of {args.repeats} forward+backward passes, ms\n")
        time_table(args.repeats, with_vq=not args.no_vq)
    if args.scaling:
        scaling_table(args.repeats)


if __name__ == "__main__":
    main()
