#!/bin/bash
# topcam: Grad-CAM maps of the top model from the cached features, against
# PyTorch autograd in float64 (tests/cam_ref.py) for a dense top with
# standardisation, hidden layers and batch normalisation, for softmax
# regression and for a model tuned with block 5; maps that find planted
# evidence; the maps stream; vggplot's pictures of them; bad input.
. "$(dirname "$0")/lib.sh"
plan 25

REF="$PY $TESTS_DIR/cam_ref.py"

# within WORST LIMIT: ok when WORST <= LIMIT.
within() { $PY -c "import sys; sys.exit(not float(sys.argv[1]) <= float(sys.argv[2]))" "$1" "$2"; }

# Planted evidence: [7, 7, 16] maps of noise in which a record's class is
# said by one cell at a random place. Trained with topfit's defaults.
$REF planted train.feat 2000 1 && $REF planted test.feat 300 2 || exit 1
topfit --quiet -o top.model train.feat
run topcam -m top.model test.feat -o test.maps
is "$rc|$(cat "$T/err")" "0|" "topcam on the defaults' model: status 0, no message"
read -r hits total < <($REF peaks test.maps test.feat.cells)
echo "# planted evidence: the map peaks on the planted cell for $hits of $total correctly classified records"
[ "$total" -ge 100 ] && [ $((hits * 100)) -ge $((total * 95)) ]
ok $? "the map peaks on the planted cell for at least 95% of the records classified right ($hits of $total)"

# Every map against autograd, relative to the map's largest value, and
# the probabilities. A dense top computes in float32 what the reference
# does in float64: both within 1e-5. Block 5's convolutions sum 4608
# products in float32, and a map weighs 512 channels that cancel: there the
# float64 maps and probabilities move as far when the features move by a
# relative 1e-6 (the spread), and each is held to the larger of 1e-5 and
# twice its spread; with Winograd, to the accuracy vggfeat(1) gives for it,
# 1e-3 of the largest value.
compare() { # compare DESCRIPTION MAP_LIMIT PROB_LIMIT MODEL FEATURES MAPS [label|CLASS]
	_d=$1 _limit=$2 _plimit=$3; shift 3
	read -r worst spread prob pspread n < <($REF compare "$@" 2>"$T/cmp-err")
	[ "$_limit" = spread ] && _limit=$($PY -c "print(max(1e-5, 2 * ${spread:-0}))")
	[ "$_plimit" = spread ] && _plimit=$($PY -c "print(max(1e-5, 2 * ${pspread:-0}))")
	echo "# $_d: worst difference $worst of the largest value (float64's spread $spread), probabilities $prob (spread $pspread), over ${n:-0} maps"
	[ -n "${n:-}" ] && [ "$n" -gt 0 ] && within "$worst" "$_limit" && within "$prob" "$_plimit"
	ok $? "$_d: every map within $_limit of PyTorch's float64 autograd, probabilities within $_plimit"
	[ -s "$T/cmp-err" ] && sed 's/^/#   /' "$T/cmp-err" | tail -3
	return 0
}
compare "dense top, standardised, the defaults" 1e-5 1e-5 top.model test.feat test.maps
topfit --quiet --hidden 32,16 --batchnorm --epochs 10 -o bn.model train.feat
topcam -m bn.model test.feat >bn.maps
compare "two hidden layers with batch normalisation" 1e-5 1e-5 bn.model test.feat bn.maps
topfit --quiet --hidden '' --epochs 10 -o lr.model train.feat
topcam -m lr.model test.feat >lr.maps
compare "softmax regression" 1e-5 1e-5 lr.model test.feat lr.maps
topcam -m top.model --label test.feat >label.maps
compare "--label: each record's own class" 1e-5 1e-5 top.model test.feat label.maps label
topcam -m top.model --class c1 test.feat >c1.maps
compare "--class c1" 1e-5 1e-5 top.model test.feat c1.maps c1
is "$(topcam -m top.model --threads 1 test.feat | cmp - test.maps && echo same)" same \
	"the same maps on one thread"

# The stream.
vggdump test.maps >dump.json
$PY - dump.json <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
h = lines[0]["header"]
assert h["kind"] == "maps" and h["classes"] == ["c0", "c1", "c2"], h
assert h["explained"] == "predicted" and h["provenance"]["backbone"] == "planted", h
r = lines[1]["record"]
assert set(r) == {"id", "label", "class", "class_probability", "predicted", "probability",
                  "loss", "map"}, r
