#!/bin/bash
# Fine-tuning on a small image set with random VGG16 weights, in the
# current folder: scikit-learn's digits as 32x32 images, 100 for training
# in 8 augmented copies each and 400 for validation; a frozen top on
# block5_pool features, then block 5 tuned with it on block4_pool ones.
# Prints the validation accuracy of both; leaves every file it made
# (train.4, valid.4, train.5, valid.5, aug.4, top.model, tuned.model,
# tuned.tsv) for a caller to look at. tests/finetune.t and make bench run
# it; PATH must hold the programs.
#
#   finetune-digits.sh [MODE]
#
# MODE is how block 5 is tuned: "defaults" as README says (the rate
# found, the best epoch kept, the start included), or "adam", the tuned
# case: Adam at 3e-6, stopped after 10 epochs without a lower validation
# loss; or "data": the features and the frozen top only, no tuning (its
# accuracy printed alone).
set -eu
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-defaults}
case "$mode" in
data | defaults) tune= ;;
adam) tune="--optimizer adam --lr 3e-6 --patience 10 --epochs 30" ;;
*) echo "usage: finetune-digits.sh [defaults|adam|data]" >&2; exit 2 ;;
esac
"$PY" "$here/digits.py" . 100 400
V="vggfeat --quiet --init-random 1"
for s in train valid; do
	imgprep --quiet --size 32 $s | $V --layer block4_pool -o $s.4
	imgprep --quiet --size 32 $s | $V -o $s.5
done
imgprep --quiet --size 32 --augment 8 --zoom 0.15 --rotation 15 --shift-x 0.1 --shift-y 0.1 \
	--seed 1 train | $V --layer block4_pool -o aug.4
topfit --quiet --valid valid.5 --epochs 40 -o top.model train.5
accuracy() {
	topeval -q -m "$1" -f json "$2" |
		"$PY" -c "import json,sys; print('%.4f' % json.load(sys.stdin)['accuracy'])"
}
if [ "$mode" = data ]; then
	accuracy top.model valid.5
	exit
fi
# shellcheck disable=SC2086
topfit --quiet --finetune block5 --init top.model --init-random 1 $tune \
	--valid valid.4 --history tuned.tsv -o tuned.model aug.4
echo "$(accuracy top.model valid.5) $(accuracy tuned.model valid.4)"
