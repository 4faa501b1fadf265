"""Train an FSQ-VAE with plain `model.fit`, annealing the temperature, then encode and decode.

    python examples/train_with_fit.py --data-dir ../shared/data            # 4,000 images, 8 epochs
    python examples/train_with_fit.py --data-dir ../shared/data --quick    # 256 images, 1 epoch (CI)
    KERAS_BACKEND=jax python examples/train_with_fit.py --quick            # the same on JAX (or torch)
"""

import argparse

import keras

from keras_fsq import TemperatureAnnealing, build_fsqvae, data

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--data-dir", help="the folder holding cifar10/ (default: $KERAS_FSQ_DATA)")
parser.add_argument("--quick", action="store_true", help="a tiny budget that only shows the code runs")
args = parser.parse_args()

images, _ = data.load_shared_cifar10(args.data_dir)  # float32 (5085, 32, 32, 3) in [0, 1]
train, held_out = (images[:256], images[256:384]) if args.quick else (images[:4000], images[4000:])

# The paper's encoder/decoder around FSQ with levels [8, 5, 5, 5]: 1,000 implicit codes,
# 16 latent vectors per image.
model = build_fsqvae(levels=[8, 5, 5, 5], latent_dim=64)
model.compile(optimizer=keras.optimizers.Adam(1e-3))
history = model.fit(
    train,
    validation_data=(held_out,),
    epochs=1 if args.quick else 8,
    batch_size=64,
    callbacks=[TemperatureAnnealing(start=1.0, end=0.1, schedule="exponential")],
    verbose=2,
)
print({name: round(values[-1], 4) for name, values in history.history.items() if name.startswith("val_")})

indices = model.encode(held_out[:8])  # int32 (8, 16), each in [0, 1000)
reconstructions = model.decode(indices)  # float32 (8, 32, 32, 3)
print("indices", indices.shape, "reconstructions", reconstructions.shape)
model.save("fsqvae.keras" if not args.quick else "/tmp/fsqvae_quick.keras")
