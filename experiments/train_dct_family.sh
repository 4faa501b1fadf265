#!/usr/bin/env bash
# The block-DCT codec family: the base (from its JPEG-like initialisation), then the six
# qualities fine-tuned from it, on one CPU thread each (two qualities at a time). Seed 0;
# logs in experiments/results/codecs/.
#   bash experiments/train_dct_family.sh ../shared/data
set -eu
cd "$(dirname "$0")/.."
data_dir=${1:-../shared/data}
export KERAS_BACKEND=torch OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
train() { python experiments/train_codecs.py --preset "$1" --seed 0 --data-dir "$data_dir"; }
[ -f keras_fsq/weights/fsq_dct_base.npz ] || train fsq_dct_base
(train fsq_dct_q1 && train fsq_dct_q3 && train fsq_dct_q5) &
(train fsq_dct_q2 && train fsq_dct_q4 && train fsq_dct_q6) &
wait