assert r["map"]["shape"] == [7, 7] and 0 <= r["map"]["min"] and r["map"]["max"] <= 1, r
assert lines[-1]["trailer"]["end"] == 300 and len(lines) == 302
EOF
ok $? "a maps stream: the header's kind, classes and what is explained; each record's keys and [7, 7] map in 0..1"
$PY - test.feat unlabelled.feat <<'EOF'
import sys, msgpack
objs = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False))
with open(sys.argv[2], "wb") as f:
    for o in objs[:11] + [objs[-1]]:
        o.pop("label", None)
        if "end" in o:
            o["end"] = 10
        f.write(msgpack.packb(o, use_bin_type=True))
EOF
topcam -m top.model unlabelled.feat -o u.maps
is "$(vggdump u.maps | jq -r 'select(.record) | .record | has("label") or has("loss")' | sort -u)" \
	"false" "unlabelled features: maps without label or loss"

# vggplot: the maps over the images. Grey 224x224 images with the test
# records' ids, so that a map's colour is all there is to see.
$PY - test.feat.cells test.img <<'EOF'
import sys, msgpack
p = msgpack.Packer(use_bin_type=True).pack
ids = [l.split()[0] for l in open(sys.argv[1])]
with open(sys.argv[2], "wb") as f:
    f.write(p({"vggpipe": 1, "kind": "images", "size": [224, 224], "fit": "crop",
               "classes": []}))
    for rid in ids:
        f.write(p({"id": rid, "image": {"shape": [224, 224, 3], "dtype": "u8",
                                        "data": bytes([128]) * (224 * 224 * 3)}}))
    f.write(p({"end": len(ids)}))
EOF
run vggplot maps --images test.img --maps test.maps --max 16 --columns 4 --each each -o maps.png
is "$rc|$(cat "$T/err")|$(ls each | wc -l)" "0||300" "vggplot maps: a sheet, and one PNG per image with --each"
$PY - maps.png each test.maps test.feat.cells <<'EOF'
import os, sys, msgpack
from PIL import Image
sheet, each, maps, cells = sys.argv[1:]
# 16 tiles of 160 in 4 columns, two caption lines each (prediction, truth).
assert Image.open(sheet).size == (4 * 172, 4 * (160 + 40 + 12)), Image.open(sheet).size
recs = [o for o in msgpack.Unpacker(open(maps, "rb"), raw=False) if "id" in o]
cell = {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in open(cells)}
files = sorted(os.listdir(each))
hits = right = 0
for name, rec in zip(files, recs):
    im = Image.open(os.path.join(each, name)).convert("RGB")
    assert im.size == (224, 224 + 40), (name, im.size)
    assert name.endswith(rec["id"] + ".png"), (name, rec["id"])
    if rec["predicted"] != rec["label"]:
        continue
    # The hottest place is the yellowest: viridis ends in yellow, the
    # image is grey.
    px = im.load()
    best = max(((px[x, y][0] + px[x, y][1] - 2 * px[x, y][2], x, y)
                for y in range(0, 224, 2) for x in range(0, 224, 2)))
    right += 1
    hits += (best[2] // 32, best[1] // 32) == cell[rec["id"]]
print("# the hot region lands on the planted cell in %d of %d pictures" % (hits, right))
sys.exit(hits < 0.95 * right)
EOF
ok $? "each picture: the image's size with its caption, the hot region on the planted cell"
run vggplot toploss --images test.img --maps label.maps -n 6 -o top.png
cut -f1,2 "$T/out" >listed
$PY - label.maps listed <<'EOF'
import sys, msgpack
recs = [o for o in msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False) if "id" in o]
want = sorted(recs, key=lambda r: -r["loss"])[:6]
got = [l.split("\t") for l in open(sys.argv[2])]
assert [g[1].strip() for g in got] == [r["id"] for r in want], (got, want)
assert all(abs(float(g[0]) - r["loss"]) < 1e-4 * max(1, r["loss"]) for g, r in zip(got, want))
assert want[0]["predicted"] != want[0]["label"]
EOF
ok $? "vggplot toploss: the records of highest loss, most confidently wrong first"
$PY - label.maps <<'EOF'
import sys, msgpack
from PIL import Image
recs = [o for o in msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False) if "id" in o]
top = sorted(recs, key=lambda r: -r["loss"])[:6]
# Prediction, truth, loss, and the class of the map when it is not the
# prediction's.
lines = max(3 + (r["class"] != r["predicted"]) for r in top)
sys.exit(Image.open("top.png").size != (3 * 172, 2 * (160 + 6 + 17 * lines + 12)))
EOF
ok $? "... drawn six to a sheet, each with prediction, truth, loss and the map's class"
run vggplot toploss --images test.img --maps u.maps -o x.png
is "$rc|$(cat "$T/err")" "1|vggplot: u.maps: no record has a loss: the features need labels the model knows" \
	"toploss without labels says what it needs"

