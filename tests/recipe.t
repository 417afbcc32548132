#!/bin/bash
# examples/Makefile, the recipe users copy: a full run, nothing to do the
# second time, one touched photo re-extracts only its class, a new photo
# likewise, and a failing stage leaves no target behind.
. "$(dirname "$0")/lib.sh"
plan 9

$PY - <<'PY'
import os, random
from PIL import Image
rng = random.Random(3)
for split, n in (("train", 4), ("valid", 2), ("test", 2)):
    for cls in ("red", "green", "blue"):
        os.makedirs(f"data/{split}/{cls}", exist_ok=True)
        for i in range(n):
            c = [rng.randrange(60) for _ in range(3)]
            c[("red", "green", "blue").index(cls)] = 200 + rng.randrange(55)
            Image.new("RGB", (40, 36), tuple(c)).save(f"data/{split}/{cls}/{i}.png")
PY

recipe() {
	make -f "$SRC_DIR/examples/Makefile" DATA=data OUT=out SIZE=32 \
		VGGFEAT='vggfeat --init-random 1 --layer block2_pool --quiet' \
		TOPFIT_OPTS='--epochs 3 --seed 1' "$@"
}
mtime() { stat -c %Y.%y "$1"; }

recipe -j 4 > make1.out 2>&1
ok $? "make -j 4 runs the whole recipe"
ls out/top.model out/report.txt out/predictions.csv out/curves.png out/confusion.png out/sheet.png > /dev/null
ok $? "model, report, predictions and pictures are there"
recipe -q
ok $? "a second make has nothing to do"

before_red=$(mtime out/train/red.feat) before_green=$(mtime out/train/green.feat)
before_model=$(mtime out/top.model)
sleep 1.1
touch data/train/red/0.png
recipe > make2.out 2>&1
[ "$(mtime out/train/red.feat)" != "$before_red" ]
ok $? "touching a photo re-extracts its class"
[ "$(mtime out/train/green.feat)" = "$before_green" ]
ok $? "and no other class"
[ "$(mtime out/top.model)" != "$before_model" ]
ok $? "and retrains the model"

before_blue=$(mtime out/test/blue.feat)
sleep 1.1
cp data/test/blue/0.png data/test/blue/new.png
recipe > make3.out 2>&1 && [ "$(mtime out/test/blue.feat)" != "$before_blue" ] \
	&& [ "$(vggdump out/test/blue.feat | grep -c '"record"')" = 3 ]
ok $? "a new photo re-extracts its class with the photo in it"

sleep 1.1
touch data/valid/green/0.png
recipe VGGFEAT=false > make4.out 2>&1
failed=$?
recipe -q
stale=$?
[ $failed -ne 0 ] && [ $stale -ne 0 ]
ok $? "a failing stage fails make and leaves nothing that passes for up to date"
recipe > make5.out 2>&1 && recipe -q
ok $? "the next make repairs it"
done_testing
