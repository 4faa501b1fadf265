"""The entropy model's home, below the model and the codec that both use it.

* ``contexts``: the context names the coding tables and the learned prior agree on (no Keras: the codec
  commands read them without a backend);
* ``learned``: ``CategoricalPrior``, the learned prior of rate-distortion training, and the checks a
  model makes of it;
* ``grid``: ``symbol_grid``, per-dimension symbols laid out as the ``(N, h, w, D)`` grid priors and
  tables read.

Importing this package imports no backend; its modules say what they need.
"""
