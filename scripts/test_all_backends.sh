#!/usr/bin/env bash
# Run the test suite once per Keras backend; exit non-zero if any backend fails.
# Extra arguments go to pytest (e.g. -k fsq).
set -u
export TF_CPP_MIN_LOG_LEVEL=2
status=0
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider "$@" || status=1
done
exit $status
