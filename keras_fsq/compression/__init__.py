"""The codec's parts, one job each, in pipeline order (``keras_fsq.codec`` is their public API):

    images -> encoder -> quantizer indices
        -> symbols     (``symbols``: the quantizer contract's alphabets; the codec's unit)
        -> prior       (``priors``: the learned prior a model trains with; ``tables``: coding tables from it)
        -> coder       (``coder``: range coding, chunk by chunk, pass by pass)
        -> container   (``container``: one ``Header`` that packs and unpacks the file)
    ``images`` glues them to a model: images to files and back.

A new context for the prior is defined once, in ``priors`` (``CONTEXTS``,
``context_count``, ``contexts_of``); the tables and the coder read it from there.
"""
