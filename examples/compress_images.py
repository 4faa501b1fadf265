"""Compress a photo into an .fsq file and back: with a shipped codec, then with one you train.

python examples/compress_images.py --data-dir ../shared/data            # trains 500 steps (a few minutes)
python examples/compress_images.py --data-dir ../shared/data --quick    # 20 steps (CI)
"""

import argparse
import pathlib
import tempfile

from keras_fsq import FSQVAE, build_fsqvae, codec, data, presets, training

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding bsd68/ and photos/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--quick", action="store_true", help="a tiny budget that only shows the code runs")
args = parser.parse_args()
shared = data.resolve_data_dir(args.data_dir)
photo = data.read_image(data.image_paths(shared / "bsd68")[-1])  # 481x321 (or 321x481): any size is padded and cropped
out = pathlib.Path(tempfile.mkdtemp())

# 1. A shipped codec (quality 1 = smallest files ... 6 = best), with its learned prior: no training.
model = FSQVAE.from_preset(presets.codec_preset(3))
file_bytes = codec.compress(model, photo)  # the file records "fsq_dct_q3" and the weights' fingerprint
(restored,) = codec.decompress(model, file_bytes)
print(
    f"shipped quality 3: {len(file_bytes)} bytes = {8 * len(file_bytes) / (photo.shape[0] * photo.shape[1]):.3f} "
    "bits/pixel"
)
(out / "photo.fsq").write_bytes(file_bytes)
data.write_image(restored, out / "photo.png")

# 2. Your own codec: rate-distortion training (MSE + rate_weight x bits per pixel under a
# learned checkerboard prior) on random 128x128 crops of photos that are not the test photo.
training_photos = [data.read_image(p) for p in data.image_paths(shared / "photos" / "wikipedia49")]
own = build_fsqvae(
    architecture="conv",
    levels=[5, 5, 5],
    num_codebooks=8,
    widths=[32, 32, 48, 64],
    image_shape=(128, 128, 3),
    prior="checkerboard",
    rate_weight=0.006,
)
recipe = {**presets.get_preset("fsq_photo_q2")["recipe"], "epochs": 1, "steps_per_epoch": 20 if args.quick else 500}
training.fit_with_recipe(own, recipe, training_photos, verbose=2)
file_bytes = codec.compress(own, photo)
print(f"own codec: {len(file_bytes)} bytes = {8 * len(file_bytes) / (photo.shape[0] * photo.shape[1]):.3f} bits/pixel")
print("wrote", out / "photo.fsq", "and", out / "photo.png", restored.shape)
