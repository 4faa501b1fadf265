"""Online adaptation of a coding table (format version 5): each symbol coded under what the table says and
what the same image has shown so far in the same context.

A table counted on many photos is right on average and wrong for any one photo: a smooth sky puts more
symbols on zero than the average photo, a forest fewer, and it differs region by region. As CABAC's
adaptive contexts do, the coder keeps ``n_i(c, s)``, how often symbol ``s`` of dimension ``i`` has been
coded in context ``c`` so far in this chunk of images (``t_i(c) = sum_s n_i(c, s)``), and codes the next
under

    q_i(s | c) = (W P_i(s | c) + n_i(c, s)) / (W + t_i(c)),   then   (1 - f) q + f / L_i,

``P`` the table's smoothed probabilities, ``W = PRIOR_WEIGHT`` symbols' worth of trust in the table and
``f = ONLINE_FLOOR`` (``2^-12``; the static tables' ``2^-8`` costs every symbol 0.0056 bits, 4% of a
quality-1 file, and adaptation makes common symbols likelier than ``1 - 2^-8`` allows), which still
bounds what a payload bit can carry (``ONLINE_MIN_SYMBOL_BITS``). The
counts are updated after every slice the range coder codes, in the coding order, by the encoder and the
decoder alike; all of it is float64 sums, products and quotients of integers and the table's numbers,
which IEEE arithmetic rounds the same way on every machine. It replaces version 4's per-image powers
(``tables.EntropyModel.power_rows``): on the training photos its ideal code length is 5.7% (quality 1) and
2.0% (quality 4) under version 4's payloads (``experiments/results/codecs/online_adaptation.md``).
"""

import math
from typing import Any

import numpy as np

PRIOR_WEIGHT = 64.0  # W: the table's probabilities count as this many symbols already seen
ONLINE_FLOOR = 2.0**-12  # f: every level keeps at least f / L
ONLINE_MIN_SYMBOL_BITS = -math.log2(1 - ONLINE_FLOOR / 2)  # the cheapest symbol: 1.8e-4 bits (5,678 a bit)


class OnlineCounts:
    """The counts ``n_i(c, s)`` of one chunk of images under a table (an ``EntropyModel``): ``rows`` gives the
    probability rows the next symbols are coded with, ``update`` adds the symbols just coded."""

    def __init__(self, table: Any):
        self.table = table
        self.contexts = table.counts.shape[1]
        self._counts: dict[int, np.ndarray] = {}  # per L: (d * contexts, L), row i * contexts + c
        self._totals = np.zeros(len(table.levels) * self.contexts)

    def _counts_of(self, level: int) -> np.ndarray:
        if level not in self._counts:
            self._counts[level] = np.zeros((len(self.table.levels) * self.contexts, level))
        return self._counts[level]

    def rows(self, dims: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        """``(M, L)`` float64 rows of ``q`` (floored) for symbols of dimensions ``dims`` (one ``L`` for all) in
        ``contexts``."""
        level = self.table.levels[dims[0]]
        at = dims * self.contexts + contexts
        prior = np.take(self.table.smoothed_rows(level), at, axis=0)
        seen = np.take(self._counts_of(level), at, axis=0)
        adapted = (PRIOR_WEIGHT * prior + seen) / (PRIOR_WEIGHT + self._totals[at])[:, None]
        return (1 - ONLINE_FLOOR) * adapted + ONLINE_FLOOR / level

    def update(self, dims: np.ndarray, contexts: np.ndarray, symbols: np.ndarray) -> None:
        """Count ``symbols`` (coded symbols: residuals for predicted dimensions) of ``dims`` in ``contexts``."""
        at = dims * self.contexts + contexts
        np.add.at(self._counts_of(self.table.levels[dims[0]]), (at, symbols), 1.0)
        np.add.at(self._totals, at, 1.0)
