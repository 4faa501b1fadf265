"""Measure AdaptiveFSQ's bit split (flat vs textured) and HierarchicalFSQ's PSNR per stage.

    python experiments/adaptive_and_hierarchical.py --data-dir ../shared/data --out runs/extensions

AdaptiveFSQ: 32x32 tiles of the BSD68 photos, the 10% flattest and 10% most textured by
pixel std; trains on ``--tiles`` of each and reports held-out bits/image and PSNR per group.
HierarchicalFSQ: the bundled CIFAR-10 images (first ``--train-size`` train, 4,000+ held out);
reports PSNR and bits/image when decoding from the first k stages. Writes ``extensions.md``.
"""

import argparse
import pathlib


def psnr(images, reconstructions):
    import numpy as np

    mse = np.mean((images - reconstructions) ** 2, axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(1 / np.maximum(mse, 1e-10))))


def small_model(quantizer, code_dim):
    import keras

    from keras_fsq import FSQVAE, ConvDecoder, ConvEncoder

    model = FSQVAE(
        ConvEncoder(code_dim, [16, 32], norm_momentum=0.9),
        quantizer,
        ConvDecoder(3, [32, 16], norm_momentum=0.9),
        reconstruction_loss="mse",
    )
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    return model


def adaptive_rows(data_dir, tiles_per_group, epochs, rate_weight):
    import numpy as np
    from keras import ops

    from keras_fsq import AdaptiveFSQ
    from keras_fsq.data import load_image_folder, resolve_data_dir

    tiles = load_image_folder(resolve_data_dir(data_dir) / "bsd68", size=32, mode="tile")
    order = np.argsort(tiles.std(axis=(1, 2, 3)))
    tenth = len(tiles) // 10
    rng = np.random.default_rng(0)
    flat, textured = tiles[rng.permutation(order[:tenth])], tiles[rng.permutation(order[-tenth:])]
    n = tiles_per_group
    train = np.concatenate([flat[:n], textured[:n]])
    quantizer = AdaptiveFSQ([[3, 3, 3], [8, 8, 8]], rate_weight=rate_weight, seed=0)
    model = small_model(quantizer, 3)
    model.fit(train[rng.permutation(len(train))], epochs=epochs, batch_size=32, verbose=0)
    rows = []
    for name, group in (("flat", flat[n:]), ("textured", textured[n:])):
        bits = ops.convert_to_numpy(quantizer.bits_per_example(model.encode(group)))
        rows.append(f"| {name} | {len(group)} | {bits.mean():.0f} | {psnr(group, model.reconstruct(group)):.2f} |")
    header = "| held-out tiles | count | bits / image | PSNR (dB) |\n|---|---|---|---|"
    return header + "\n" + "\n".join(rows)


def hierarchical_rows(data_dir, train_size, epochs):
    from keras_fsq import HierarchicalFSQ
    from keras_fsq.data import load_shared_cifar10

    images, _ = load_shared_cifar10(data_dir)
    train, held_out = images[:train_size], images[4000:]
    quantizer = HierarchicalFSQ([[3, 3, 3]] * 3, stage_dropout=0.5, seed=0)
    model = small_model(quantizer, 3)
    model.fit(train, epochs=epochs, batch_size=32, verbose=0)
    positions = 8 * 8
    rows = [
        f"| {k} | {positions * sum(quantizer.stage_bits(k)):.0f} | "
        f"{psnr(held_out, model.reconstruct(held_out, num_stages=k)):.2f} |"
        for k in (1, 2, 3)
    ]
    header = f"| stages decoded | bits / image | PSNR (dB), {len(held_out)} held-out images |\n|---|---|---|"
    return header + "\n" + "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="the shared data folder (default: $KERAS_FSQ_DATA)")
    parser.add_argument("--tiles", type=int, default=768, help="training tiles per group (flat, textured)")
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rate-weight", type=float, default=3e-4)
    parser.add_argument("--out", default="runs/extensions")
    args = parser.parse_args()

    import keras

    keras.utils.set_random_seed(0)
    adaptive = adaptive_rows(args.data_dir, args.tiles, args.epochs, args.rate_weight)
    hierarchical = hierarchical_rows(args.data_dir, args.train_size, args.epochs)
    report = (
        f"## AdaptiveFSQ, ladder [[3,3,3],[8,8,8]], rate_weight {args.rate_weight}, backend "
        f"{keras.backend.backend()}\n\n"
        f"{adaptive}\n\n## HierarchicalFSQ, stages [[3,3,3]] x 3\n\n{hierarchical}\n"
    )
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "extensions.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
