"""The entropy contexts a coding table (``tables.EntropyModel``) conditions its symbols on: one small class
each, registered by name in ``KINDS``.

A kind says how many contexts a dimension has (``count``), the passes a grid's positions are coded in
(``passes``), each coded position's contexts and shifts, read from the symbols decoded before it
(``contexts_and_shifts``), which dimensions one call of the range coder codes together
(``dimension_groups``), and how ``EntropyModel.count`` chooses the dimensions it predicts
(``predicted_dimensions``). A new context is one subclass here and one entry of ``KINDS``
(docs/architecture.md shows it). Keras-free: the learned prior's contexts import its code when they run.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from keras_fsq.compression import bands, neighbours


class ContextKind:
    """``"none"``: every symbol of a dimension under one context (a factorized table), all positions at once.

    ``counted``: ``EntropyModel.fit`` may count a table of it; ``two_pass``: a learned prior's, whose tables
    carry ``activity_buckets``; ``predicts``: its tables may code dimensions as residuals of a prediction;
    ``reads_earlier_groups``: a symbol's context reads the groups coded before its own at its position;
    ``reads_neighbour_magnitudes``: a symbol's magnitude is part of its later neighbours' contexts (RDOQ
    counts what moving it saves them).
    """

    counted = True
    two_pass = False
    predicts = False
    reads_earlier_groups = False
    reads_neighbour_magnitudes = False

    def count(self, max_level: int, activity_buckets: int | None) -> int:
        """Contexts per dimension of a table whose largest ``L`` is ``max_level``."""
        return 1

    def passes(self, rows: int, columns: int) -> Iterable[np.ndarray]:
        """Boolean ``(rows, columns)`` masks of the positions coded together, in coding order."""
        return [np.ones((rows, columns), dtype=bool)]

    def contexts_and_shifts(self, table: Any, grid: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, Any]:
        """``(contexts, shifts)`` at ``mask``'s positions of ``grid`` ``(N, h, w, d)``, both ``(N, positions, d)``
        int64; ``shifts`` None when every symbol is coded as it is."""
        return np.broadcast_to(np.zeros((), dtype="int64"), (len(grid), int(mask.sum()), grid.shape[3])), None

    def dimension_groups(self, levels: Sequence[int]) -> list[np.ndarray]:
        """The dimensions coded in one call of the range coder per pass, in coding order: each alone."""
        return [np.array([i]) for i in range(len(levels))]

    def predicted_dimensions(self, levels: Sequence[int], counted: Callable[[str, Any], Any]) -> Sequence[int]:
        """The dimensions a counted table codes as residuals; ``counted(context, predicted)`` counts a table."""
        return ()

    def magnitude_context(self, table: Any, bucket: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """The context of positions whose neighbourhood magnitude bucket is ``bucket`` and whose own levels are
        ``symbols``: RDOQ's view of a later neighbour's context, for kinds that ``reads_neighbour_magnitudes``."""
        raise NotImplementedError(f"{type(self).__name__} contexts read no neighbour magnitudes.")


class Left(ContextKind):
    """``"left"``: the same dimension's level at the position to the left (``max L``: the first column), coded
    a column at a time."""

    def count(self, max_level: int, activity_buckets: int | None) -> int:
        return max_level + 1

    def passes(self, rows: int, columns: int) -> Iterable[np.ndarray]:
        column = np.broadcast_to(np.arange(columns), (rows, columns))
        return (column == x for x in range(columns))

    def contexts_and_shifts(self, table: Any, grid: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, Any]:
        rows, columns = np.nonzero(mask)  # only the masked positions' left neighbours: a column costs a column
        contexts = grid[:, rows, np.maximum(columns - 1, 0)].astype("int64")
        contexts[:, columns == 0] = max(table.levels)
        return contexts, None


class Neighbours(ContextKind):
    """``"neighbours"`` (``keras_fsq.compression.neighbours``): the left and upper neighbours' magnitudes, coded
    along anti-diagonals; a dimension is predicted (a median prediction's residual) when that codes the
    counted grids in fewer bits. The dimensions of one ``L`` are coded together."""

    predicts = True
    reads_neighbour_magnitudes = True

    def count(self, max_level: int, activity_buckets: int | None) -> int:
        return neighbours.BUCKETS

    def passes(self, rows: int, columns: int) -> Iterable[np.ndarray]:
        return neighbours.diagonals(rows, columns)

    def contexts_and_shifts(self, table: Any, grid: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, Any]:
        contexts, shifts = neighbours.contexts_and_shifts(np.asarray(grid), mask, table.levels, table.predicted_mask)
        return contexts, (shifts if table.predicted else None)

    def dimension_groups(self, levels: Sequence[int]) -> list[np.ndarray]:
        array = np.asarray(levels)
        return [np.flatnonzero(array == level) for level in dict.fromkeys(array.tolist())]

    def magnitude_context(self, table: Any, bucket: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """The context of positions whose neighbourhood magnitude bucket is ``bucket`` and whose own levels are
        ``symbols`` (both ``(..., d)``): RDOQ's view of a later neighbour's context."""
        return bucket

    def predicted_dimensions(self, levels: Sequence[int], counted: Callable[[str, Any], Any]) -> Sequence[int]:
        plain, residual = counted("neighbours", ()), counted("neighbours", range(len(levels)))
        return np.flatnonzero(residual.code_length() < plain.code_length()).tolist()


class NeighbourBands(Neighbours):
    """``"neighbours_bands"`` (``keras_fsq.compression.bands``): ``"neighbours"``' contexts times the bucket of
    the previous group's magnitude at the same position; the ``"neighbours"`` table's predicted dimensions."""

    reads_earlier_groups = True

    def count(self, max_level: int, activity_buckets: int | None) -> int:
        return neighbours.BUCKETS * bands.BAND_BUCKETS

    def contexts_and_shifts(self, table: Any, grid: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, Any]:
        grid = np.asarray(grid)
        contexts, shifts = super().contexts_and_shifts(table, grid, mask)
        groups = self.dimension_groups(table.levels)  # frequency ranks, for a block-DCT codec
        band = bands.band_buckets(grid[:, mask], table.levels, table.predicted_mask, groups)
        return contexts * bands.BAND_BUCKETS + band, shifts

    def magnitude_context(self, table: Any, bucket: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        groups = self.dimension_groups(table.levels)
        return bucket * bands.BAND_BUCKETS + bands.band_buckets(symbols, table.levels, table.predicted_mask, groups)


class Learned(ContextKind):
    """A learned ``CategoricalPrior``'s two-pass contexts (``keras_fsq.priors.learned``): the checkerboard's
    anchors first, then the other positions given them; learned in training, not counted."""

    counted = False
    two_pass = True

    def __init__(self, name: str):
        self.name = name

    def count(self, max_level: int, activity_buckets: int | None) -> int:
        from keras_fsq.priors import learned

        return learned.context_count(self.name, max_level, activity_buckets or 0)

    def passes(self, rows: int, columns: int) -> Iterable[np.ndarray]:
        from keras_fsq.priors import learned

        anchors = learned.anchor_mask(rows, columns)
        return [anchors, ~anchors] if (~anchors).any() else [anchors]

    def contexts_and_shifts(self, table: Any, grid: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, Any]:
        import keras

        from keras_fsq.priors import learned

        contexts = learned.contexts_of(grid, table.levels, self.name, table.activity_buckets)
        return keras.ops.convert_to_numpy(contexts).astype("int64")[:, mask], None


KINDS: dict[str, ContextKind] = {
    "none": ContextKind(),
    "left": Left(),
    "neighbours": Neighbours(),
    "neighbours_bands": NeighbourBands(),
    "checkerboard": Learned("checkerboard"),
    "activity": Learned("activity"),
}
TABLE_CONTEXTS = tuple(KINDS)  # what a coding table may use
COUNTED_CONTEXTS = tuple(name for name, kind in KINDS.items() if kind.counted)  # what EntropyModel.fit counts
TWO_PASS = tuple(name for name, kind in KINDS.items() if kind.two_pass)
