"""KerasTuner searches over FSQ quantization levels, latent size, temperature and learning rate.

    space = SearchSpace(codebook_bits=(8, 10, 12))           # or per-dimension levels 3..10
    tuner = make_tuner(FSQVAEHyperModel(space, objective="rate_distortion"), "bayesian",
                       max_trials=20, directory="runs/tune")
    tuner.search(train_images, validation_data=(held_out,), epochs=5)
    rows = search_results.results_table(tuner)                # one dict per trial
    search_results.plot_pareto_front(rows, "runs/tune/pareto.png")

Distributed search is KerasTuner's own: set ``KERASTUNER_TUNER_ID`` ("chief"
or "tuner0", "tuner1", ...), ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` and run the same search in every process; the
chief serves the oracle, the workers run trials. Keras places models on a GPU
whenever the backend sees one, so a search on a GPU machine needs no option.
"""

import dataclasses
import functools
import json
import pathlib

import keras

try:
    import keras_tuner
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError("keras_fsq.tuning needs KerasTuner: pip install 'keras-fsq[tune]'") from error

from keras_fsq import files
from keras_fsq._backend import accelerator  # noqa: F401  (tuning.accelerator(), as the docs use it)
from keras_fsq.callbacks import SCHEDULES, TemperatureAnnealing
from keras_fsq.levels import level_sets_for_budget
from keras_fsq.models import build_fsqvae
from keras_fsq.search_results import trial_levels


def _announcing(tuner_class):
    """``tuner_class`` that prints one line per finished trial, naming the tuner (worker) that ran it."""

    class Announcing(tuner_class):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            levels = trial_levels(trial.hyperparameters.values)
            status = str(trial.status).lower()
            print(f"[{self.tuner_id}] trial {trial.trial_id} {status}: levels {levels}", flush=True)

    Announcing.__name__ = Announcing.__qualname__ = tuner_class.__name__
    return Announcing


TUNERS = {
    "random": _announcing(keras_tuner.RandomSearch),
    "bayesian": _announcing(keras_tuner.BayesianOptimization),
    "hyperband": _announcing(keras_tuner.Hyperband),
}
# objective name -> (logged metric, direction)
OBJECTIVES = {
    "loss": ("val_reconstruction_loss", "min"),
    "psnr": ("val_psnr", "max"),
    "rate_distortion": ("val_rate_distortion", "min"),
}


def _sorted_pair(value, name):
    low, high = value
    if low > high:
        raise ValueError(f"`{name}` must be (min, max) with min <= max; received {value!r}.")
    return low, high