# A model tuned with block 5: the maps lie on block5_conv3's output, before
# the pool, twice as fine as block5_pool's.
$PY - <<'EOF'
import os
import numpy as np
from PIL import Image
rng = np.random.default_rng(4)
for c, colour in (("warm", (220, 90, 40)), ("cool", (40, 90, 220))):
    os.makedirs(f"photos/{c}")
    for i in range(12):
        a = rng.integers(0, 60, (64, 64, 3)).astype(np.uint8)
        y, x = rng.integers(8, 48, size=2)
        a[y:y + 14, x:x + 14] = colour
        Image.fromarray(a).save(f"photos/{c}/{i}.png")
EOF
imgprep --size 64 --quiet photos >photos.img
vggfeat --init-random 1 --quiet --layer block4_pool <photos.img >p4.feat
vggfeat --init-random 1 --quiet <photos.img >p5.feat
topfit --quiet --epochs 20 -o top5.model p5.feat
topfit --quiet --finetune block5 --init top5.model --init-random 1 --epochs 2 -o tuned.model p4.feat
run topcam -m tuned.model p4.feat -o tuned.maps
is "$rc|$(vggdump tuned.maps | jq -c 'select(.header) | .header.layer'),$(vggdump tuned.maps | jq -c 'select(.record) | .record.map.shape' | sort -u)" \
	'0|"block5_conv3",[4,4]' "a tuned model: maps of block5_conv3, 4x4 where block5_pool is 2x2"
compare "a tuned model (block 5 and the top, the default Winograd)" 1e-3 1e-3 \
	tuned.model p4.feat tuned.maps
topcam -m tuned.model --algo im2col p4.feat >tuned-im2col.maps
compare "the tuned model with --algo im2col" spread spread tuned.model p4.feat tuned-im2col.maps
run vggplot maps --images photos.img --maps tuned.maps -o photos.png
is "$rc|$(cat "$T/err")" "0|" "vggplot maps over real images"

# Refused with a message, nothing written.
vggfeat --init-random 1 --quiet --pool avg <photos.img >pooled.feat
topfit --quiet --epochs 2 -o pooled.model pooled.feat
fails() { # fails STATUS MESSAGE DESCRIPTION CMD...
	_st=$1 _msg=$2 _d=$3; shift 3
	run "$@"
	is "$rc|$(wc -c <"$T/out")|$(head -1 "$T/err")" "$_st|0|$_msg" "$_d"
}
fails 1 "topcam: pooled.model: the model reads features without a spatial shape (pooled by vggfeat --pool): there is no map to show" \
	"a model of pooled features: no map" topcam -m pooled.model pooled.feat
fails 1 "topcam: p5.feat: these features were not made like the model's (\"here\" is the features, \"before\" the model): provenance.backbone: \"vgg16\" here, \"planted\" before" \
	"features made otherwise than the model's" topcam -m top.model p5.feat
fails 2 "topcam: --class: the model has no class 'c9'" "a class the model does not have" \
	topcam -m top.model --class c9 test.feat
fails 1 "topcam: unlabelled.feat: record 1: --label explains a record's label, and it has none" \
	"--label on records without one" topcam -m top.model --label unlabelled.feat
fails 2 "topcam: --label and --class exclude each other" "--label with --class" \
	topcam -m top.model --label --class c1 test.feat
fails 2 "topcam: --model FILE is required" "no model" topcam test.feat

done_testing
