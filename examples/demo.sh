#!/bin/bash
# The demo: the whole pipeline on the bundled example dataset.
#
#   examples/demo.sh [WORKDIR]     (make demo runs it into build/demo)
#
# Generates the shape photos, extracts VGG16 features, trains the top model,
# evaluates it on the test split, classifies the test photos and shows
# where the model looked in them. With the
# real Keras weights present (--weights, $VGGPIPE_WEIGHTS or Keras' cache)
# it uses them; without, it says so loudly and runs on random weights so
# that the pipeline still shows its shape.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${VGGPIPE_BIN:-$here/../bin}
work=${1:-$here/../build/demo}
PATH="$bin:$PATH"
mkdir -p "$work"
cd "$work"

. "$here/weights.sh"
if [ "${weights_opt[0]}" = --weights ]; then
	echo "demo: using the VGG16 weights in $weights"
else
	cat >&2 <<MSG

  ######################################################################
  #  NO VGG16 WEIGHTS FOUND: this demo runs on RANDOM weights.          #
  #  The numbers below show the pipeline's shape, NOT a real result.    #
  #                                                                    #
  #  Get the real weights (58,889,256 bytes) with:   make weights      #
  #  or download by hand                                               #
  #    https://storage.googleapis.com/tensorflow/keras-applications/   #
  #    vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5         #
  #  (md5 6d6bbae143d832006294945121d1f1fc) into ~/.keras/models/      #
  #  or point VGGPIPE_WEIGHTS at it, then run make demo again.         #
  ######################################################################

MSG
fi

if [ ! -d data ]; then
	echo "demo: generating the example photos in $work/data"
	/usr/bin/python3 "$here/make-dataset.py" data
fi

size=150x150
for split in train valid; do
	echo "demo: $split: imgprep | vggfeat"
	imgprep --size "$size" "data/$split" | vggfeat "${weights_opt[@]}" -o "$split.feat"
done
# The test images are kept (tee) for the contact sheet.
echo "demo: test: imgprep | tee test.img | vggfeat"
imgprep --size "$size" data/test | tee test.img | vggfeat "${weights_opt[@]}" -o test.feat

echo "demo: training the top model"
topfit --valid valid.feat --epochs 30 --seed 1 --history history.tsv -o top.model < train.feat

echo
echo "demo: evaluation on the test split"
topeval --model top.model < test.feat | tee report.txt

echo
echo "demo: predictions (first 8 of predictions.csv)"
classify --model top.model < test.feat > predictions.csv
head -9 predictions.csv

echo
echo "demo: pictures: curves.png, confusion.png, sheet.png, maps.png"
topeval --model top.model --format json < test.feat > report.json
vggplot curves history.tsv -o curves.png
vggplot confusion report.json -o confusion.png
vggplot sheet --images test.img --predictions predictions.csv -o sheet.png
topcam --model top.model < test.feat > test.maps
vggplot maps --images test.img --maps test.maps -o maps.png

if [ "${weights_opt[0]}" = --init-random ]; then
	echo
	echo "demo: REMINDER: random weights, so the accuracy above means nothing." >&2
fi
echo "demo: outputs in $work"
