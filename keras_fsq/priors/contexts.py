"""The names of a learned prior's contexts, Keras-free: readable without importing a backend (the command
line offers them). The coding tables' contexts are ``keras_fsq.compression.contexts.KINDS``."""

PRIOR_CONTEXTS = ("none", "checkerboard", "activity")  # a learned CategoricalPrior's
