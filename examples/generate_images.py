"""Images -> FSQ tokens -> a MaskGIT prior trained with plain `fit` -> new images of a chosen class.

python examples/generate_images.py --data-dir ../shared/data            # 4,000 images, 30 epochs
python examples/generate_images.py --data-dir ../shared/data --quick    # 256 images, 1 epoch (CI)
"""

import argparse

import numpy as np

from keras_fsq import FSQVAE, MaskGIT, data

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--quick", action="store_true", help="a tiny budget that only shows the code runs")
args = parser.parse_args()

images, labels = data.load_shared_cifar10(args.data_dir)  # float32 in [0, 1], CIFAR-10 labels 0..9
count, epochs = (256, 1) if args.quick else (4000, 30)

# The tokenizer: the shipped fsq_cifar10, an 8x8 grid of 1,000 FSQ codes per 32x32 image.
tokenizer = FSQVAE.from_preset("fsq_cifar10")
tokens = tokenizer.encode(images[:count]).reshape(count, -1)  # int32 (count, 64)

# The prior: a class-conditional MaskGIT over that grid (the tokenizer is kept, frozen, for decoding).
prior = MaskGIT.for_tokenizer(tokenizer, num_classes=10, width=128, depth=4, heads=4)
prior.compile(optimizer="adam")
prior.fit({"tokens": tokens, "labels": labels[:count]}, batch_size=64, epochs=epochs, verbose=2)

# Eight cats (class 3): 8 parallel decoding steps, classifier-free guidance 1.
samples = prior.generate(8, steps=8, guidance=1.0, class_labels=np.full(8, 3), seed=0)
print("samples", samples.shape, "in", (float(samples.min()), float(samples.max())))
