#!/bin/bash
# A stage swapped for a program of one's own (examples/histfeat.py, the
# README's example): the other tools take its stream, and the provenance
# keeps its models apart from VGG16's features.
. "$(dirname "$0")/lib.sh"
plan 4

$PY - <<'PY'
import os, random
from PIL import Image
rng = random.Random(11)
for split, n in (("train", 8), ("test", 4)):
    for cls, base in (("red", (220, 40, 40)), ("blue", (40, 40, 220))):
        os.makedirs(f"{split}/{cls}", exist_ok=True)
        for i in range(n):
            c = tuple(max(0, min(255, v + rng.randint(-30, 30))) for v in base)
            Image.new("RGB", (24, 24), c).save(f"{split}/{cls}/{i}.png")
PY
hist="$SRC_DIR/examples/histfeat.py"
imgprep --size 32 --quiet train | $PY "$hist" > train.feat &&
	imgprep --size 32 --quiet test | $PY "$hist" > test.feat
ok $? "the stage writes feature streams"
topfit --hidden '' --epochs 60 --lr 0.05 --seed 1 --quiet -o hist.model < train.feat
ok $? "topfit trains on them"
is "$(topeval --model hist.model --format json < test.feat | jq .accuracy)" 1 \
	"topeval: red and blue histograms are told apart"
imgprep --size 32 --quiet test | vggfeat --init-random 1 --layer block1_pool --quiet |
	classify --model hist.model > /dev/null 2> err
[ $? -eq 1 ] && grep -q "provenance.backbone" err
ok $? "classify refuses VGG16 features for a histogram model, naming the key"
done_testing