@functools.lru_cache(maxsize=64)
def _cached_level_sets(bits, code_dims, min_level, max_level):
    return level_sets_for_budget(bits, code_dims, min_level, max_level)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """What a search may choose.

    Levels come per dimension (``code_dims`` dimensions, each ``min_level``..``max_level``),
    or, when ``codebook_bits`` is given, from the level lists whose codebook holds
    ``2^bits`` codes (``level_sets_for_budget``) for each budget in ``codebook_bits``.
    ``latent_dims`` is the global encoder's total latent size (the conv architecture has none).
    ``schedules`` are temperature schedules from 1.0 to one of ``final_temperatures``
    (``"none"``: T = 1 throughout). The learning rate is log-uniform in ``learning_rate``.
    """

    code_dims: tuple = (3, 4, 5)
    min_level: int = 3
    max_level: int = 10
    codebook_bits: tuple = ()
    latent_dims: tuple = (32, 64, 128)
    schedules: tuple = ("none", "exponential")
    final_temperatures: tuple = (0.1, 0.5)
    learning_rate: tuple = (3e-4, 3e-3)

    def __post_init__(self):
        if self.min_level < 2:
            raise ValueError(f"`min_level` must be >= 2 (a level set needs two values); received {self.min_level}.")
        _sorted_pair((self.min_level, self.max_level), "min_level, max_level")
        if not self.code_dims or min(self.code_dims) < 1:
            raise ValueError(f"`code_dims` must be positive ints; received {self.code_dims!r}.")
        if not self.latent_dims or min(self.latent_dims) < max(self.code_dims):
            raise ValueError(f"`latent_dims` must each be >= the largest code dim; received {self.latent_dims!r}.")
        unknown = set(self.schedules) - {"none", *SCHEDULES}
        if not self.schedules or unknown:
            raise ValueError(f"`schedules` must name some of {('none', *SCHEDULES)}; received {self.schedules!r}.")
        if not self.final_temperatures or min(self.final_temperatures) <= 0:
            raise ValueError(f"`final_temperatures` must be > 0; received {self.final_temperatures!r}.")
        low, _ = _sorted_pair(self.learning_rate, "learning_rate")
        if low <= 0:
            raise ValueError(f"`learning_rate` must be positive; received {self.learning_rate!r}.")
        for bits in self.codebook_bits:
            if not self.level_sets(bits):
                raise ValueError(
                    f"`codebook_bits` {bits}: no list of {self.code_dims} levels in "
                    f"[{self.min_level}, {self.max_level}] has 2^{bits} codes."
                )

    def level_sets(self, bits):
        return _cached_level_sets(bits, tuple(self.code_dims), self.min_level, self.max_level)

    def choose_levels(self, hp):
        """Declare the level hyperparameters on ``hp`` and return this trial's levels."""
        if self.codebook_bits:
            bits = hp.Choice("codebook_bits", list(self.codebook_bits))
            for budget in self.codebook_bits:  # every branch declared, so the oracle sees the whole space
                with hp.conditional_scope("codebook_bits", [budget]):
                    choice = hp.Choice(f"levels_{budget}bit", [",".join(map(str, s)) for s in self.level_sets(budget)])
                if budget == bits:
                    chosen = choice
            return [int(v) for v in chosen.split(",")]
        dims = hp.Choice("code_dim", sorted(self.code_dims))
        levels = []
        for i in range(max(self.code_dims)):
            needing = [d for d in self.code_dims if d > i]
            with hp.conditional_scope("code_dim", needing):
                level = hp.Int(f"level_{i}", self.min_level, self.max_level)
            if i < dims:
                levels.append(level)
        return levels


class RateDistortionLog(keras.callbacks.Callback):
    """Adds ``rate_distortion = reconstruction_loss + rate_weight * bits_per_pixel`` to the epoch logs.

    Both for training and held-out (``val_``) values, so a tuner can minimise it.
    """

    def __init__(self, rate_weight):
        super().__init__()
        self.rate_weight = rate_weight

    def on_epoch_end(self, epoch, logs=None):
        for prefix in ("", "val_"):
            if logs is not None and f"{prefix}reconstruction_loss" in logs:
                logs[f"{prefix}rate_distortion"] = (
                    logs[f"{prefix}reconstruction_loss"] + self.rate_weight * logs[f"{prefix}bits_per_pixel"]
                )


