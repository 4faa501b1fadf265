#!/usr/bin/env bash
# Add training to the shipped block-DCT qualities: each resumes from its own weights
# (experiments/train_codecs.py --warm-restart), one CPU thread, one quality after another, so
# the second core stays free. Each resumed run takes a new seed (new crops); the logs in
# experiments/results/codecs/fsq_dct_q<Q>.json keep every run and the total step count.
#   bash experiments/resume_dct_family.sh ../shared/data 1
# Extra arguments go to every run, e.g. a learning rate other than a tenth of the recipe's:
#   bash experiments/resume_dct_family.sh ../shared/data 3 --learning-rate 3e-4
set -eu
cd "$(dirname "$0")/.."
data_dir=${1:-../shared/data}
seed=${2:?the seed of this resumed run (one more than the last)}
export KERAS_BACKEND=torch OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
for quality in 1 2 3 4 5 6; do
  "${PYTHON:-python}" experiments/train_codecs.py --preset "fsq_dct_q$quality" --warm-restart --seed "$seed" --data-dir "$data_dir" "${@:3}"
done
"${PYTHON:-python}" experiments/fit_codec_priors.py --data-dir "$data_dir"  # the new weights' coding tables
