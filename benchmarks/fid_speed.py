"""How long FID takes on 2 CPU cores: 1,000 real CIFAR-10 images against 1,000 others.

    KERAS_BACKEND=tensorflow python benchmarks/fid_speed.py --data-dir ../shared/data

Times each step of ``keras-fsq fid`` on the active backend: building the network and
loading the cached weights, the Inception features of both sets (2,000 images resized
to 299x299), and the Fréchet distance and KID (100 subsets of 1,000) from them.
"""

import argparse
import os
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--images", type=int, default=1000, help="images in each set")
parser.add_argument("--batch-size", type=int, default=50)
args = parser.parse_args()

import keras  # noqa: E402

from keras_fsq import data, fid, inception  # noqa: E402

images, _ = data.load_shared_cifar10(args.data_dir)
first, second = images[: args.images], images[args.images : 2 * args.images]
started = time.perf_counter()
extract = inception.inception_features(args.batch_size)
setup = time.perf_counter() - started
started = time.perf_counter()
features = [extract(first), extract(second)]
extraction = time.perf_counter() - started
started = time.perf_counter()
value = fid.fid_from_features(*features)
kid_mean, kid_std = fid.kid_from_features(*features)
statistics = time.perf_counter() - started
total = setup + extraction + statistics
print(
    "| backend | CPU cores | images | network + weights (s) | features (s) | images/s | FID + KID (s) | total (s) | "
    "FID | KID |"
)
print("|---|---|---|---|---|---|---|---|---|---|")
print(
    f"| {keras.backend.backend()} | {os.cpu_count()} | {args.images} + {args.images} | {setup:.1f} | {extraction:.1f} "
    f"| {2 * args.images / extraction:.1f} | {statistics:.1f} | {total:.1f} | {value:.2f} | {kid_mean:.5f} ± "
    f"{kid_std:.5f} |"
)
