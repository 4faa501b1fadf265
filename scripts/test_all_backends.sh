#!/usr/bin/env bash
# Check the style (ruff) and the typed modules (mypy, the list in pyproject.toml), run the
# test suite once per Keras backend, then build the docs with --strict; exit non-zero if anything fails. Tests marked slow (real
# training, the examples, FID on many images) run on TensorFlow only; everything
# else, the contract tests, codec round trips and cross-backend checks included,
# runs on all three. Each backend's tests run on two pytest-xdist workers (the machine's two
# cores; most tests are single-threaded Python), and the slowest are listed. Extra arguments
# go to pytest (e.g. -k fsq, or -n 0 to run in one process).
set -u
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 NO_MKDOCS_2_WARNING=1
status=0
echo "=== ruff check"
python -m ruff check . || status=1
echo "=== mypy"
python -m mypy || status=1
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  if [ "$backend" = tensorflow ]; then selection=(); else selection=(-m "not slow"); fi
  KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider -n 2 --durations=10 "${selection[@]}" "$@" || status=1
done
echo "=== mkdocs build --strict"
python -m mkdocs build --strict --site-dir "$(mktemp -d)" || status=1
exit $status
