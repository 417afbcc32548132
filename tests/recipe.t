#!/bin/bash
# examples/Makefile, the recipe users copy: a full run, nothing to do the
# second time, one touched photo re-extracts only its class, a new photo
# likewise, and a failing stage leaves no target behind; then fine-tuning,
# cached the same way.
. "$(dirname "$0")/lib.sh"
plan 16

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

# Random weights: fine-tuning them needs a far smaller step than the
# published weights' SGD at 1e-4 (see topfit(1)).
recipe() {
	make -f "$SRC_DIR/examples/Makefile" DATA=data OUT=out SIZE=32 \
		WEIGHTS_OPT='--init-random 1' VGGFEAT='vggfeat --init-random 1 --quiet' \
		TOPFIT_OPTS='--epochs 3 --seed 1' AUGMENT='--augment 2 --flip h --seed 1' \
		FINETUNE_OPTS='--epochs 2 --optimizer adam --lr 3e-6' "$@"
}
mtime() { stat -c %Y.%y "$1"; }

recipe -j 4 > make1.out 2>&1
ok $? "make -j 4 runs the whole recipe"
ls out/top.model out/report.txt out/predictions.csv out/curves.png out/confusion.png out/sheet.png > /dev/null
ok $? "model, report, predictions and pictures are there"
head -1 out/leaks.csv | grep -q '^query,neighbour,rank,similarity' && grep -q 'near copy' make1.out
ok $? "the leak check ran: its pairs in leaks.csv, its count on stderr"
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

recipe FOLDS=2 suspects > make8.out 2>&1 && ls out/oof.csv out/suspects.csv out/suspects.png > /dev/null &&
	[ "$(tail -n +2 out/oof.csv | wc -l)" = 12 ]
ok $? "make suspects: every training photo predicted out of fold, the doubtful ones drawn"

recipe -j 4 finetune > make6.out 2>&1
ok $? "make finetune: block 5 tuned with the top"
ls out/tuned.model out/tuned-report.txt out/tuned-predictions.csv >/dev/null &&
	[ "$(vggdump out/block4/train/red.feat | grep -c '"copy"')" = 8 ] &&
	[ "$(vggdump out/block4/valid/red.feat | grep -c '"copy"')" = 0 ]
ok $? "the tuned model, its report and predictions; two copies of each training photo"
recipe -q finetune
ok $? "a second make finetune has nothing to do"
before_red=$(mtime out/block4/train/red.feat) before_blue=$(mtime out/block4/train/blue.feat)
sleep 1.1
touch data/train/red/1.png
recipe finetune > make7.out 2>&1
[ "$(mtime out/block4/train/red.feat)" != "$before_red" ] &&
	[ "$(mtime out/block4/train/blue.feat)" = "$before_blue" ]
ok $? "a touched training photo re-extracts its class's copies, no other"
recipe -q finetune
ok $? "... and the tuned model follows"
done_testing
