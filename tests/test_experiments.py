"""The one command that trains the shipped codec family, run end to end at a tiny budget."""

import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_fsq import FSQVAE, codec, preset_weights
from tests.conftest import BACKEND, REPO_ROOT, SHARED_DATA, missing


@pytest.mark.slow
def test_the_codec_family_command_trains_every_quality_from_its_base(tmp_path):
    if not (SHARED_DATA / "photos").is_dir():
        missing(f"training photos not found at {SHARED_DATA / 'photos'}")
    out = tmp_path / "family"
    out.mkdir()
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "PYTHON": sys.executable, "TABLE_PHOTOS": "4"}
    command = [
        "bash",
        "experiments/train_dct_family.sh",
        str(SHARED_DATA),
        "--steps-per-epoch",
        "1",
        "--out-dir",
        str(out),
    ]
    subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, capture_output=True)
    names = ["fsq_dct_base"] + [f"fsq_dct_q{q}" for q in range(1, 7)]
    assert sorted(p.name for p in out.glob("*.npz")) == sorted(f"{name}.npz" for name in names)
    assert sorted(p.name for p in out.glob("*.json")) == sorted(f"{name}.json" for name in names)
    # and each quality's coding table, counted with this run's weights
    for name in names[1:]:
        table = codec.EntropyModel.from_json(gzip.decompress((out / f"{name}.prior.json.gz").read_bytes()).decode())
        assert table.context == "neighbours" and table.counts.sum() > 0
    # Each quality starts from this run's base, not the shipped one: its weights differ from the shipped ones.
    model = FSQVAE.from_preset("fsq_dct_q3")
    shipped = [w.copy() for w in model.get_weights()]
    with open(out / "fsq_dct_q3.npz", "rb") as file:
        preset_weights.read_weights(model, file)
    assert any(not np.array_equal(a, b) for a, b in zip(shipped, model.get_weights()))
