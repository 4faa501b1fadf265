"""Rate-distortion of the shipped codecs against JPEG, WebP and AVIF on BSD68 (never trained on).

    KERAS_BACKEND=tensorflow python benchmarks/rate_distortion.py --data-dir ../shared/data --out runs/rd
    KERAS_BACKEND=tensorflow python benchmarks/rate_distortion.py --data-dir ../shared/data --quick   # 4 photos
    ... --families fsq_dct,fsq_photo    # the block-DCT codecs (shipped) and the first, conv ones

Codes each of the 68 BSD68 photos (481x321 or 321x481) with every quality of
each family as ``keras-fsq compress`` does (a block-DCT codec in its NumPy engine, with the
shipped neighbours table, rate-distortion optimized quantization and deblocking; another
family's ``FSQVAE.from_preset("<family>_q<Q>")`` with its learned prior), with
Pillow's JPEG (4:2:0), WebP and AVIF (libaom through Pillow, speed 6, 4:2:0) over
quality sweeps. Bits per pixel come from
the actual file sizes (headers and checksums included); PSNR (dB, averaged
over photos) and MS-SSIM from the decoded 8-bit RGB images. Prints and writes
(``rd.md``, ``rd.json``, ``rd.png``) the table; per family the BD-rate
(``keras_fsq.comparisons.bd_rate``) against JPEG over JPEG's range up to 1 bit per
pixel and against WebP and AVIF over the range both cover, in both conventions:
the published one (one curve of mean bits per pixel and mean PSNR per setting) and
per photo (each photo's own curves, the BD-rates averaged over photos); PSNR at equal bits per pixel
against each; the worst photo against JPEG (each photo's PSNR minus JPEG's on
that photo at the same file size, interpolated in JPEG's sweep of that photo);
encode/decode seconds per photo and the decode time of a 768x512 photo, on
this machine.
"""

import argparse
import json
import pathlib
import time

import keras
import numpy as np

from keras_fsq import FSQVAE, codec, data, presets
from keras_fsq.codec_comparison import ANCHORS, pillow_code, psnr_8bit, psnr_at, to_8bit
from keras_fsq.codec_comparison import codec_code as fsq_code
from keras_fsq.comparisons import bd_rate
from keras_fsq.compression.dct_engine import DCTEngine
from keras_fsq.metrics import ms_ssim


def quality(original_8bit, decoded_8bit):
    """PSNR (dB) and MS-SSIM of an 8-bit decoded image against the 8-bit original."""
    score = ms_ssim(original_8bit[None].astype("float32") / 255, decoded_8bit[None].astype("float32") / 255)
    return psnr_8bit(original_8bit, decoded_8bit), float(keras.ops.convert_to_numpy(score)[0])


def average_point(photos, code):
    """Mean bits/pixel, PSNR, MS-SSIM and seconds over ``photos`` and each photo's (bits/pixel, PSNR);
    ``code(photo) -> (bytes, decoded uint8, seconds)``."""
    rows = []
    for photo in photos:
        file_bytes, decoded, seconds = code(photo)
        rows.append((8 * len(file_bytes) / (photo.shape[0] * photo.shape[1]), *quality(photo, decoded), *seconds))
    bits, psnr_db, msssim, encode_s, decode_s = np.mean(rows, axis=0)
    return {
        "bits_per_pixel": float(bits),
        "psnr": float(psnr_db),
        "ms_ssim": float(msssim),
        "encode_seconds": float(encode_s),
        "decode_seconds": float(decode_s),
        "per_photo": [(float(row[0]), float(row[1])) for row in rows],
    }


