"""Callbacks that drive schedule variables (temperature) during ``fit``."""

import math
from typing import Any

import keras

from keras_fsq._backend import sync_fit_state
from keras_fsq.types import Config

SCHEDULES = ("exponential", "linear", "cosine")


def quantizers(model: Any) -> list[Any]:
    """The keras_fsq quantizers among ``model``'s layers, looking inside nested models (``Model.layers``)."""
    from keras_fsq.quantizers.base import Quantizer

    found: list[Any] = []
    for layer in model.layers:
        if isinstance(layer, Quantizer):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(quantizers(layer))
    return found


def temperature_variables(model: Any) -> list[Any]:
    """Every temperature among the schedule variables of the quantizers in ``model``, each once."""
    found: list[Any] = []
    for quantizer in quantizers(model):
        for name, variable in quantizer.schedule_variables().items():
            if name.split("/")[-1] == "temperature" and not any(variable is v for v in found):
                found.append(variable)
    return found


def scheduled_value(start: float, end: float, progress: float, schedule: str) -> float:
    """Interpolate ``start -> end`` at ``progress`` in [0, 1].

    exponential: ``start (end/start)^p``;  linear: ``start + (end - start) p``;
    cosine: ``end + (start - end)(1 + cos(pi p)) / 2``.
    """
    p = min(max(progress, 0.0), 1.0)
    if schedule == "exponential":
        return start * (end / start) ** p
    if schedule == "linear":
        return start + (end - start) * p
    return end + (start - end) * (1 + math.cos(math.pi * p)) / 2


@keras.saving.register_keras_serializable(package="keras_fsq")
class TemperatureAnnealing(keras.callbacks.Callback):
    """Anneal the temperature of every quantizer in the model from ``start`` to ``end``.

    The seed paper anneals exponentially from 1.0 to 0.1 over training. The
    value at update ``t`` of ``total`` is ``scheduled_value(start, end, t / (total - 1))``,
    so the first epoch (or step) trains at ``start`` and the last at ``end``.
    The current temperature is added to the epoch logs as ``"temperature"``.

    Args:
        start: temperature of the first update, > 0.
        end: temperature of the last update, > 0.
        schedule: ``"exponential"``, ``"linear"`` or ``"cosine"``.
        update: ``"epoch"`` (once per epoch) or ``"step"`` (before every batch).
        total: number of updates the schedule spans; by default the epochs of
            ``fit``, or epochs x steps per epoch for ``update="step"``.
    """

    def __init__(
        self,
        start: float = 1.0,
        end: float = 0.1,
        schedule: str = "exponential",
        update: str = "epoch",
        total: int | None = None,
    ) -> None:
        super().__init__()
        if not (start > 0 and end > 0):
            raise ValueError(f"`start` and `end` must be > 0; received start={start}, end={end}.")
        if schedule not in SCHEDULES:
            raise ValueError(f"`schedule` must be one of {SCHEDULES}; received {schedule!r}.")
        if update not in ("epoch", "step"):
            raise ValueError(f"`update` must be 'epoch' or 'step'; received {update!r}.")
        if total is not None and (not isinstance(total, int) or total < 1):
            raise ValueError(f"`total` must be a positive int; received {total!r}.")
        self.start, self.end, self.schedule, self.update, self.total = start, end, schedule, update, total
        self.current = start
        self._step = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._variables = temperature_variables(self.model)
        if not self._variables:
            raise ValueError(
                "TemperatureAnnealing found no quantizer with a temperature among the model's layers "
                "(or those of the models nested in it)."
            )
        self._total = self.total or self._default_total()
        self._step = 0

    def _default_total(self) -> int:
        epochs = self.params.get("epochs") or 1
        if self.update == "epoch":
            return epochs
        steps = self.params.get("steps")
        if not steps:
            raise ValueError("The number of steps per epoch is unknown; pass `total` to TemperatureAnnealing.")
        return epochs * steps

    def _set(self, t: int) -> None:
        self.current = scheduled_value(self.start, self.end, t / max(self._total - 1, 1), self.schedule)
        sync_fit_state(self.model)  # on JAX the loop then re-reads the variables, our assignment included
        for variable in self._variables:
            variable.assign(self.current)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.update == "epoch":
            self._set(epoch)
        else:  # a resumed fit (initial_epoch > 0) continues the schedule where the run left it
            self._step = epoch * (self.params.get("steps") or 0)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.update == "step":
            self._set(self._step)
            self._step += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["temperature"] = self.current

    def get_config(self) -> Config:
        return {
            "start": self.start,
            "end": self.end,
            "schedule": self.schedule,
            "update": self.update,
            "total": self.total,
        }
