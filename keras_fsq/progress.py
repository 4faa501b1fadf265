"""What a long training run says while it runs: on stderr, one line per epoch, a live line on a terminal.

``TrainingProgress`` replaces Keras' progress bar (``fit(verbose=0)``): Keras writes its bar to
stdout with terminal escape codes even when stdout is a file. Here everything goes to stderr
(stdout keeps the command's results):

* after the first few steps, one line with the estimated time of the whole run;
* on a terminal, a line rewritten in place at most five times a second: epoch, step, loss, time left;
* at the end of every epoch, one plain line: its logs, its seconds, the time left.
"""

import sys
import time

import keras

REFRESH_SECONDS = 0.2
SHOWN_LOGS = ("loss", "psnr", "val_loss", "val_psnr", "temperature")  # the epoch line's (all logs if none)
ESTIMATE_AFTER_STEPS = 5  # the first step compiles; the estimate times the steps after it


def duration(seconds):
    """``"42 s"``, ``"3 min 5 s"`` or ``"1 h 12 min"``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class TrainingProgress(keras.callbacks.Callback):
    """Progress of ``fit`` on ``stream`` (default ``sys.stderr``); see the module doc.

    Args:
        stream: a text stream; a live line only when it is a terminal.
        live: force the live line on or off (default: ``stream.isatty()``).
    """

    def __init__(self, stream=None, live=None):
        super().__init__()
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else bool(live)

    def _say(self, text, end="\n"):
        prefix = "\r\033[K" if self.live else ""
        self.stream.write(prefix + text + end)
        self.stream.flush()

    def on_train_begin(self, logs=None):
        self.epochs = self.params.get("epochs") or 1
        self.steps = self.params.get("steps") or 0
        self.step_seconds = None
        self.estimated = False
        self.first_epoch = None  # a resumed fit starts past 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_started, self.shown = epoch, time.perf_counter(), 0.0
        self.first_epoch = epoch if self.first_epoch is None else self.first_epoch
        self.timed_from = None

    def _seconds_left(self, step):
        remaining_steps = (self.epochs - self.epoch) * self.steps - step
        return None if self.step_seconds is None else remaining_steps * self.step_seconds

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        step = batch + 1
        if self.timed_from is None:
            self.timed_from = (step, now)  # the first step of an epoch may compile or fill queues
        elif step > self.timed_from[0]:
            self.step_seconds = (now - self.timed_from[1]) / (step - self.timed_from[0])
        if not self.estimated and self.steps and step >= ESTIMATE_AFTER_STEPS and self.step_seconds is not None:
            self.estimated = True
            total = (self.epochs - self.first_epoch) * self.steps * self.step_seconds
            self._say(f"estimated time: {duration(total)} for {self.epochs - self.first_epoch} epochs")
        if self.live and now - self.shown >= REFRESH_SECONDS:
            self.shown = now
            left = self._seconds_left(step)
            loss = (logs or {}).get("loss")
            self._say(
                f"epoch {self.epoch + 1}/{self.epochs}  step {step}/{self.steps or '?'}"
                + (f"  loss {float(loss):.4g}" if loss is not None else "")
                + (f"  {duration(left)} left" if left is not None else ""),
                end="",
            )

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.epoch_started
        logs = logs or {}
        shown = [name for name in SHOWN_LOGS if name in logs] or sorted(logs)
        values = ", ".join(f"{name} {float(logs[name]):.4g}" for name in shown)
        left = (self.epochs - epoch - 1) * seconds
        self._say(
            f"epoch {epoch + 1}/{self.epochs}: {values} ({duration(seconds)}"
            + (f"; about {duration(left)} left)" if epoch + 1 < self.epochs else ")")
        )
