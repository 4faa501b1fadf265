"""The range coder and the coding tables without a model (``compression.coder``, ``compression.tables``):
any symbols round-trip under any table, the payload is exactly their coding, and the tables' contexts,
adaptation and floor do what they claim."""

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import example, given, settings

from keras_fsq import codec


def random_prior(levels, context, rng):
    from keras_fsq.compression import bands, neighbours
    from keras_fsq.compression.contexts import KINDS
    from keras_fsq.priors import learned as priors

    max_level = max(levels)
    buckets = 3 if KINDS[context].two_pass else None
    contexts = {
        "left": max_level + 1,
        "neighbours": neighbours.BUCKETS,
        "neighbours_bands": neighbours.BUCKETS * bands.BAND_BUCKETS,
    }.get(context)
    contexts = contexts or priors.context_count(context, max_level, buckets or 0)
    counts = rng.integers(0, 1000, size=(len(levels), contexts, max_level)) * (
        rng.uniform(size=(len(levels), contexts, max_level)) < 0.7
    )
    neighbouring = KINDS[context].predicts
    predicted = np.flatnonzero(rng.uniform(size=len(levels)) < 0.5) if neighbouring else ()
    return codec.EntropyModel(levels, counts, context, buckets, predicted)


@settings(max_examples=60, deadline=None)
@given(
    levels=st.lists(st.integers(2, 255), min_size=1, max_size=5),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 6)),
    context=st.sampled_from(["none", "left", "neighbours", "neighbours_bands", "checkerboard", "activity"]),
    step=st.integers(1, 5),
    skew=st.sampled_from([1.0, 4.0, 0.25]),
    adaptation=st.sampled_from(codec.ADAPTATIONS),
    seed=st.integers(0, 2**32 - 1),
)
@example(
    levels=[128, 138, 6, 6, 6], shape=(1, 4, 3), context="none", step=1, skew=1.0, adaptation="none", seed=2188648
)  # constriction refused a cut payload
def test_symbols_round_trip_for_any_levels_and_chunking(levels, shape, context, step, skew, adaptation, seed):
    rng = np.random.default_rng(seed)
    prior = random_prior(levels, context, rng)
    # skew > 1 piles symbols on low levels, < 1 on high ones: images the adaptation picks powers for
    grid = (rng.uniform(size=(*shape, len(levels))) ** skew * np.array(levels)).astype("uint8")
    words = codec.encode_symbols(grid, prior, step, adaptation)
    decoded = np.concatenate(list(codec.decode_symbol_chunks(words, grid.shape, prior, step, adaptation)))
    np.testing.assert_array_equal(decoded, grid)
    # The payload must be exactly the coding: one word more, or one fewer, is refused.
    for bad in (np.append(words, np.uint32(rng.integers(2**32))), words[:-1]):
        with pytest.raises(codec.CodecError):
            list(codec.decode_symbol_chunks(bad, grid.shape, prior, step, adaptation))


def test_neighbours_table_predicts_smooth_dimensions_and_codes_smaller(monkeypatch):
    """A smooth ramp (a DC coefficient) is coded as residuals of the median prediction, sparse noise (an AC
    coefficient) by its neighbours' magnitude; both in fewer bits than a factorized table, on new grids."""
    rng = np.random.default_rng(0)

    def grids(count):
        y, x = np.mgrid[:12, :16]
        ramp = (40 + 5 * y + 3 * x + rng.integers(-1, 2, size=(count, 12, 16))).clip(0, 254)
        sparse = np.full((count, 12, 16), 3)  # centred on level 3 (a zero coefficient), flat on the left,
        sparse[:, :, 8:] += rng.choice([-2, -1, 0, 0, 0, 0, 1, 2], size=(count, 12, 8))  # independent on the right
        return np.stack([ramp, sparse], axis=-1).astype("uint8")

    from keras_fsq.compression import tables

    train, test = grids(20), grids(5)
    table = codec.EntropyModel.count([255, 7], [train[:10], train[10:]], context="neighbours")
    assert table.predicted == [0]
    factorized = codec.EntropyModel.count([255, 7], [train], context="none")
    sizes = {name: len(codec.encode_symbols(test, p, 5, "none")) for name, p in [("n", table), ("f", factorized)]}
    assert sizes["n"] < 0.6 * sizes["f"], sizes  # measured 0.47
    words = codec.encode_symbols(test, table, 2)
    decoded = np.concatenate(list(codec.decode_symbol_chunks(words, test.shape, table, 2)))
    np.testing.assert_array_equal(decoded, test)
    restored = codec.EntropyModel.from_json(table.to_json())
    assert restored.predicted == [0] and restored.fingerprint == table.fingerprint
    # the encoder computes contexts a run of passes at a time: the same bytes whatever the run's length
    monkeypatch.setattr(tables, "BLOCK_POSITIONS", 5)
    np.testing.assert_array_equal(codec.encode_symbols(test, table, 2), words)
    with pytest.raises(ValueError, match="predicted"):
        codec.EntropyModel([255, 7], table.counts, "neighbours", None, [2])