class FSQVAEHyperModel(keras_tuner.HyperModel):
    """Builds and trains one FSQVAE per trial from a ``SearchSpace``.

    Args:
        space: the ``SearchSpace``.
        objective: ``"loss"`` (held-out reconstruction loss: the quantization term
            scales as 1/T, so it would rank temperature schedules by T instead of
            by quality), ``"psnr"``, or ``"rate_distortion"``
            (held-out reconstruction loss + ``rate_weight`` * bits per pixel).
        rate_weight: the lambda of the rate-distortion objective.
        image_shape: input size, as ``build_fsqvae``.
        architecture: ``"global"`` (the paper's) or ``"conv"``, as ``build_fsqvae``.
        widths: encoder widths, as ``build_fsqvae``.
        reconstruction_loss: ``"binary_crossentropy"`` or ``"mse"``.
    """

    def __init__(
        self,
        space=None,
        objective="loss",
        rate_weight=0.01,
        image_shape=(32, 32, 3),
        architecture="global",
        widths=(32, 64, 128, 256),
        reconstruction_loss="binary_crossentropy",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if objective not in OBJECTIVES:
            raise ValueError(f"`objective` must be one of {tuple(OBJECTIVES)}; received {objective!r}.")
        if rate_weight < 0:
            raise ValueError(f"`rate_weight` must be >= 0; received {rate_weight}.")
        self.space = space or SearchSpace()
        self.objective_name = objective
        self.rate_weight = rate_weight
        self.image_shape, self.architecture = tuple(image_shape), architecture
        self.widths, self.reconstruction_loss = tuple(widths), reconstruction_loss

    @property
    def objective(self):
        """The ``keras_tuner.Objective`` this hypermodel's runs log."""
        return keras_tuner.Objective(*OBJECTIVES[self.objective_name])

    def build(self, hp):
        levels = self.space.choose_levels(hp)
        latent_dim = hp.Choice("latent_dim", list(self.space.latent_dims)) if self.architecture == "global" else 0
        model = build_fsqvae(
            levels=levels,
            latent_dim=latent_dim,
            image_shape=self.image_shape,
            architecture=self.architecture,
            widths=self.widths,
            reconstruction_loss=self.reconstruction_loss,
        )
        learning_rate = hp.Float("learning_rate", *self.space.learning_rate, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))
        return model

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        schedule = hp.Choice("schedule", list(self.space.schedules))
        with hp.conditional_scope("schedule", [s for s in self.space.schedules if s != "none"]):
            final = hp.Choice("final_temperature", list(self.space.final_temperatures))
        # Ours first: the tuner's own callbacks (checkpoints, reports) read the
        # rate-distortion value from the same epoch logs.
        ours = [RateDistortionLog(self.rate_weight)]
        if schedule != "none":
            ours.append(TemperatureAnnealing(1.0, final, schedule=schedule))
        return model.fit(*args, callbacks=ours + list(callbacks or []), **kwargs)


def make_tuner(
    hypermodel,
    tuner="random",
    max_trials=10,
    max_epochs=10,
    directory="runs/tune",
    project_name="fsq_levels",
    overwrite=False,
    seed=0,
):
    """A KerasTuner tuner (``"random"``, ``"bayesian"`` or ``"hyperband"``) for ``hypermodel``.

    With ``overwrite=False`` an existing ``directory/project_name`` is resumed:
    finished trials are kept and only the remaining ones run. Resuming a
    search whose definition (space, objective, model, tuner) changed is a
    ``ValueError``: its trials would not be comparable.
    ``max_epochs`` is Hyperband's budget; the other two run ``max_trials`` trials.
    """
    if tuner not in TUNERS:
        raise ValueError(f"`tuner` must be one of {tuple(TUNERS)}; received {tuner!r}.")
    if not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(f"`max_trials` must be a positive int; received {max_trials!r}.")
    if isinstance(hypermodel, FSQVAEHyperModel):
        _record_search(pathlib.Path(directory) / project_name, hypermodel, tuner, overwrite)
    common = dict(
        hypermodel=hypermodel,
        objective=hypermodel.objective,
        directory=str(directory),
        project_name=project_name,
        overwrite=overwrite,
        seed=seed,
    )
    if tuner == "hyperband":
        return TUNERS[tuner](max_epochs=max_epochs, **common)
    return TUNERS[tuner](max_trials=max_trials, **common)


def _record_search(folder, hypermodel, tuner, overwrite):
    """Write what defines the search to ``folder/search.json``; refuse to resume a different one."""
    definition = {
        "tuner": tuner,
        "space": dataclasses.asdict(hypermodel.space),
        "objective": hypermodel.objective_name,
        "rate_weight": hypermodel.rate_weight,
        "image_shape": list(hypermodel.image_shape),
        "architecture": hypermodel.architecture,
        "widths": list(hypermodel.widths),
        "reconstruction_loss": hypermodel.reconstruction_loss,
    }
    definition = json.loads(json.dumps(definition))  # tuples -> lists, as read back
    record = folder / "search.json"
    if not overwrite and folder.exists():
        previous = json.loads(record.read_text()) if record.is_file() else None
        if previous != definition:
            changed = sorted(k for k in definition if previous is None or previous.get(k) != definition[k])
            raise ValueError(
                f"{folder} holds a search with another definition (differs in: {', '.join(changed)}); "
                "resume it unchanged, or pass overwrite=True (--overwrite) or another directory."
            )
    folder.mkdir(parents=True, exist_ok=True)
    files.write_text(record, json.dumps(definition, indent=2) + "\n")
