"""Rate-distortion of keras_fsq files against JPEG and WebP on real photos.

    python benchmarks/rate_distortion.py --data-dir ../shared/data --out runs/rd
    python benchmarks/rate_distortion.py --data-dir ../shared/data --quick    # a smoke run

Fully convolutional FSQVAEs at several rates are trained on 64x64 tiles of the
first BSD68 photos; the remaining photos are coded whole (481x321, padded and
cropped) with ``keras_fsq.codec`` under a left-context prior fitted on the
training tiles. Bits per pixel come from the actual file sizes (header and
checksum included); PSNR and MS-SSIM from the decoded 8-bit images. JPEG and
WebP are Pillow's, over a quality sweep. Prints a table, writes rd.md and rd.png.
"""

import argparse
import io
import pathlib
import time

import keras
import numpy as np
from PIL import Image

from keras_fsq import FSQ, FSQVAE, ConvDecoder, ConvEncoder, codec, data
from keras_fsq.metrics import ms_ssim, psnr

# name -> (encoder widths, levels): stride 2^len(widths), fixed rate d log2(L) / stride^2 bits/pixel
MODELS = {
    "fsq s8 [5,5,5,5]": ((64, 128, 128), [5, 5, 5, 5]),
    "fsq s4 [5,5,5]": ((64, 128), [5, 5, 5]),
    "fsq s4 [8,8,8,8]": ((64, 128), [8, 8, 8, 8]),
}
QUALITIES = (5, 10, 20, 30, 50, 70, 90)


def to_8bit(image):
    return (np.clip(image, 0, 1) * 255).round().astype("uint8")


def quality(original, decoded_8bit):
    """PSNR (dB) and MS-SSIM of an 8-bit decoded image against the original."""
    x = original[None].astype("float32")
    y = decoded_8bit[None].astype("float32") / 255
    return float(keras.ops.convert_to_numpy(psnr(x, y))[0]), float(keras.ops.convert_to_numpy(ms_ssim(x, y))[0])


def average_point(photos, code):
    """Mean bits/pixel, PSNR and MS-SSIM over ``photos``; ``code(photo) -> (file bytes, decoded uint8)``."""
    rows = []
    for photo in photos:
        file_bytes, decoded = code(photo)
        rows.append((8 * len(file_bytes) / (photo.shape[0] * photo.shape[1]), *quality(photo, decoded)))
    bits, psnr_db, msssim = np.mean(rows, axis=0)
    return {"bits_per_pixel": float(bits), "psnr": float(psnr_db), "ms_ssim": float(msssim)}


def pillow_code(image_format, quality_setting):
    def code(photo):
        buffer = io.BytesIO()
        Image.fromarray(to_8bit(photo)).save(buffer, format=image_format, quality=quality_setting)
        return buffer.getvalue(), np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))

    return code


def fsq_code(model, prior):
    def code(photo):
        file_bytes = codec.compress(model, photo, prior)
        return file_bytes, to_8bit(codec.decompress(model, file_bytes, prior)[0])

    return code


def train_model(widths, levels, tiles, epochs):
    model = FSQVAE(
        ConvEncoder(len(levels), list(widths), norm_momentum=0.9),
        FSQ(levels, track_usage=True),
        ConvDecoder(3, list(widths)[::-1], norm_momentum=0.9),
        reconstruction_loss="mse",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(tiles, epochs=epochs, batch_size=32, shuffle=True, verbose=0)
    return model


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    families = {}
    for row in rows:
        families.setdefault(row["codec"], []).append(row)
    for name, points in families.items():
        points = sorted(points, key=lambda r: r["bits_per_pixel"])
        style = "o-" if name in ("JPEG", "WebP") else "s"
        for axis, metric in zip(axes, ("psnr", "ms_ssim")):
            axis.plot([p["bits_per_pixel"] for p in points], [p[metric] for p in points], style, label=name)
    for axis, label in zip(axes, ("PSNR (dB)", "MS-SSIM")):
        axis.set_xlabel("bits per pixel (file size)")
        axis.set_ylabel(label)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder holding bsd68/ (default: $KERAS_FSQ_DATA)")
    parser.add_argument("--train-photos", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", default="runs/rd")
    parser.add_argument("--quick", action="store_true", help="2 test photos, one model, 1 epoch")
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    paths = data.image_paths(data.resolve_data_dir(args.data_dir) / "bsd68")
    train_paths, test_paths = paths[: args.train_photos], paths[args.train_photos :]
    models, qualities, epochs = MODELS, QUALITIES, args.epochs
    if args.quick:
        train_paths, test_paths = train_paths[:4], test_paths[:2]
        models, qualities, epochs = dict(list(MODELS.items())[1:2]), (10, 50), 1
    tiles = np.concatenate([data.patches(data.read_image(p), 64, mode="tile") for p in train_paths])
    photos = [data.read_image(p) for p in test_paths]
    print(f"{len(tiles)} training tiles (64x64) from {len(train_paths)} photos; {len(photos)} held-out photos; "
          f"{keras.backend.backend()} backend")

    rows = []
    for name, (widths, levels) in models.items():
        started = time.perf_counter()
        model = train_model(widths, levels, tiles, epochs)
        prior = codec.EntropyModel.fit(model, tiles, context="left")
        point = average_point(photos, fsq_code(model, prior))
        stride = 2 ** len(widths)
        point.update(codec=name, setting=f"fixed rate {len(levels) * np.log2(levels[0]) / stride**2:.3f} bpp",
                     seconds=time.perf_counter() - started)
        rows.append(point)
        print(f"{name}: {point['bits_per_pixel']:.3f} bpp, {point['psnr']:.2f} dB ({point['seconds']:.0f} s)", flush=True)
    for image_format, label in (("JPEG", "JPEG"), ("WEBP", "WebP")):
        for q in qualities:
            rows.append({**average_point(photos, pillow_code(image_format, q)), "codec": label, "setting": f"quality {q}"})

    lines = ["| codec | setting | bits / pixel | PSNR dB | MS-SSIM |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['codec']} | {row['setting']} | {row['bits_per_pixel']:.3f} | {row['psnr']:.2f} | {row['ms_ssim']:.4f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rd.md").write_text(table)
    plot(rows, out / "rd.png")
    print(f"wrote {out}/rd.md and rd.png")


if __name__ == "__main__":
    main()
