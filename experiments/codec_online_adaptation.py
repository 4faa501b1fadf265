"""Choose online adaptation's floor and prior weight on the training photos: ideal code lengths against format 4.

    python experiments/codec_online_adaptation.py --data-dir ../shared/data --quality 1
    python experiments/codec_online_adaptation.py --data-dir ../shared/data --quality 4

Every 10th training photo (23; the split the RDOQ and deblocking settings were chosen on), its symbols
as ``keras-fsq compress`` chooses them (NumPy engine, RDOQ, band table). Format 4's payload (per-image
powers, the real coder) against the ideal code length ``sum -log2 q`` of online adaptation
(``keras_fsq.compression.online``) in the coder's order, for floors ``f`` and prior weights ``W``.
The shipped format 5 takes ``f = 2^-12``, ``W = 64``. Deterministic; no training.
"""

import argparse
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from keras_fsq import codec, data, presets  # noqa: E402
from keras_fsq.compression.dct_engine import DCTEngine  # noqa: E402
from keras_fsq.compression.rdoq import rdo_symbols  # noqa: E402

FLOORS = (2.0**-8, 2.0**-10, 2.0**-12, 2.0**-14)
WEIGHTS = (16.0, 32.0, 64.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--quality", type=int, default=1)
    args = parser.parse_args()
    engine = DCTEngine(presets.codec_preset(args.quality))
    table = codec.EntropyModel.for_model(engine)
    smoothed = table._smoothed
    format4, ideal = 0.0, {(f, w): 0.0 for f in FLOORS for w in WEIGHTS}
    for path in data.image_paths(pathlib.Path(args.data_dir) / "photos", True)[::10]:
        photo = np.clip(data.read_image(path), 0, 1)
        positions = engine.positions(codec.pad_images(engine, photo[None]))
        grid = rdo_symbols(positions, table, engine.step_errors(), engine.rdo_lambda)
        format4 += 32 * len(codec.encode_symbols(grid, table, 1, "powers"))
        counts = {w: (np.zeros(smoothed.shape), np.zeros(smoothed.shape[:2])) for w in WEIGHTS}
        for block, passes in table.pass_blocks(*grid.shape[1:3]):
            coded, contexts = table.coded_symbols(grid, block)
            order = np.flatnonzero(block.ravel())
            for mask in passes:
                inside = mask.ravel()[order]
                pass_coded, pass_contexts = coded[:, inside], contexts[:, inside]
                for group in table.dimension_groups():
                    symbols = pass_coded[..., group].ravel()
                    dims = np.broadcast_to(group, (*pass_contexts.shape[:2], len(group))).ravel()
                    context = pass_contexts[..., group].ravel()
                    level = table.levels[dims[0]]
                    for w, (seen, totals) in counts.items():
                        q = (w * smoothed[dims, context, symbols] + seen[dims, context, symbols]) / (
                            w + totals[dims, context]
                        )
                        for f in FLOORS:
                            ideal[(f, w)] += -np.log2((1 - f) * q + f / level).sum()
                        np.add.at(seen, (dims, context, symbols), 1)
                        np.add.at(totals, (dims, context), 1)
    print(f"quality {args.quality}: format 4 (powers) {format4:.0f} bits\n")
    print("| floor | " + " | ".join(f"W = {w:g}" for w in WEIGHTS) + " |\n|---|" + "---|" * len(WEIGHTS))
    for f in FLOORS:
        cells = " | ".join(f"{100 * (ideal[(f, w)] / format4 - 1):+.2f}%" for w in WEIGHTS)
        print(f"| 2^{int(np.log2(f))} | {cells} |")


if __name__ == "__main__":
    main()
