"""One photo by the shipped codec, JPEG, WebP and AVIF at (nearly) equal file size: a crop of each, side by side.

    python benchmarks/codec_crop.py --data-dir ../shared/data --quality 2 --out docs/images/codec_crop.png

The photo is a BSD68 one (never trained on), coded as ``keras-fsq compress`` codes it (the NumPy
engine of the shipped codec). Our file is made first; JPEG, WebP and AVIF (libaom, speed 6)
take the highest quality setting whose file is no larger than ours (so they never get more
bytes). Prints each file's size, bits per pixel and the whole photo's PSNR, and writes the
original and the four decoded crops (``--crop`` pixels square at ``--at``, enlarged ``--zoom``
times with nearest-neighbour so the artefacts stay visible), labelled.
"""

import argparse
import io

import numpy as np
from PIL import Image, ImageDraw

from keras_fsq import codec, data, presets
from keras_fsq.compression.dct_engine import DCTEngine


def psnr(a, b):
    return float(10 * np.log10(255.0**2 / np.mean((a.astype("float64") - b.astype("float64")) ** 2)))


def pillow_at_most(photo, image_format, size, **options):
    """The highest quality whose file is at most ``size`` bytes: (bytes, decoded, quality)."""
    best = None
    for quality in range(0, 101):
        buffer = io.BytesIO()
        Image.fromarray(photo).save(buffer, format=image_format, quality=quality, **options)
        if buffer.tell() > size:
            break
        best = (buffer.getvalue(), quality)
    if best is None:
        raise ValueError(f"{image_format} cannot make a file of at most {size} bytes of this photo.")
    decoded = np.asarray(Image.open(io.BytesIO(best[0])).convert("RGB"))
    return best[0], decoded, best[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder holding bsd68/ (default: $KERAS_FSQ_DATA)")
    parser.add_argument("--photo", default="102061.png", help="a BSD68 file name")
    parser.add_argument("--quality", type=int, default=3)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--at", type=int, nargs=2, default=(120, 200), metavar=("ROW", "COLUMN"))
    parser.add_argument("--zoom", type=int, default=3)
    parser.add_argument("--out", default="docs/images/codec_crop.png")
    args = parser.parse_args()

    path = data.resolve_data_dir(args.data_dir) / "bsd68" / args.photo
    photo = (data.read_image(path) * 255).round().astype("uint8")
    model = DCTEngine(presets.codec_preset(args.quality))
    ours = codec.compress(model, photo.astype("float32") / 255)
    decoded = (np.clip(codec.decompress(model, ours)[0], 0, 1) * 255).round().astype("uint8")
    pixels = photo.shape[0] * photo.shape[1]
    panels = [("original", photo, None)]
    panels.append((f"keras_fsq --quality {args.quality}", decoded, len(ours)))
    anchors = (("JPEG", "JPEG", {}), ("WebP", "WEBP", {}), ("AVIF", "AVIF", {"speed": 6, "subsampling": "4:2:0"}))
    for name, image_format, options in anchors:
        file_bytes, image, quality = pillow_at_most(photo, image_format, len(ours), **options)
        panels.append((f"{name} quality {quality}", image, len(file_bytes)))
    for name, image, size in panels[1:]:
        print(f"{name}: {size} bytes, {8 * size / pixels:.3f} bits/pixel, PSNR {psnr(photo, image):.2f} dB")

    top, left, side, zoom = args.at[0], args.at[1], args.crop, args.zoom
    label_height = 34
    sheet = Image.new("RGB", (len(panels) * (side * zoom + 8) + 8, side * zoom + label_height + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, image, size) in enumerate(panels):
        crop = Image.fromarray(image[top : top + side, left : left + side]).resize((side * zoom,) * 2, Image.NEAREST)
        x = 8 + i * (side * zoom + 8)
        sheet.paste(crop, (x, label_height))
        caption = name if size is None else f"{name}\n{8 * size / pixels:.3f} bpp, {psnr(photo, image):.2f} dB"
        draw.multiline_text((x, 2), caption, fill="black")
    sheet.save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
