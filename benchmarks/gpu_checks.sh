#!/usr/bin/env bash
# The checks to run on a GPU machine, in one go: FSQVAE training throughput on each
# installed backend (benchmarks/training_throughput.py), then a KerasTuner search over
# FSQ level sets at 2^8, 2^10 and 2^12 codes on the conv model (keras-fsq tune).
#
#   KERAS_FSQ_DATA=../shared/data bash benchmarks/gpu_checks.sh [BACKEND ...]
#
# Backends default to jax, torch and tensorflow (those not installed are skipped); the
# search runs on the first of them. TRIALS and EPOCHS size the search (default 8 x 5).
set -u
cd "$(dirname "$0")/.."
backends=("${@:-jax torch tensorflow}")
backends=(${backends[*]})
available=()
for backend in "${backends[@]}"; do
  if python -c "import $backend" 2>/dev/null; then available+=("$backend"); else echo "=== $backend: not installed, skipped"; fi
done
for backend in "${available[@]}"; do
  echo "=== training throughput, KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend python benchmarks/training_throughput.py --steps "${STEPS:-30}"
done
echo "=== KerasTuner level search, KERAS_BACKEND=${available[0]}"
time KERAS_BACKEND=${available[0]} python -m keras_fsq.cli tune --data "${KERAS_FSQ_DATA:?set KERAS_FSQ_DATA}" \
  --architecture conv --widths 64,128 --codebook-bits 8,10,12 --code-dims 3,4,5 --tuner bayesian \
  --objective psnr --max-trials "${TRIALS:-8}" --epochs "${EPOCHS:-5}" --out runs/gpu_tune --overwrite
