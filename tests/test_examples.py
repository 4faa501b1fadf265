"""Every example runs (on a tiny budget) on the active backend, and the docs show only these files."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from tests.conftest import BACKEND, REPO_ROOT, SHARED_DATA

EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.py"))


def run_example(name, tmp_path, *extra):
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / name), "--data-dir", str(SHARED_DATA), "--quick", *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_train_with_fit(tmp_path):
    result = run_example("train_with_fit.py", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "indices (8, 8, 8) reconstructions (8, 32, 32, 3)" in result.stdout
    assert "val_psnr" in result.stdout


@pytest.mark.slow
def test_compress_images(tmp_path):
    result = run_example("compress_images.py", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    match = re.search(r"(\d+) bytes = ([\d.]+) bits/pixel", result.stdout)
    assert match and int(match.group(1)) > 20, result.stdout
    assert "(321, 481, 3)" in result.stdout or "(481, 321, 3)" in result.stdout


@pytest.mark.slow
def test_tune_levels(tmp_path):
    result = run_example("tune_levels.py", tmp_path, "--out", str(tmp_path / "tune"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"best levels: \[\d+(, \d+)+\]", result.stdout), result.stdout
    assert (tmp_path / "tune" / "pareto.png").stat().st_size > 0


@pytest.mark.slow
def test_generate_images(tmp_path):
    result = run_example("generate_images.py", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "samples (8, 32, 32, 3) in" in result.stdout


def test_data_parallel_matches_one_device(tmp_path):
    result = run_example("data_parallel.py", tmp_path)
    if BACKEND == "torch":
        assert result.returncode != 0 and "jax or tensorflow backend" in result.stderr
        return
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = ([float(v) for v in group.split(",")] for group in re.findall(r"devices? \[([^\]]+)\]", result.stdout))
    difference = float(re.search(r"difference after training: (\S+)", result.stdout).group(1))
    if BACKEND == "jax":  # one global program: equal to float rounding
        assert one == pytest.approx(two, abs=1e-4) and difference < 1e-3
    else:  # per-replica BatchNorm: close, and the loss is not scaled by the replica count
        assert one == pytest.approx(two, rel=0.02) and difference < 0.05


def test_every_example_is_tested_and_shown_in_the_docs():
    tested = set(re.findall(r'run_example\("([\w.]+)"', pathlib.Path(__file__).read_text()))
    assert tested == {path.name for path in EXAMPLES}
    docs = "".join(path.read_text() for path in (REPO_ROOT / "docs").rglob("*.md"))
    for path in EXAMPLES:
        assert f'--8<-- "examples/{path.name}"' in docs, f"{path.name} is in no docs page"


def test_getting_started_shows_the_readme_commands():
    readme = (REPO_ROOT / "README.md").read_text()
    commands = re.findall(r"<!-- (?:main|test)-command -->\n```bash\n(.+)\n```", readme)
    assert len(commands) == 2
    getting_started = (REPO_ROOT / "docs" / "getting-started.md").read_text()
    for command in commands:
        assert command in getting_started
