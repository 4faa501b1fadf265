"""Count the coding tables the block-DCT codecs ship with: a "neighbours_bands" EntropyModel per quality.

    KERAS_BACKEND=torch python experiments/fit_codec_priors.py --data-dir ../shared/data
    KERAS_BACKEND=torch python experiments/fit_codec_priors.py --data-dir ../shared/data --qualities 1 3

Encodes each of the 229 training photos in ``<data-dir>/photos`` (never BSD68,
the evaluation set) with the shipped ``fsq_dct_q<Q>`` weights, counts each
symbol dimension given its left and upper neighbours and the band coded before it
(``EntropyModel.count``, context ``"neighbours_bands"``; ``--context neighbours`` counts
the earlier tables) and writes the preset's ``coding_prior`` file in ``keras_fsq/weights``,
the table ``keras-fsq compress --quality Q`` codes under (the preset's
``earlier_coding_prior`` is the table files of the same weights were coded under before;
new weights make it useless: drop it with them). Deterministic: the same
weights and photos give the same table. Run it again whenever the weights change
(``train_dct_family.sh`` and ``resume_dct_family.sh`` do).
"""

import argparse
import pathlib

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding photos/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--qualities", type=int, nargs="+", help="default: every quality")
parser.add_argument("--photos", type=int, help="count on the first N photos only (a smoke test)")
parser.add_argument("--context", default="neighbours_bands", choices=["neighbours", "neighbours_bands"])
parser.add_argument("--out-dir", type=pathlib.Path, help="write the tables here (default: the package's weights)")
parser.add_argument(
    "--weights-dir", type=pathlib.Path, help="read each quality's weights from here (default: the shipped ones)"
)
args = parser.parse_args()

from keras_fsq import build_fsqvae, codec, data, preset_weights, presets  # noqa: E402
from keras_fsq.compression.tables import write_table_file  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
photos = data.image_paths(data.resolve_data_dir(args.data_dir) / "photos", recursive=True)[: args.photos]
for quality in args.qualities or presets.DCT_QUALITIES:
    name = presets.codec_preset(quality)
    model = build_fsqvae(preset=name)
    if args.weights_dir:
        with open(args.weights_dir / presets.get_preset(name)["weights"], "rb") as file:
            preset_weights.read_weights(model, file)
    else:
        preset_weights.load_preset_weights(model, name)
    grids = [codec.image_symbols(model, data.read_image(path)[None]) for path in photos]
    table = codec.EntropyModel.count(codec.symbol_levels(model), grids, context=args.context)
    file_name = presets.get_preset(name)[
        "coding_prior" if args.context == "neighbours_bands" else "earlier_coding_prior"
    ]
    target = (args.out_dir or ROOT / "keras_fsq" / "weights") / file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    write_table_file(target, table)
    bits = table.code_length().sum() / sum(grid.shape[1] * grid.shape[2] * 64 for grid in grids)
    print(
        f"{name}: {len(photos)} photos, predicted dimensions {table.predicted}, "
        f"{bits:.4f} bits/pixel on them; wrote {target} ({target.stat().st_size} bytes)"
    )