def test_adaptation_costs_little_on_a_typical_image_and_shrinks_a_smooth_one():
    rng = np.random.default_rng(0)
    prior = random_prior([31, 15, 7], "none", rng)
    typical = np.stack(
        [
            rng.choice(levels, size=(4, 24, 24), p=prior.probabilities(i, np.zeros(1, "int64"))[0])
            for i, levels in enumerate([31, 15, 7])
        ],
        axis=-1,
    ).astype("uint8")  # drawn from the prior: nothing to adapt to
    plain, powers, online = (32 * len(codec.encode_symbols(typical, prior, 4, way)) for way in codec.ADAPTATIONS)
    assert powers <= plain + 4 + 64, (powers, plain)  # a flag per image, and the coder's flush
    assert online <= 1.01 * plain, (online, plain)  # the counts drift a little from a table that was right
    mode = np.stack([prior.probabilities(i, np.zeros(1, "int64"))[0].argmax() for i in range(3)])
    smooth = np.broadcast_to(mode, typical.shape).copy()
    smooth[:, ::7, ::5] = typical[:, ::7, ::5]  # mostly the most likely level: a smooth image
    plain, powers, online = (len(codec.encode_symbols(smooth, prior, 4, way)) for way in codec.ADAPTATIONS)
    assert powers < 0.6 * plain, (powers, plain)  # measured 0.52
    assert online < 0.6 * plain, (online, plain)


def test_every_symbol_costs_at_least_the_floor():
    """A prior that has seen only level 0 still cannot code more than 1 / MIN_SYMBOL_BITS symbols a bit
    (ONLINE_MIN_SYMBOL_BITS under online adaptation, whose counts make level 0 likelier still)."""
    prior = codec.EntropyModel([2], np.array([[[10**9, 0]]]))
    grid = np.zeros((100, 40, 40, 1), "uint8")
    for adaptation, cheapest in (("none", codec.MIN_SYMBOL_BITS), ("online", codec.ONLINE_MIN_SYMBOL_BITS)):
        bits = 32 * len(codec.encode_symbols(grid, prior, 100, adaptation))
        assert grid.size * cheapest - codec.SLACK_BITS <= bits < 2 * grid.size * cheapest + 64, adaptation


def test_tables_store_sparse_counts_read_earlier_nested_ones_and_refuse_a_crafted_size():
    import json

    from keras_fsq.compression.tables import MAX_TABLE_ENTRIES

    table = random_prior([255, 7], "neighbours_bands", np.random.default_rng(1))
    text = table.to_json()
    assert "counts_at" in text and codec.EntropyModel.from_json(text).fingerprint == table.fingerprint
    nested = {**json.loads(text), "counts": table.counts.tolist()}  # the form written before
    for key in ("counts_shape", "counts_at", "counts_values"):
        nested.pop(key)
    assert codec.EntropyModel.from_json(json.dumps(nested)).fingerprint == table.fingerprint
    crafted = {**json.loads(text), "counts_shape": [2, 80, 300]}  # small enough, but not the levels' shape
    with pytest.raises(ValueError, match="`counts` must be non-negative with shape"):
        codec.EntropyModel.from_json(json.dumps(crafted))
    assert 10**6 * 80 * 255 > MAX_TABLE_ENTRIES
    for bad in ({"counts_shape": [10**6, 80, 255]}, {"counts_at": [10**9]}, {"counts_values": [1]}):
        with pytest.raises(ValueError, match="Not an EntropyModel JSON"):  # refused before any array is made
            codec.EntropyModel.from_json(json.dumps({**json.loads(text), **bad}))
