"""A shipped block-DCT codec fine-tuned on a folder of photos: the split by photo, the coding table, the report.

``keras-fsq train --preset fsq_dct_q3 --data PHOTOS --out DIR`` (``keras_fsq.cli.train_codec``) trains
the quality's shipped weights further on random crops of the training photos with its recipe,
counts a coding table for them (``count_coding_table``), writes a codec folder
(``keras_fsq.codec_folders``) and measures it on the held-out photos (``held_out_report``)
against the shipped codecs (all six qualities: a curve), JPEG, WebP and AVIF.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_fsq import codec_comparison, presets

HELD_OUT_FRACTION = 5  # by default one photo in this many (at least one) is held out: the last ones by name
TABLE_WEIGHTS = (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0)  # the shipped table's, against the photos'


def split_photos(paths: Sequence, train_size: int | None = None) -> tuple[list, list]:
    """``(training, held out)``: the first ``train_size`` of ``paths`` (sorted by name) and the rest; by default
    all but the last fifth (at least one photo held out)."""
    paths = sorted(paths)
    if len(paths) < 2:
        raise ValueError(f"--data needs at least 2 photos (some train, the rest are held out); found {len(paths)}.")
    if train_size is None:
        train_size = len(paths) - max(1, round(len(paths) / HELD_OUT_FRACTION))
    if not 1 <= train_size < len(paths):
        raise ValueError(f"--train-size {train_size} must leave held-out photos among the {len(paths)} found.")
    return paths[:train_size], paths[train_size:]


def mixed_counts(shipped: Any, domain: np.ndarray, weight: float) -> np.ndarray:
    """``domain`` counts plus the ``shipped`` table's, scaled per dimension to ``weight`` times the domain's total:
    ``n_i + round(weight * N_i / S_i * s_i)`` (integers: every backend codes with the same numbers)."""
    totals = domain.sum(axis=(1, 2), keepdims=True).astype("float64")
    scale = weight * totals / np.maximum(shipped.counts.sum(axis=(1, 2), keepdims=True), 1)
    return domain + np.round(scale * shipped.counts).astype("int64")


def count_coding_table(model: Any, base: presets.Preset, photos: Sequence[np.ndarray]) -> tuple[Any, float]:
    """The coding table of ``model`` for its training ``photos`` (8-bit) and the shipped table's weight in it.

    The photos' symbols are counted under ``base``'s shipped table's contexts and predicted dimensions
    (``EntropyModel.count``) and mixed with that table (``mixed_counts``): a few photos leave most contexts
    unseen, which the shipped table, counted on 229 photos, fills. The weight of ``TABLE_WEIGHTS`` is the one
    that codes the last quarter of the photos in the fewest bits when the first three quarters are counted
    (each symbol's cost under the static table); then every photo is counted."""
    from keras_fsq import codec
    from keras_fsq.compression.tables import shipped_table

    shipped = shipped_table(str(base.coding_prior))
    levels = codec.symbol_levels(model)
    grids = [codec.image_symbols(model, photo[None].astype("float32") / 255) for photo in photos]

    def counts(part: list) -> np.ndarray:
        return codec.EntropyModel.count(levels, part, shipped.context, shipped.predicted).counts

    def table(counted: np.ndarray, weight: float) -> Any:
        return codec.EntropyModel(
            levels, mixed_counts(shipped, counted, weight), shipped.context, None, shipped.predicted
        )

    cut = (3 * len(grids)) // 4
    if cut == 0:  # one photo: nothing to choose on
        return table(counts(grids), 1.0), 1.0
    fitting, checking = counts(grids[:cut]), counts(grids[cut:])
    weight = min(TABLE_WEIGHTS, key=lambda w: float((checking * table(fitting, w).bits).sum()))
    return table(fitting + checking, weight), weight


def held_out_report(record: presets.Preset, base: presets.Preset, photos: Sequence[np.ndarray]) -> dict:
    """The fine-tuned codec ``record`` on the held-out ``photos`` (8-bit), beside the shipped codecs of every
    quality and the anchors' sweeps (``codec_comparison``); the comparisons at its bits and PSNR."""
    from keras_fsq.compression.dct_engine import DCTEngine

    tuned = codec_comparison.rate_point(photos, codec_comparison.codec_code(DCTEngine(record)))
    shipped = []
    for quality in presets.DCT_QUALITIES:
        name = presets.codec_preset(quality)
        point = codec_comparison.rate_point(photos, codec_comparison.codec_code(DCTEngine(name)))
        shipped.append({**point, "setting": name})
    families = {"shipped": shipped, **codec_comparison.anchor_sweeps(photos)}
    at_bits = {name: codec_comparison.psnr_at(rows, tuned["bits_per_pixel"]) for name, rows in families.items()}
    shipped_bits = codec_comparison.bits_at(shipped, tuned["psnr"])
    return {
        "base": base.name,
        "photos": len(photos),
        "fine_tuned": tuned,
        "families": families,
        "psnr_at_fine_tuned_bits": at_bits,
        "shipped_bits_at_fine_tuned_psnr": shipped_bits,
        "rate_change_vs_shipped": None if shipped_bits is None else tuned["bits_per_pixel"] / shipped_bits - 1,
    }


def report_markdown(report: dict) -> str:
    """``held_out_report`` as a Markdown table and two lines of comparison."""
    tuned, base = report["fine_tuned"], report["base"]
    lines = [
        f"Held-out photos: {report['photos']}; bits per pixel from the file sizes, PSNR of the 8-bit RGB images.",
        "",
        "| codec | bits / pixel | PSNR (dB) | encode s | decode s |",
        "|---|---|---|---|---|",
        f"| {base} fine-tuned | {tuned['bits_per_pixel']:.3f} | {tuned['psnr']:.2f} | {tuned['encode_seconds']:.2f} "
        f"| {tuned['decode_seconds']:.2f} |",
    ]
    for row in report["families"]["shipped"]:
        lines.append(
            f"| {row['setting']} (shipped) | {row['bits_per_pixel']:.3f} | {row['psnr']:.2f} "
            f"| {row['encode_seconds']:.2f} | {row['decode_seconds']:.2f} |"
        )
    cells = []
    for name, psnr_db in report["psnr_at_fine_tuned_bits"].items():
        label = "the shipped codecs" if name == "shipped" else name
        gap = "outside its sweep" if psnr_db is None else f"{psnr_db:.2f} dB ({tuned['psnr'] - psnr_db:+.2f})"
        cells.append(f"{label} {gap}")
    lines += ["", f"At the fine-tuned codec's {tuned['bits_per_pixel']:.3f} bits per pixel: " + "; ".join(cells) + "."]
    change = report["rate_change_vs_shipped"]
    if change is not None:
        lines.append(
            f"At its {tuned['psnr']:.2f} dB the shipped codecs need {report['shipped_bits_at_fine_tuned_psnr']:.3f} "
            f"bits per pixel: the fine-tuned file is {100 * change:+.1f}% of that size."
        )
    return "\n".join(lines) + "\n"
