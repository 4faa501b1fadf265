"""Adversarial training of an FSQVAE's decoder: a patch discriminator and the hinge loss (VQGAN's recipe).

A reconstruction loss alone (MSE) makes the decoder predict the mean of what a
code could stand for: blur. A discriminator ``D`` scores each patch of an image
as real or reconstructed; the decoder is also trained to make its patches
score as real, which trades a little PSNR for texture.

With ``x`` the images and ``x^`` their reconstructions (hinge loss)::

    L_D = mean(relu(1 - D(x))) + mean(relu(1 + D(sg(x^))))     trains D only
    L_G = -mean(D_sg(x^))                                        trains the autoencoder only

``sg`` stops the gradient: ``D`` is evaluated on ``x^`` with its weights held
fixed (``Layer.stateless_call`` with stopped variables) for ``L_G``, and on
``sg(x^)`` for ``L_D``, so one optimizer step on ``L_rec + w (L_G) + L_D`` moves
each network by its own loss only, on every backend and under plain ``fit``.
Both terms are off before ``adversarial_start`` optimizer steps, so the
autoencoder first learns to reconstruct (or starts from trained weights).

The generator's weight is VQGAN's adaptive balance times ``adversarial_weight``::

    w = adversarial_weight * ||dL_rec/dx^|| / (||dL_G/dx^|| + 1e-4)       (clipped to [0, 1e4], no gradient)

so the discriminator's pull on the reconstruction is a fixed fraction of the
reconstruction loss's, whatever the scale of either (an MSE of 0.004 against a
hinge loss of order 1). VQGAN takes the two gradients at the decoder's last
layer; here they are taken at the reconstruction itself
(``keras_fsq._backend.value_and_gradient``), which needs no knowledge of the
decoder's layers. A constant weight (the first version) let the generator term
swamp the MSE: 10 epochs from ``fsq_cifar10`` at ``w = 0.1`` fell to 15.3 dB
and rFID 287.

No loss here uses the Inception network that FID is measured with: a model
trained against FID's own features would be graded on its own exam.
"""

import keras
from keras import ops

MAX_PARAMETERS = 2**26  # a patch discriminator's weights (256 MB of float32)


@keras.saving.register_keras_serializable(package="keras_fsq")
class PatchDiscriminator(keras.layers.Layer):
    """PatchGAN: strided 4x4 convolutions with leaky ReLUs, one logit per patch.

    ``call(images)`` maps ``(N, H, W, C)`` images in [0, 1] to logits
    ``(N, H / 2^(k-1), W / 2^(k-1), 1)`` for ``k = len(widths)``; each logit sees a
    patch of ``10 * 2^(k-1) - 6`` pixels or so (34 for three widths), not the whole image.

    Args:
        widths: channels of the convolutions; all but the last halve the resolution.
    """

    def __init__(self, widths=(64, 128, 256), **kwargs):
        super().__init__(**kwargs)
        widths = list(widths)
        if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"`widths` must be a non-empty list of positive ints; received {widths!r}.")
        channels = [3, *widths, 1]
        parameters = sum(16 * a * b for a, b in zip(channels, channels[1:]))
        if parameters > MAX_PARAMETERS:  # before any weight exists: a crafted config cannot allocate it
            raise ValueError(f"`widths` {widths} make {parameters} parameters; at most {MAX_PARAMETERS}.")
        self.widths = widths
        self.convolutions = [
            keras.layers.Conv2D(width, 4, strides=2 if i < len(widths) - 1 else 1, padding="same", name=f"conv_{i}")
            for i, width in enumerate(widths)
        ]
        self.head = keras.layers.Conv2D(1, 4, padding="same", name="head")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for convolution in self.convolutions:
            convolution.build(shape)
            shape = convolution.compute_output_shape(shape)
        self.head.build(shape)

    def call(self, images):
        x = ops.cast(images, self.compute_dtype) * 2.0 - 1.0
        for convolution in self.convolutions:
            x = ops.leaky_relu(convolution(x), negative_slope=0.2)
        return self.head(x)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for convolution in self.convolutions:
            shape = convolution.compute_output_shape(shape)
        return self.head.compute_output_shape(shape)

    def get_config(self):
        return {**super().get_config(), "widths": self.widths}


def discriminator_loss(real_logits, fake_logits):
    """Hinge loss of the discriminator: ``mean(relu(1 - real)) + mean(relu(1 + fake))``."""
    return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))


def adaptive_weight(reconstruction_gradient, generator_gradient):
    """``||g_rec|| / (||g_G|| + 1e-4)``, clipped to [0, 1e4]: the generator term's gradient at the
    reconstruction scaled to the reconstruction loss's."""
    ratio = ops.sqrt(ops.sum(ops.square(reconstruction_gradient))) / (
        ops.sqrt(ops.sum(ops.square(generator_gradient))) + 1e-4
    )
    return ops.stop_gradient(ops.clip(ratio, 0.0, 1e4))


def generator_loss(discriminator, reconstruction):
    """``-mean(D(x^))`` with ``D``'s weights held fixed: its gradient reaches the reconstruction only."""
    frozen = [ops.stop_gradient(v) for v in discriminator.trainable_variables]
    logits, _ = discriminator.stateless_call(frozen, list(discriminator.non_trainable_variables), reconstruction)
    return -ops.mean(logits)


def adversarial_loss(model, images, reconstruction, values, training):
    """``w L_G + L_D`` of an ``FSQVAE`` with a ``discriminator`` (the module doc), 0 before its
    ``adversarial_start`` training steps; the terms go into ``values`` (its step's metrics)."""
    from keras_fsq._backend import value_and_gradient

    real = model.discriminator(images)
    fake = model.discriminator(ops.stop_gradient(reconstruction))
    values["discriminator_loss"] = discriminator_loss(real, fake)
    if not training:  # evaluation: the losses as they stand, no weight (nothing is trained)
        values["generator_loss"] = generator_loss(model.discriminator, reconstruction)
        values["adversarial_weight"] = ops.zeros(())
        return ops.zeros(())
    _, reconstruction_gradient = value_and_gradient(
        lambda r: ops.mean(model.reconstruction_fn(images, r)), reconstruction
    )
    values["generator_loss"], generator_gradient = value_and_gradient(
        lambda r: generator_loss(model.discriminator, r), reconstruction
    )
    weight = model.adversarial_weight * adaptive_weight(reconstruction_gradient, generator_gradient)
    values["adversarial_weight"] = weight
    model.adversarial_steps.assign_add(1.0)
    switched_on = ops.cast(ops.greater(model.adversarial_steps, float(model.adversarial_start)), "float32")
    return switched_on * (weight * values["generator_loss"] + values["discriminator_loss"])
