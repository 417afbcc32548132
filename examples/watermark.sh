#!/bin/bash
# Where the model looks: a data set with a planted shortcut (every
# training square stamped "(c)" in a corner, examples/watermark.py), a top
# model trained on it, and topcam's maps of the test split drawn by
# vggplot: maps.png (every test image) and toploss.png (the worst
# mistakes). The pictures in README.md are this script's, made with random
# weights (--init-random 1) where no VGG16 weights are found.
#
#   examples/watermark.sh [WORKDIR]     (default build/watermark)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PATH="${VGGPIPE_BIN:-$here/../bin}:$PATH"
work=${1:-$here/../build/watermark}
mkdir -p "$work"
cd "$work"

. "$here/weights.sh"
[ "${weights_opt[0]}" = --weights ] ||
	echo "watermark: no VGG16 weights found: random weights (--init-random 1)" >&2

[ -d data ] || /usr/bin/python3 "$here/watermark.py" data
imgprep --quiet data/train | vggfeat "${weights_opt[@]}" --quiet -o train.feat
imgprep --quiet data/test | tee test.img | vggfeat "${weights_opt[@]}" --quiet -o test.feat
topfit --quiet --seed 1 -o top.model train.feat
topeval --model top.model test.feat
topcam --model top.model -o test.maps test.feat
vggplot maps --images test.img --maps test.maps --max 12 --columns 6 --tile 128 -o maps.png
vggplot toploss --images test.img --maps test.maps -n 6 --columns 6 --tile 128 \
	-o toploss.png
echo "watermark: pictures in $work: maps.png, toploss.png"