def worst_photo_against(reference, ours):
    """Smallest ``PSNR_ours - PSNR_reference`` over photos and our points, the reference interpolated in
    log rate on each photo's own sweep at our file size of that photo (points outside its sweep skipped)."""
    worst = None
    for point in ours:
        for photo, (bits, psnr_db) in enumerate(point["per_photo"]):
            sweep = sorted(r["per_photo"][photo] for r in reference)
            rates = np.log([b for b, _ in sweep])
            if rates[0] <= np.log(bits) <= rates[-1]:
                gap = psnr_db - float(np.interp(np.log(bits), rates, [q for _, q in sweep]))
                worst = gap if worst is None else min(worst, gap)
    return worst


def per_photo_bd_rate(reference, ours):
    """The mean over photos of each photo's BD-rate (its own points of every setting), and how many photos
    had overlapping PSNR ranges."""
    values = []
    for photo in range(len(ours[0]["per_photo"])):
        points = [[r["per_photo"][photo] for r in rows] for rows in (reference, ours)]
        try:
            values.append(bd_rate(*zip(*points[0]), *zip(*points[1])))
        except ValueError:
            continue
    return (float(np.mean(values)) if values else None), len(values)


def plot(families, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, rows in families.items():
        rows = sorted(rows, key=lambda r: r["bits_per_pixel"])
        for axis, metric in zip(axes, ("psnr", "ms_ssim")):
            axis.plot([r["bits_per_pixel"] for r in rows], [r[metric] for r in rows], "o-", label=name)
    for axis, label in zip(axes, ("PSNR (dB), 8-bit RGB", "MS-SSIM")):
        axis.set_xlabel("bits per pixel (file size)")
        axis.set_ylabel(label)
        axis.set_xlim(0, 1.5)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("BSD68, 68 photos")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def decode_seconds_768x512(model, photos):
    """Seconds to decompress one 768x512 photo (two BSD68 photos side by side, cropped), best of 3."""
    wide = [p for p in photos if p.shape[1] > p.shape[0]][:2]
    image = np.concatenate(wide, axis=1)[:, :768]
    image = np.concatenate([image, image[::-1]], axis=0)[:512].astype("float32") / 255
    file_bytes = codec.compress(model, image)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        codec.decompress(model, file_bytes)
        times.append(time.perf_counter() - started)
    return min(times)


def family_rows(family, photos):
    """Every quality of ``family`` (presets ``<family>_q<Q>``) coded over ``photos``; its model of the best quality."""
    qualities = sorted(int(name.rsplit("_q", 1)[1]) for name in presets.PRESETS if name.startswith(f"{family}_q"))
    rows = []
    for q in qualities:
        name = f"{family}_q{q}"
        # What keras-fsq compress runs: a shipped block-DCT codec in its NumPy engine (its RDOQ and deblocking).
        model = DCTEngine(name) if presets.get_preset(name).get("coding_prior") else FSQVAE.from_preset(name)
        point = average_point(photos, fsq_code(model))
        rows.append({**point, "setting": f"{family} --quality {q}"})
        print(f"{family} quality {q}: {point['bits_per_pixel']:.3f} bpp, {point['psnr']:.2f} dB", flush=True)
    return rows, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder holding bsd68/ (default: $KERAS_FSQ_DATA)")
    parser.add_argument("--out", default="runs/rd")
    parser.add_argument("--quick", action="store_true", help="4 photos (a smoke run)")
    parser.add_argument("--families", default="fsq_dct", help="comma-separated codec families (preset prefixes)")
    args = parser.parse_args()

    paths = data.image_paths(data.resolve_data_dir(args.data_dir) / "bsd68")
    all_photos = [to_8bit(data.read_image(p)) for p in paths]
    photos = all_photos[:4] if args.quick else all_photos
    print(f"{len(photos)} BSD68 photos; {keras.backend.backend()} backend")

    families, decode_768 = {}, {}
    for family in args.families.split(","):
        families[family], best = family_rows(family, photos)
        decode_768[family] = decode_seconds_768x512(best, all_photos)
    for name, image_format, settings, options in ANCHORS:
        families[name] = [
            {**average_point(photos, pillow_code(image_format, setting, options)), "setting": f"quality {setting}"}
            for setting in settings
        ]
        print(f"{name}: {len(settings)} settings coded", flush=True)
    jpeg_to_1bpp = [r for r in families["JPEG"] if r["bits_per_pixel"] <= 1.0]
    summary = {"photos": len(photos), "backend": keras.backend.backend(), "decode_seconds_768x512": decode_768}
    lines = [
        "| codec | setting | bits / pixel | PSNR (dB) | MS-SSIM | encode s | decode s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in families.items():
        for r in sorted(rows, key=lambda r: r["bits_per_pixel"]):
            lines.append(
                f"| {name} | {r['setting']} | {r['bits_per_pixel']:.3f} | {r['psnr']:.2f} | {r['ms_ssim']:.4f} "
                f"| {r['encode_seconds']:.3f} | {r['decode_seconds']:.3f} |"
            )
    for family in args.families.split(","):
        ours = families[family]
        lines += [
            "",
            f"| {family} | bits / pixel | PSNR (dB) | JPEG at those bits | WebP at those bits | AVIF at those bits |",
            "|---|---|---|---|---|---|",
        ]
        anchors = [name for name, *_ in ANCHORS]
        for r in ours:
            at = {name: psnr_at(families[name], r["bits_per_pixel"]) for name in anchors}
            cells = [
                f"{at[n]:.2f} ({r['psnr'] - at[n]:+.2f})" if at[n] is not None else "outside its sweep" for n in anchors
            ]
            lines.append(f"| {r['setting']} | {r['bits_per_pixel']:.3f} | {r['psnr']:.2f} | {' | '.join(cells)} |")
        lines.append("")
        references = (("JPEG up to 1 bpp", jpeg_to_1bpp), ("WebP", families["WebP"]), ("AVIF", families["AVIF"]))
        for name, reference in references:
            key = f"{family}_bd_rate_vs_{name.split()[0].lower()}"
            try:
                summary[key] = bd_rate(
                    [r["bits_per_pixel"] for r in reference],
                    [r["psnr"] for r in reference],
                    [r["bits_per_pixel"] for r in ours],
                    [r["psnr"] for r in ours],
                )
                lines.append(f"{family}: BD-rate against {name} (PSNR, mean points per setting): {summary[key]:+.1f}%")
            except ValueError as error:
                lines.append(f"{family}: BD-rate against {name}: not defined ({error})")
            mean, count = per_photo_bd_rate(reference, ours)
            summary[key + "_per_photo"] = mean
            if mean is not None:
                lines.append(f"{family}: BD-rate against {name} (PSNR, per photo, mean of {count}): {mean:+.1f}%")
        at_03 = {name: psnr_at(families[name], 0.3) for name in (family, *anchors)}
        if at_03[family] is not None:  # the 0.3 bpp check, each curve interpolated in log rate
            summary[f"{family}_psnr_at_0.3_bpp"] = at_03
            ours_03 = at_03[family]
            lines.append(
                f"{family}: at 0.3 bpp {ours_03:.2f} dB; "
                + ", ".join(f"{n} {at_03[n]:.2f} ({ours_03 - at_03[n]:+.2f})" for n in anchors if at_03[n] is not None)
            )
        worst = worst_photo_against(families["JPEG"], ours)
        summary[f"{family}_worst_photo_vs_jpeg_db"] = worst
        lines.append(f"{family}: worst photo against JPEG at equal file size: {worst:+.2f} dB")
        lines.append(
            f"{family}: decoding a 768x512 photo (best quality): {decode_768[family]:.2f} s "
            f"({keras.backend.backend()} backend)"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rd.md").write_text(table)
    (out / "rd.json").write_text(json.dumps({"summary": summary, **families}, indent=1) + "\n")
    plot(families, out / "rd.png")
    print(f"wrote {out}/rd.md, rd.json and rd.png")


if __name__ == "__main__":
    main()
