"""Train the default FSQ-VAE with plain `model.fit` (warmup + cosine learning rate), then encode and decode.

python examples/train_with_fit.py --data-dir ../shared/data            # 4,000 images, 30 epochs
python examples/train_with_fit.py --data-dir ../shared/data --quick    # 256 images, 1 epoch (CI)
KERAS_BACKEND=torch python examples/train_with_fit.py --quick          # the same on PyTorch (or JAX)
"""

import argparse
import math

import keras

from keras_fsq import build_fsqvae, data

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--quick", action="store_true", help="a tiny budget that only shows the code runs")
args = parser.parse_args()

images, _ = data.load_shared_cifar10(args.data_dir)  # float32 (5085, 32, 32, 3) in [0, 1]
train, held_out = (images[:256], images[256:384]) if args.quick else (images[:4000], images[4000:])

# The default preset's model: conv encoder/decoder, an 8x8 grid of FSQ [8, 5, 5, 5] codes
# (1,000 implicit codes, 638 bits per image), MSE reconstruction loss.
model = build_fsqvae()
epochs, batch_size = (1 if args.quick else 30), 64
steps = epochs * math.ceil(len(train) / batch_size)
warmup = steps // 20
learning_rate = keras.optimizers.schedules.CosineDecay(
    0.0,
    steps - warmup,
    warmup_target=2e-3,
    warmup_steps=warmup,  # linear warmup to 2e-3, cosine decay to 0
)
model.compile(optimizer=keras.optimizers.Adam(learning_rate))
history = model.fit(train, validation_data=(held_out,), epochs=epochs, batch_size=batch_size, verbose=2)
print({name: round(values[-1], 4) for name, values in history.history.items() if name.startswith("val_")})

indices = model.encode(held_out[:8])  # int32 (8, 8, 8), each in [0, 1000)
reconstructions = model.decode(indices)  # float32 (8, 32, 32, 3)
print("indices", indices.shape, "reconstructions", reconstructions.shape)
model.save("fsqvae.keras" if not args.quick else "/tmp/fsqvae_quick.keras")
