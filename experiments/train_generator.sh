#!/usr/bin/env bash
# The shipped generator in one command: its tokenizer (fsq_cifar10's model and recipe) trained on
# the 48,915 CIFAR-10 JPEGs of shared-cifar10-jpeg50k (the JPEGs of the 1,085 held-out lossless
# images left out, those images held out), shipped as fsq_cifar10's weights when trained in full,
# then the MaskGIT (maskgit_cifar10's model and recipe) over its tokens. Seed 0; both stages
# checkpoint every epoch, and running the command again continues where it stopped.
#   bash experiments/train_generator.sh ../shared/data
# A smoke test (what tests/test_experiments.py runs) trains into a scratch folder instead of
# shipping: OUT=/tmp/generator LIMIT=64 EPOCHS=1 bash experiments/train_generator.sh ../shared/data
# On a GPU machine (a CUDA build of PyTorch), the same command trains there; on CPU it keeps to
# one thread. $PYTHON picks the interpreter (default: python).
set -eu
cd "$(dirname "$0")/.."
data_dir=${1:-../shared/data}
export KERAS_BACKEND=${KERAS_BACKEND:-torch} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export TF_NUM_INTRAOP_THREADS=${TF_NUM_INTRAOP_THREADS:-1} TF_NUM_INTEROP_THREADS=${TF_NUM_INTEROP_THREADS:-1}
python=${PYTHON:-python}
out=${OUT:-runs/generator}
size=()
[ -n "${LIMIT:-}" ] && size+=(--limit "$LIMIT")
maskgit_epochs=()  # the preset's recipe; the tokenizer trains 12 epochs of the 50k images (its recipe's 30 are for 4,000)
[ -n "${EPOCHS:-}" ] && maskgit_epochs=(--epochs "$EPOCHS")
tokenizer=$out/tokenizer
if [ ! -f "$tokenizer/model.keras" ] || [ -f "$tokenizer/checkpoint/latest.json" ]; then
  resume=()
  [ -f "$tokenizer/checkpoint/latest.json" ] && resume=(--resume)
  "$python" -m keras_fsq.cli train --preset fsq_cifar10 --data shared-cifar10-jpeg50k --data-dir "$data_dir" \
    --seed 0 --epochs "${EPOCHS:-12}" --out "$tokenizer" "${size[@]}" "${resume[@]}"
fi
if [ -z "${OUT:-}" ]; then  # the full run ships: the tokenizer's weights, then the MaskGIT's over its tokens
  "$python" experiments/train_presets.py --preset fsq_cifar10 --from-model "$tokenizer/model.keras" \
    --data-dir "$data_dir"
  where=()
else
  where=(--tokenizer "$tokenizer/model.keras" --out "$out/maskgit.keras" --checkpoint "$out/maskgit-checkpoint")
fi
checkpoint=experiments/checkpoints/maskgit_cifar10
[ -n "${OUT:-}" ] && checkpoint=$out/maskgit-checkpoint
resume=()
[ -f "$checkpoint/latest.json" ] && resume=(--resume)
"$python" experiments/train_maskgit.py --preset maskgit_cifar10 --data shared-cifar10-jpeg50k --seed 0 \
  --data-dir "$data_dir" "${where[@]}" "${size[@]}" "${maskgit_epochs[@]}" "${resume[@]}"
