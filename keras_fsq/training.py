"""Training with a preset's recipe: its optimizer schedule, its callbacks, and ``fit`` on its data."""

import keras

from keras_fsq import batches
from keras_fsq.callbacks import TemperatureAnnealing


def recipe_optimizer(recipe, steps):
    """Adam whose learning rate warms up linearly over ``warmup_fraction`` of ``steps``, then follows ``schedule``.

    ``cosine``: ``lr(t) = peak (1 + cos(pi t / decay_steps)) / 2`` after warmup; ``constant``: ``peak``.
    """
    peak, warmup = recipe["learning_rate"], int(recipe["warmup_fraction"] * steps)
    if recipe["schedule"] == "constant":
        rate = (
            peak
            if not warmup
            else keras.optimizers.schedules.PolynomialDecay(peak / warmup, warmup, end_learning_rate=peak, power=1.0)
        )
        return keras.optimizers.Adam(rate)
    rate = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else peak,
        max(steps - warmup, 1),
        alpha=0.0,
        warmup_target=peak if warmup else None,
        warmup_steps=warmup,
    )
    return keras.optimizers.Adam(rate)


def override_recipe(recipe, epochs=None, learning_rate=None, batch_size=None, anneal=None, temperatures=(1.0, 0.1)):
    """``recipe`` (a preset's) with the values given here in its place; ``anneal="none"`` removes its
    temperature annealing, another schedule name sets it from ``temperatures`` (start, end)."""
    recipe = dict(recipe)
    for key, value in (("epochs", epochs), ("learning_rate", learning_rate), ("batch_size", batch_size)):
        if value is not None:
            recipe[key] = value
    if anneal == "none":
        recipe["anneal"] = None
    elif anneal:
        recipe["anneal"] = {"start": temperatures[0], "end": temperatures[1], "schedule": anneal}
    return recipe


def recipe_callbacks(recipe):
    """The callbacks a recipe trains with: its temperature annealing, if any."""
    anneal = recipe.get("anneal")
    return [TemperatureAnnealing(anneal["start"], anneal["end"], schedule=anneal["schedule"])] if anneal else []


def fit_with_recipe(
    model, recipe, images, validation_images=None, seed=0, verbose="auto", callbacks=(), initial_epoch=0, state=None
):
    """Compile ``model`` with ``recipe``'s optimizer and ``fit`` it on ``images``; the History.

    Whole images (an array, float in [0, 1]): shuffled every epoch, flipped when
    the recipe says so (``batches.shuffled_batches``), ``recipe["epochs"]`` epochs of ``recipe["batch_size"]``.
    A recipe with ``crop`` (the codecs') trains on ``steps_per_epoch`` batches of
    fresh random ``crop``-pixel crops of ``images`` (a list of any sizes) per epoch.
    Either way epoch ``e``'s batches depend only on ``seed`` and ``e``.
    ``validation_images`` are evaluated after each epoch; ``callbacks`` run beside the recipe's own.
    A resumed run passes the epochs already done (``initial_epoch``) and its checkpoint's
    ``state.npz`` (``keras_fsq.checkpoints``), loaded after compiling: model and optimizer variables.
    """
    batch_size = recipe["batch_size"]
    if recipe.get("crop"):
        steps = recipe["steps_per_epoch"]
        dataset = batches.random_crop_batches(images, recipe["crop"], batch_size, steps, seed, recipe["flip"])
    else:
        dataset = batches.shuffled_batches(images, batch_size, seed=seed, flip=recipe["flip"])
    validation = None if validation_images is None else batches.make_dataset(validation_images, 256)
    return fit_on_dataset(model, recipe, dataset, validation, verbose, callbacks, initial_epoch, state)


def fit_with_checkpoints(model, recipe, images, folder, settings, resumed=None, seed=0, validation_images=None):
    """``fit_with_recipe`` that writes a checkpoint into ``folder`` at the end of every epoch
    (``checkpoints.EpochCheckpoint``, with the run's ``settings``) and its progress on stderr, continuing
    ``resumed`` (``checkpoints.read_checkpoint``'s record) where it stopped; ``(history, seconds)``: every
    epoch's logs and the seconds this sitting trained."""
    import time

    from keras_fsq import checkpoints
    from keras_fsq.progress import TrainingProgress

    done, history, _, state = resumed or (0, {}, None, None)
    checkpoint = checkpoints.EpochCheckpoint(folder, settings, history)
    started = time.perf_counter()
    fit_with_recipe(
        model,
        recipe,
        images,
        validation_images,
        seed=seed,
        verbose=0,
        callbacks=[checkpoint, TrainingProgress()],
        initial_epoch=done,
        state=state,
    )
    return checkpoint.history, time.perf_counter() - started


def fit_on_dataset(model, recipe, dataset, validation=None, verbose="auto", callbacks=(), initial_epoch=0, state=None):
    """Compile ``model`` with ``recipe``'s optimizer over ``recipe["epochs"]`` epochs of ``dataset`` and ``fit``
    it; the History.

    ``dataset``: a ``PyDataset`` whose ``epoch`` attribute orders its batches (``batches.shuffled_batches``,
    ``random_crop_batches``, ``shuffled_records``), set to ``initial_epoch`` here so a resumed run sees the
    batches an uninterrupted one would; its checkpoint's ``state`` is loaded after compiling.
    """
    dataset.epoch = initial_epoch
    model.compile(optimizer=recipe_optimizer(recipe, recipe["epochs"] * len(dataset)))
    if state is not None:
        from keras_fsq import checkpoints

        checkpoints.restore(model, state)
    return model.fit(
        dataset,
        validation_data=validation,
        epochs=recipe["epochs"],
        initial_epoch=initial_epoch,
        shuffle=False,  # the dataset orders each epoch itself; Keras would shuffle its batches with Python's random
        callbacks=recipe_callbacks(recipe) + list(callbacks),
        verbose=verbose,
    )
