"""Forward+backward time of FSQ against an identity layer and VectorQuantizer.

    KERAS_BACKEND=jax python benchmarks/quantizer_cost.py [--repeats 20] [--scaling]

For each input shape and codebook size (2^8, 2^12, 2^16 with the FSQ paper's level
sets; VQ with the same number of codes and dimension) it times ``d sum(layer(x)^2) / dx``
compiled with the backend's own compiler (tf.function(jit_compile), jax.jit, or eager
torch) and prints medians in ms and the ratios FSQ/identity and VQ/FSQ, measured side by
side in one run. Targets (issue 8): FSQ within 1.5x of identity; VQ at 2^16 at least 20x
slower than FSQ. On JAX it also prints each compiled step's temporary memory (XLA's
own memory analysis: the working memory beyond inputs and outputs).
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
    import torch

    def step(x):
        x = x.detach().requires_grad_(True)
        (layer(x, **kwargs) ** 2).sum().backward()
        return x.grad

    return step


def compiled_temp_mib(layer, x):
    """JAX only: MiB of temporary buffers XLA allocates for the compiled forward+backward."""
    import jax

    from keras_fsq import Quantizer

    kwargs = {"training": True} if isinstance(layer, Quantizer) else {}

    def loss(x, trainable, non_trainable):
        values, _ = layer.stateless_call(trainable, non_trainable, x, **kwargs)
        return (values**2).sum()

    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    compiled = jax.jit(jax.grad(loss)).lower(x, trainable, non_trainable).compile()
    return compiled.memory_analysis().temp_size_in_bytes / 2**20


def scaling_table(repeats):
    from keras import ops

    from keras_fsq import FSQ

    levels = LEVELS["2^12"]
    print("\nFSQ levels", levels, "time per latent vector as inputs grow (linear = constant ns/vector)\n")
    print("| input | vectors | ms | ns / vector |")
    print("|---|---|---|---|")
    shapes = [(batch, 8, 8) for batch in (16, 64, 256, 1024)] + [(8, side // 8, side // 8) for side in (64, 128, 256, 512)]
    for shape in shapes:
        x = ops.convert_to_tensor(np.random.default_rng(0).normal(size=shape + (len(levels),)).astype("float32"))
        layer = FSQ(levels, loss_weight=0.0)
        layer.build(x.shape)
        ms = median_ms(gradient_function(layer), x, repeats)
        vectors = int(np.prod(shape))
        label = f"batch {shape[0]}, 8x8 grid" if shape[1] == 8 and shape[0] != 8 else f"8 images of {shape[1] * 8}x{shape[2] * 8} px"
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--scaling", action="store_true", help="also time FSQ as batch and image size grow")
    args = parser.parse_args()

    import keras
    from keras import ops

    from keras_fsq import FSQ, VectorQuantizer

    jax = keras.backend.backend() == "jax"
    print(f"backend {keras.backend.backend()}; median of {args.repeats} forward+backward passes, ms\n")
    memory = " | temp MiB identity / FSQ / VQ" if jax else ""
    print(f"| input | codebook | identity | FSQ | VQ | FSQ / identity | VQ / FSQ{memory} |")
    print("|---|---|---|---|---|---|---|" + ("---|" if jax else ""))
    for shape_name, shape in SHAPES.items():
        for size_name, levels in LEVELS.items():
            d = len(levels)
            x = ops.convert_to_tensor(np.random.default_rng(0).normal(size=shape + (d,)).astype("float32"))
            layers = {
                "identity": keras.layers.Identity(),
                "fsq": FSQ(levels, loss_weight=0.0),
                "vq": VectorQuantizer(int(np.prod(levels)), d, commitment_weight=0.0, seed=0),
            }
            # Eager torch materializes VQ's rows x codes distance matrix; skip it past 4 GiB.
            distance_gib = np.prod(shape) * np.prod(levels) * 4 / 2**30
            if keras.backend.backend() == "torch" and distance_gib > 4:
                del layers["vq"]
            ms, mib = {}, {}
            for name, layer in layers.items():
                layer.build(x.shape)
                ms[name] = median_ms(gradient_function(layer), x, args.repeats)
                mib[name] = compiled_temp_mib(layer, x) if jax else None
            vq = f"{ms['vq']:.3f} | " if "vq" in ms else f"skipped ({distance_gib:.0f} GiB distances) | "
            ratio = f"{ms['vq'] / ms['fsq']:.1f}" if "vq" in ms else "–"
            memory = f" | {mib['identity']:.2f} / {mib['fsq']:.2f} / {mib['vq']:.1f}" if jax else ""
            print(
                f"| {shape_name} d={d} | {size_name} ({int(np.prod(levels))}) | {ms['identity']:.3f} | {ms['fsq']:.3f} "
                f"| {vq}{ms['fsq'] / ms['identity']:.2f} | {ratio}{memory} |"
            )
    if args.scaling:
        scaling_table(args.repeats)


if __name__ == "__main__":
    main()
