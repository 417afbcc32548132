#!/bin/bash
# Nothing lost: a tool killed with SIGKILL half way through an -o write, or
# failing, leaves the previous file as it was and no partial file beside
# it (O_TMPFILE leaves none at all).
. "$(dirname "$0")/lib.sh"
plan 8

$PY - <<'PY'
import os
from PIL import Image
for c in ("a", "b"):
    os.makedirs(f"img/{c}", exist_ok=True)
    for i in range(4):
        Image.new("RGB", (40, 36), (60 * i, 200 if c == "a" else 20, 90)).save(f"img/{c}/{i}.png")
PY
imgprep --size 32 --quiet img > s.img
vggfeat --init-random 1 --layer block2_pool --quiet < s.img > s.feat
mkdir out
echo "previous features" > out/train.feat
echo "previous model" > out/top.model

# vggfeat: its input stops half way and stays open, so it is surely
# mid-run when it is killed.
half=$(( $(stat -c %s s.img) / 2 ))
mkfifo stall
vggfeat --init-random 1 --quiet -o out/train.feat < stall &
pid=$!
exec 3> stall
head -c $half s.img >&3
sleep 2
kill -KILL $pid
wait $pid 2>/dev/null
exec 3>&-
is "$(cat out/train.feat)" "previous features" "vggfeat killed mid-run: the previous file is intact"
is "$(ls -A out | tr '\n' ' ')" "top.model train.feat " "and nothing else is left in the directory"

# topfit: killed during a long training.
topfit --epochs 100000 --quiet -o out/top.model < s.feat &
pid=$!
sleep 2
kill -KILL $pid
wait $pid 2>/dev/null
is "$(cat out/top.model)" "previous model" "topfit killed mid-training: the previous model is intact"
is "$(ls -A out | tr '\n' ' ')" "top.model train.feat " "and nothing else is left in the directory"

# Failing runs: bad input part way through.
head -c $(( $(stat -c %s s.img) - 10 )) s.img | vggfeat --init-random 1 --quiet -o out/train.feat 2> err
[ $? -eq 1 ] && [ "$(cat out/train.feat)" = "previous features" ]
ok $? "vggfeat failing on a truncated stream keeps the previous file"
head -c $(( $(stat -c %s s.feat) - 10 )) s.feat | topfit --epochs 1 --quiet -o out/top.model 2> err
[ $? -eq 1 ] && [ "$(cat out/top.model)" = "previous model" ]
ok $? "topfit failing on a truncated stream keeps the previous model"
is "$(ls -A out | tr '\n' ' ')" "top.model train.feat " "failures leave nothing beside the targets"

# And a complete run replaces the file.
vggfeat --init-random 1 --layer block2_pool --quiet -o out/train.feat < s.img && cmp -s out/train.feat s.feat
ok $? "a complete run replaces the file with the whole output"
done_testing
