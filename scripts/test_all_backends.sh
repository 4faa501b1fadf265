#!/usr/bin/env bash
# Run the test suite once per Keras backend (examples included, on a tiny budget),
# then build the docs with --strict; exit non-zero if anything fails.
# Extra arguments go to pytest (e.g. -k fsq).
set -u
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2 NO_MKDOCS_2_WARNING=1
status=0
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider "$@" || status=1
done
echo "=== mkdocs build --strict"
python -m mkdocs build --strict --quiet --site-dir "$(mktemp -d)" || status=1
exit $status
