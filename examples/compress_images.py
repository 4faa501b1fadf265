"""Compress photos into .fsq files and back with a fully convolutional FSQ-VAE.

    python examples/compress_images.py --data-dir ../shared/data            # trains 6 epochs first
    python examples/compress_images.py --data-dir ../shared/data --quick    # 1 epoch (CI)
"""

import argparse
import pathlib
import tempfile

import keras

from keras_fsq import FSQ, FSQVAE, ConvDecoder, ConvEncoder, codec, data

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding bsd68/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--quick", action="store_true", help="a tiny budget that only shows the code runs")
args = parser.parse_args()

photos = data.image_paths(data.resolve_data_dir(args.data_dir) / "bsd68")
tiles = data.load_image_folder(data.resolve_data_dir(args.data_dir) / "bsd68", size=64, mode="tile")
tiles = tiles[:128] if args.quick else tiles

# One FSQ vector (levels [8, 8, 8, 8], 12 bits before entropy coding) per 4x4 pixels.
model = FSQVAE(ConvEncoder(4, [64, 128]), FSQ([8, 8, 8, 8]), ConvDecoder(3, [128, 64]), reconstruction_loss="mse")
model.compile(optimizer=keras.optimizers.Adam(1e-3))
model.fit(tiles, epochs=1 if args.quick else 6, batch_size=32, verbose=2)

# A prior conditioned on the left neighbour's code, learned from the training tiles.
prior = codec.EntropyModel.fit(model, tiles, context="left")

photo = data.read_image(photos[-1])  # 481x321 (or 321x481): any size works, it is padded and cropped
file_bytes = codec.compress(model, photo, prior)
(restored,) = codec.decompress(model, file_bytes, prior)
print(f"{photos[-1].name}: {len(file_bytes)} bytes = {8 * len(file_bytes) / (photo.shape[0] * photo.shape[1]):.3f} bits/pixel")

out = pathlib.Path(tempfile.mkdtemp())
(out / "photo.fsq").write_bytes(file_bytes)
data.write_image(restored, out / "photo.png")
print("wrote", out / "photo.fsq", "and", out / "photo.png", restored.shape)
