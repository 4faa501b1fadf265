#!/usr/bin/env bash
# The block-DCT codec family in one command: the base (from its JPEG-like initialisation),
# then the six qualities fine-tuned from it, two qualities at a time. Seed 0; logs in
# experiments/results/codecs/, weights into keras_fsq/weights/ (what ships).
#   bash experiments/train_dct_family.sh ../shared/data
# Extra arguments go to every experiments/train_codecs.py run, e.g. a smoke test into a
# scratch folder (what tests/test_experiments.py runs):
#   bash experiments/train_dct_family.sh ../shared/data --steps-per-epoch 2 --out-dir /tmp/family
# On a GPU machine (a CUDA build of PyTorch), the same command trains there; on CPU each run
# keeps to one thread so two run side by side. $PYTHON picks the interpreter (default: python);
# $TABLE_PHOTOS counts the coding tables on that many photos only (the smoke test's 4).
set -eu
cd "$(dirname "$0")/.."
data_dir=${1:-../shared/data}
shift || true
export KERAS_BACKEND=${KERAS_BACKEND:-torch} OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
train() { "${PYTHON:-python}" experiments/train_codecs.py --preset "$1" --seed 0 --data-dir "$data_dir" "${@:2}"; }
base=keras_fsq/weights/fsq_dct_base.npz
for argument in "$@"; do [ "${previous:-}" = --out-dir ] && base="$argument/fsq_dct_base.npz"; previous=$argument; done
[ -f "$base" ] || train fsq_dct_base "$@"
(train fsq_dct_q1 "$@" && train fsq_dct_q3 "$@" && train fsq_dct_q5 "$@") &
odd=$!
(train fsq_dct_q2 "$@" && train fsq_dct_q4 "$@" && train fsq_dct_q6 "$@") &
even=$!
wait "$odd" && wait "$even"  # either half failing fails the command
# the coding tables of the new weights, counted on the training photos
out_dir=$(dirname "$base")
if [ "$out_dir" = keras_fsq/weights ]; then where=(); else where=(--weights-dir "$out_dir" --out-dir "$out_dir"); fi
[ -n "${TABLE_PHOTOS:-}" ] && where+=(--photos "$TABLE_PHOTOS")
"${PYTHON:-python}" experiments/fit_codec_priors.py --data-dir "$data_dir" "${where[@]}"
