"""The names of the entropy contexts, Keras-free: what the coding tables (``tables``) and the learned prior
(``priors``) agree on, readable without importing a backend (the codec commands start without one)."""

PRIOR_CONTEXTS = ("none", "checkerboard", "activity")  # a learned CategoricalPrior's
TWO_PASS = ("checkerboard", "activity")  # anchors first, then the rest given them
NEIGHBOUR_CONTEXTS = ("neighbours", "neighbours_bands")  # coded along anti-diagonals, DCs maybe predicted
COUNTED_CONTEXTS = ("none", "left", *NEIGHBOUR_CONTEXTS)  # what EntropyModel.fit counts
TABLE_CONTEXTS = ("none", "left", *NEIGHBOUR_CONTEXTS, *TWO_PASS)  # what a coding table may use
