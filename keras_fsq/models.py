"""FSQVAE: encoder -> quantizer -> decoder, trained with plain ``model.fit``."""

import math
import os
from collections.abc import Sequence
from typing import Any, Optional

import keras
import numpy as np
from keras import ops

from keras_fsq import architectures
from keras_fsq._backend import scale_loss_for_distribution
from keras_fsq.input_guard import checked_array, guarded, invalid_pixel_count, valid_pixels
from keras_fsq.losses import get_reconstruction_loss
from keras_fsq.metrics import CodebookPerplexity, CodebookUsage, psnr, ssim
from keras_fsq.presets import DEFAULT_PRESET
from keras_fsq.priors.grid import symbol_grid
from keras_fsq.priors.learned import CategoricalPrior, check_prior
from keras_fsq.quantizers.base import Quantizer
from keras_fsq.types import Config, Shape, Tensor
from keras_fsq.validation import number_at_least, positive_int, validate_images

# Codebook histograms (usage, perplexity) are kept for codebooks up to this size.
MAX_HISTOGRAM_CODES = 2**20


@keras.saving.register_keras_serializable(package="keras_fsq")
class FSQVAE(keras.Model):
    """An autoencoder with a quantized bottleneck.

    ``call(images)`` returns ``{"reconstruction": images in [0, 1], "indices": int32}``.
    The loss is ``reconstruction_loss(x, x_hat) + sum(quantizer losses)``;
    ``fit``/``evaluate`` report reconstruction and quantization loss, PSNR,
    SSIM, bits per pixel (fixed rate, ``bits_per_example / (H W)``) and, for
    codebooks up to 2^20 codes, codebook usage and perplexity over the epoch.

    Args:
        encoder: layer mapping images to latents whose last axis is ``quantizer.code_dim``.
        quantizer: a ``keras_fsq`` quantizer layer (FSQ, VectorQuantizer, ...).
        decoder: layer mapping codes back to images in [0, 1].
        reconstruction_loss: ``"mse"`` (default), ``"binary_crossentropy"`` (the seed paper's)
            or ``"mse_ms_ssim"`` (MSE + 0.1 (1 - MS-SSIM)).
        prior: optional ``keras_fsq.priors.learned.CategoricalPrior`` over the FSQ symbols
            (levels ``quantizer.levels * num_codebooks``): a learned entropy model,
            saved with the model, that the codec codes with. With it the loss adds
            ``R / (H W)`` (the hard symbols' bits per pixel under the prior,
            which fits the prior by maximum likelihood; no gradient reaches the
            encoder) and ``rate_weight * R~ / (H W)`` (the relaxed rate of the
            continuous symbol positions under the fixed prior: the encoder's rate
            term). ``rate_bits_per_pixel`` reports ``R / (H W)``.
        rate_weight: lambda of rate-distortion training (0: the prior only
            learns the symbols' statistics).
        preset: the name of the shipped preset whose weights the model holds
            (``from_preset`` sets it; ``fit`` clears it).
        discriminator: optional ``keras_fsq.adversarial.PatchDiscriminator``: the
            loss then adds ``adversarial_weight * L_G + L_D`` (hinge; see
            ``keras_fsq.adversarial``) once ``adversarial_start`` training steps
            have run, and reports ``generator_loss`` and ``discriminator_loss``.
        adversarial_weight: ``w`` of the generator's term.
        adversarial_start: training steps before the adversarial terms switch on.
    """

    def __init__(
        self,
        encoder: keras.layers.Layer,
        quantizer: Quantizer,
        decoder: keras.layers.Layer,
        reconstruction_loss: str = "mse",
        prior: Any = None,
        rate_weight: float = 0.0,
        preset: str | None = None,
        discriminator: keras.layers.Layer | None = None,
        adversarial_weight: float = 0.1,
        adversarial_start: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(quantizer, Quantizer):
            raise ValueError(f"`quantizer` must be a keras_fsq quantizer layer; received {type(quantizer).__name__}.")
        rate_weight = number_at_least(rate_weight, "rate_weight")
        if prior is not None:
            check_prior(prior, quantizer)
        elif rate_weight:
            raise ValueError("`rate_weight` > 0 needs a `prior` (the rate is measured under it).")
        adversarial_weight = number_at_least(adversarial_weight, "adversarial_weight")
        adversarial_start = positive_int(adversarial_start, "adversarial_start", minimum=0)
        self.encoder, self.quantizer, self.decoder = encoder, quantizer, decoder
        self.prior, self.rate_weight = prior, rate_weight
        self.discriminator = discriminator
        self.adversarial_weight, self.adversarial_start = adversarial_weight, adversarial_start
        # The shipped preset whose weights this model holds (the codec records it in files); saved with
        # the model, and forgotten when the model trains further (its weights are then its own).
        self.preset: str | None = preset
        self.preset_record: Any = None  # the presets.Preset whose shipped weights it holds
        self.reconstruction_loss = reconstruction_loss
        self.reconstruction_fn = get_reconstruction_loss(reconstruction_loss)
        self.trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("reconstruction_loss", "quantization_loss", "psnr", "ssim", "bits_per_pixel", "bits_per_image")
        }
        self.trackers["invalid_pixels"] = keras.metrics.Sum(name="invalid_pixels")
        if prior is not None:
            self.trackers["rate_bits_per_pixel"] = keras.metrics.Mean(name="rate_bits_per_pixel")
        if discriminator is not None:
            for name in ("generator_loss", "discriminator_loss", "adversarial_weight"):
                self.trackers[name] = keras.metrics.Mean(name=name)
        for name in quantizer.statistic_names:
            self.trackers[name] = keras.metrics.Mean(name=name)
        if quantizer.codebook_size <= MAX_HISTOGRAM_CODES:
            self.trackers["codebook_usage"] = CodebookUsage(quantizer.codebook_size)
            self.trackers["perplexity"] = CodebookPerplexity(quantizer.codebook_size)

    def build(self, input_shape: Shape) -> None:
        self.image_shape = tuple(input_shape[1:])
        latent_shape = self.encoder.compute_output_shape(input_shape)
        # Sub-layers deserialized from a .keras file arrive built already.
        for layer, shape in ((self.encoder, input_shape), (self.quantizer, latent_shape), (self.decoder, latent_shape)):
            if not layer.built:
                layer.build(shape)
        if self.prior is not None and not self.prior.built:
            self.prior.build()
        if self.discriminator is not None:
            if not self.discriminator.built:
                self.discriminator.build(input_shape)
            # Training steps taken, for adversarial_start (the optimizer's own count is not state inside
            # a compiled loss on every backend; a model variable is).
            self.adversarial_steps = self.add_weight(
                shape=(), initializer="zeros", dtype="float32", trainable=False, name="adversarial_steps"
            )

    @property
    def downsampling_factor(self) -> int | None:
        """Side in pixels of one latent grid cell; ``None`` for a global latent.

        Any image whose sides are multiples of it can be coded.
        """
        from keras_fsq.blocks import ImageEncoder

        return self.encoder.downsampling_factor if isinstance(self.encoder, ImageEncoder) else None

    def call(self, inputs: Tensor, training: Optional[bool] = None) -> Tensor:
        if training:  # a batch with invalid pixels trains on nothing (see compute_loss): keep its step finite
            inputs = ops.where(valid_pixels(inputs), inputs, 0.0)
        latents = self.encoder(inputs, training=training)
        codes, indices = self.quantizer(latents, training=training, return_indices=True)
        reconstruction = self.decoder(codes, training=training)
        if training and self.quantizer.learns_from_distortion:
            self.quantizer.update_gate(latents, lambda c: self._distortion(inputs, c))
        outputs = {"reconstruction": reconstruction, "indices": indices}
        if self.prior is not None:
            spatial_rank = len(latents.shape) - 2
            symbols = symbol_grid(self.quantizer.indices_to_symbols(indices), spatial_rank)
            outputs["rate_bits"] = self.prior(symbols)
            if training and self.rate_weight:
                positions = symbol_grid(self.quantizer.symbol_positions(latents), spatial_rank)
                outputs["relaxed_rate_bits"] = self.prior(symbols, positions, training=training)
        return outputs

    def _distortion(self, images: Tensor, codes: Tensor) -> Tensor:
        """Per-image reconstruction loss of ``codes``, decoded in inference mode (no state updates)."""
        return self.reconstruction_fn(images, self.decoder(ops.cast(codes, self.compute_dtype), training=False))

    def compute_output_spec(self, inputs: Tensor, training: Optional[bool] = None) -> Any:
        latents = self.encoder.compute_output_spec(inputs)
        codes, indices = self.quantizer.compute_output_spec(latents, return_indices=True)
        reconstruction = keras.KerasTensor(self.decoder.compute_output_shape(codes.shape), dtype="float32")
        outputs = {"reconstruction": reconstruction, "indices": indices}
        if self.prior is not None:
            outputs["rate_bits"] = keras.KerasTensor((inputs.shape[0],), dtype="float32")
        return outputs

    def compute_loss(
        self,
        x: Tensor | None = None,
        y: Tensor | None = None,
        y_pred: Any = None,
        sample_weight: Tensor | None = None,
        training: bool = True,
    ) -> Tensor:
        """The loss of the batch; 0 (no gradient, no weight update) when any pixel of ``x`` is NaN or outside [0, 1].

        ``call`` zeroes such pixels in training, so the step stays finite; ``InputGuard``
        then stops ``fit`` with a ``ValueError`` after that batch, the weights untouched.
        """
        target = x if y is None else y
        target = ops.where(valid_pixels(target), target, 0.0)
        reconstruction = y_pred["reconstruction"]
        reconstruction_loss = ops.mean(self.reconstruction_fn(target, reconstruction))
        quantization_loss = ops.sum(ops.stack(self.losses)) if self.losses else ops.zeros(())
        pixels = math.prod(reconstruction.shape[1:3])
        indices = y_pred["indices"]
        bits = self.quantizer.bits_per_example(indices)
        values = {
            "reconstruction_loss": reconstruction_loss,
            "quantization_loss": quantization_loss,
            "psnr": psnr(target, reconstruction),
            "ssim": ssim(target, reconstruction),
            "bits_per_pixel": bits / pixels,
            "bits_per_image": bits,
            "invalid_pixels": invalid_pixel_count(x),
            **self.quantizer.batch_statistics(indices),
        }
        if "codebook_usage" in self.trackers:
            values["codebook_usage"] = values["perplexity"] = self.quantizer.flat_indices(indices)
        loss = reconstruction_loss + quantization_loss
        if self.discriminator is not None:
            from keras_fsq.adversarial import adversarial_loss

            loss = loss + adversarial_loss(self, target, reconstruction, values, training)
        if self.prior is not None:
            values["rate_bits_per_pixel"] = ops.divide(ops.mean(y_pred["rate_bits"]), pixels)
            loss = loss + values["rate_bits_per_pixel"]
            if "relaxed_rate_bits" in y_pred:
                loss = loss + self.rate_weight * ops.divide(ops.mean(y_pred["relaxed_rate_bits"]), pixels)
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        loss = ops.multiply(loss, ops.cast(ops.equal(values["invalid_pixels"], 0.0), loss.dtype))
        # Under tf.distribute, replicas' gradients are summed: each replica's mean
        # loss is divided by the replica count, as Keras' own losses do (a no-op elsewhere).
        return scale_loss_for_distribution(loss)

    @property
    def adversarial_variables(self) -> list[Any]:
        """The discriminator's variables and the step count of the adversarial loss (empty without one)."""
        return [] if self.discriminator is None else [*self.discriminator.variables, self.adversarial_steps]

    def fit(self, x: Any = None, y: Any = None, **kwargs: Any) -> keras.callbacks.History:
        """``keras.Model.fit``; arrays are checked up front, any input stops at its first bad batch."""
        if isinstance(x, np.ndarray):
            checked_array(x)
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)) and validation and isinstance(validation[0], np.ndarray):
            validate_images(validation[0], "validation_data")
        elif isinstance(validation, np.ndarray):
            validate_images(validation, "validation_data")
        self.preset = self.preset_record = None  # trained further: no longer the shipped weights
        return super().fit(x, y, **guarded(kwargs))

    def evaluate(self, x: Any = None, y: Any = None, **kwargs: Any) -> Any:
        if isinstance(x, np.ndarray):
            checked_array(x)
        return super().evaluate(x, y, **guarded(kwargs))

    def predict(self, x: Any, **kwargs: Any) -> Any:
        """``keras.Model.predict``; a NumPy batch is checked first (NaN or values outside [0, 1] would give
        indices outside the codebook, e.g. -1)."""
        if isinstance(x, np.ndarray):
            checked_array(x)
        return super().predict(x, **kwargs)

    def _as_images(self, images: Tensor) -> Tensor:
        images = validate_images(images)
        if not len(images):
            raise ValueError("`images` holds no image.")
        if not self.built:
            self.build((None,) + images.shape[1:])
        return images

    def reconstruct(self, images: Tensor, batch_size: int = 64, num_stages: int | None = None) -> np.ndarray:
        """Images in [0, 1] -> their reconstructions, as a NumPy array.

        ``num_stages`` (HierarchicalFSQ only) decodes from the first stages alone.
        """
        images = self._as_images(images)
        if num_stages is None:
            return self.predict(images, batch_size=batch_size, verbose=0)["reconstruction"]
        if self.quantizer.num_stages is None:
            raise ValueError(
                f"`num_stages` needs a HierarchicalFSQ quantizer; this model has {type(self.quantizer).__name__}."
            )
        self.quantizer.stage_bits(num_stages)  # validates num_stages
        return self.decode(self.encode(images, batch_size=batch_size)[..., :num_stages])

    def encode(self, images: Tensor, batch_size: int = 64) -> np.ndarray:
        """Images in [0, 1] -> int32 code indices (NumPy), shape ``quantizer.indices_shape``.

        Runs the encoder and the quantizer only, ``batch_size`` images at a time.
        """
        images = self._as_images(images)
        batches = []
        for start in range(0, len(images), batch_size):
            latents = self.encoder(images[start : start + batch_size], training=False)
            _, indices = self.quantizer(latents, training=False, return_indices=True)
            batches.append(ops.convert_to_numpy(indices))
        return np.concatenate(batches)

    def decode(self, indices: Tensor, batch_size: int = 64) -> np.ndarray:
        """Code indices (as returned by ``encode``) -> images in [0, 1] (NumPy), ``batch_size`` at a time.

        ``ValueError`` for indices outside ``[0, codebook_size)`` (they would wrap around).
        """
        indices = np.asarray(indices)
        if not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(f"`indices` must be integers; received dtype {indices.dtype}.")
        if indices.ndim < 2 or not len(indices):
            raise ValueError(f"`indices` must be a non-empty batch, shape (N, ...); received shape {indices.shape}.")
        if indices.size and (indices.min() < 0 or indices.max() >= self.quantizer.codebook_size):
            raise ValueError(
                f"`indices` must lie in [0, {self.quantizer.codebook_size}); received values in "
                f"[{indices.min()}, {indices.max()}]."
            )
        batches = []
        for start in range(0, len(indices), batch_size):
            codes = self.quantizer.indices_to_codes(
                ops.convert_to_tensor(indices[start : start + batch_size], dtype="int32")
            )
            batches.append(ops.convert_to_numpy(self.decoder(codes, training=False)))
        return np.concatenate(batches)

    @classmethod
    def from_preset(cls, preset: Any, load_weights: bool = True) -> "FSQVAE":
        """A preset's model: a name of ``keras_fsq.presets.PRESETS`` (its shipped weights, offline; or its
        ``presets.Preset`` record, resolved already), a folder written by ``save_to_preset`` or a codec folder
        (``keras_fsq.codec_folders``: a codec fine-tuned by ``keras-fsq train``). It only loads:
        compile it to train or evaluate. The model keeps the record (``preset_record``) while it holds the
        shipped weights, so its coding table and filters are found without another look-up.

        A shipped name always means the shipped preset, whatever folders the working directory
        holds: give a folder of the same name as a path (``"./fsq_dct_q3"`` or a ``pathlib.Path``).

        ``load_weights=False`` gives it untrained (every preset); ``True`` needs a
        preset that ships weights (``ValueError`` naming the way out otherwise).
        """
        from keras_fsq import preset_weights

        if not isinstance(load_weights, bool):
            raise ValueError(f"`load_weights` must be True or False; received {load_weights!r}.")
        from keras_fsq import presets

        if preset_weights.names_folder(preset):
            from keras_fsq.codec_folders import is_codec_folder, read_codec_folder

            if not is_codec_folder(preset):
                return preset_weights.load_preset_folder(preset, load_weights)
            preset = read_codec_folder(preset)
        # the one look-up: building and the weights read this record
        record = preset if isinstance(preset, presets.Preset) else presets.resolve(preset)
        model = build_fsqvae(preset=record)
        model.preset = record.file_name or None  # a codec folder's model is no shipped preset
        if load_weights:
            preset_weights.load_preset_weights(model, record)
            model.preset_record = record
        return model

    def save_to_preset(self, folder: str | os.PathLike) -> None:
        """Save as a preset folder, keras-hub's layout: ``config.json``, ``model.weights.h5``, ``metadata.json``.

        ``FSQVAE.from_preset(folder)`` loads it; an existing preset there is never written over.
        """
        from keras_fsq import preset_weights

        preset_weights.save_preset_folder(self, folder)

    def get_config(self) -> Config:
        config = super().get_config()
        config.update(
            {
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "quantizer": keras.saving.serialize_keras_object(self.quantizer),
                "decoder": keras.saving.serialize_keras_object(self.decoder),
                "reconstruction_loss": self.reconstruction_loss,
                "prior": keras.saving.serialize_keras_object(self.prior) if self.prior is not None else None,
                "rate_weight": self.rate_weight,
                "preset": self.preset,
                "discriminator": (
                    keras.saving.serialize_keras_object(self.discriminator) if self.discriminator is not None else None
                ),
                "adversarial_weight": self.adversarial_weight,
                "adversarial_start": self.adversarial_start,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: Config) -> "FSQVAE":
        config = dict(config)
        for key in ("encoder", "quantizer", "decoder", "prior", "discriminator"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def build_fsqvae(
    preset: Any = DEFAULT_PRESET,
    *,
    quantizer: str | None = None,
    levels: Sequence[int] | None = None,
    num_codebooks: int | None = None,
    codebook_size: int | None = None,
    latent_dim: int | None = None,
    image_shape: Sequence[int] | None = None,
    architecture: str | None = None,
    widths: Sequence[int] | None = None,
    depth: int | None = None,
    attention: bool | None = None,
    normalization: str | None = None,
    reconstruction_loss: str | None = None,
    quantizer_loss_weight: float | None = None,
    norm_momentum: float | None = None,
    prior: str | None = None,
    rate_weight: float | None = None,
    dct_quality: float | None = None,
    adversarial_weight: float | None = None,
    adversarial_start: int | None = None,
    seed: int | None = None,
) -> "FSQVAE":
    """An FSQVAE (or the VQ-VAE baseline): preset ``preset``'s model, with any argument given here in its place.

    ``preset`` is a name of ``keras_fsq.presets.PRESETS`` or its ``presets.Preset`` (default ``"fsq_cifar10"``: a conv
    model, an 8x8 grid of [8,5,5,5] codes for 32x32 images, MSE; the seed paper's is
    ``"fsq_cifar10_paper"``), or None to build from the arguments alone (``architecture``,
    ``levels``, ``widths`` and ``image_shape`` then needed). Builds the model only:
    ``FSQVAE.from_preset`` also loads the shipped weights.

    ``architecture`` and ``quantizer`` name builders of ``keras_fsq.architectures`` (``"global"``,
    ``"conv"``, ``"residual"``, ``"gdn"``, ``"block_dct"``; ``"fsq"``, ``"vq"``), whose docstrings say
    which arguments each reads (``widths``, ``latent_dim``, ``depth``, ``attention``, ``normalization``,
    ``norm_momentum``, ``dct_quality``, ``num_codebooks``, ``codebook_size``, ``quantizer_loss_weight``
    (the seed paper's quantization loss; 0: none), ``seed`` (VQ's initialisation)). The model's own:
    ``reconstruction_loss`` (``"mse"``, ``"binary_crossentropy"``, ``"mse_ms_ssim"``); ``prior``
    (``None``, or the context of a learned ``CategoricalPrior`` over the FSQ symbols: ``"none"``,
    ``"checkerboard"``, ``"activity"``) and ``rate_weight`` (lambda of rate-distortion training);
    ``adversarial_weight`` (an adversarial loss with a ``PatchDiscriminator`` of the preset's
    ``discriminator_widths``; 0: none) switched on after ``adversarial_start`` steps.
    """
    from keras_fsq import presets

    given = {key: value for key, value in locals().items() if key not in ("preset", "seed") and value is not None}
    config: dict[str, Any] = dict(architectures.DEFAULTS, reconstruction_loss="mse")
    if preset is not None:
        config.update((preset if isinstance(preset, presets.Preset) else presets.resolve(preset)).model)
    config.update(given)
    missing = [key for key in ("architecture", "levels", "widths", "image_shape") if config.get(key) is None]
    if missing:
        raise ValueError(f"build_fsqvae(preset=None) builds from the arguments alone; give {', '.join(missing)}.")
    positive_int(config["latent_dim"], "latent_dim")
    encoder, quantizer_layer, decoder = architectures.build_parts(config, seed)
    prior_layer = None
    if config["prior"] is not None:
        prior_layer = CategoricalPrior(
            list(config["levels"]) * config["num_codebooks"], context=config["prior"], name="prior"
        )
    discriminator = None
    if config["adversarial_weight"]:
        from keras_fsq.adversarial import PatchDiscriminator

        discriminator = PatchDiscriminator(config["discriminator_widths"], name="discriminator")
    model = FSQVAE(
        encoder,
        quantizer_layer,
        decoder,
        reconstruction_loss=config["reconstruction_loss"],
        prior=prior_layer,
        rate_weight=config["rate_weight"],
        discriminator=discriminator,
        adversarial_weight=config["adversarial_weight"] or 0.1,
        adversarial_start=config["adversarial_start"],
        name="fsqvae",
    )
    model.build((None, *config["image_shape"]))
    return model
