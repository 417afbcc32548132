#!/bin/bash
# The hostile-input matrix: bad inputs across every tool, each with the
# exit status and the words its message must carry. Usage errors exit 2,
# data errors 1; neither writes to stdout unless it says otherwise below.
. "$(dirname "$0")/lib.sh"

# Fixtures: a small image tree, its streams and a model, made by the tools.
$PY - <<'PY'
import os, struct, zlib
from PIL import Image
for c in "ab":
    os.makedirs(f"img/{c}", exist_ok=True)
    for i in range(3):
        Image.new("RGB", (40, 36), (i * 60, 200 if c == "a" else 20, 90)).save(f"img/{c}/{i}.png")
os.makedirs("bad", exist_ok=True)
open("bad/random.jpg", "wb").write(os.urandom(3000))
open("bad/zero.png", "wb").close()
open("bad/text.jpg", "w").write("not an image\n")
Image.new("RGB", (64, 64), (9, 9, 9)).save("bad/full.jpg", quality=95)
open("bad/truncated.jpg", "wb").write(open("bad/full.jpg", "rb").read()[:400])
os.unlink("bad/full.jpg")
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
open("bad/bomb.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                                 chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
PY
mkdir -p emptydir loopdir
ln -s l1 loopdir/l2 && ln -s l2 loopdir/l1
imgprep --size 32 --quiet img > ok.img
vggfeat --init-random 1 --layer block2_pool --quiet < ok.img > ok.feat
vggfeat --init-random 2 --layer block2_pool --quiet < ok.img > other.feat
topfit --epochs 2 --quiet < ok.feat > ok.model
head -c 200 ok.model > cut.model
: > empty

# Hand-made streams with one thing wrong each.
$PY - <<'PY'
import msgpack, struct
p = msgpack.Packer(use_bin_type=True).pack
def header(kind="features", **kw):
    return p(dict({"vggpipe": 1, "kind": kind, "provenance": {"backbone": "vgg16"}}, **kw))
def feat(i, data, shape=None, dtype="f32", label="a"):
    shape = shape if shape is not None else [len(data) // 4]
    return p({"id": f"r{i}", "label": label, "features": {"shape": shape, "dtype": dtype, "data": data}})
two = struct.pack("<2f", 1, 2)
files = {
    "notrailer.feat": header() + feat(1, two),
}
end = {
    "wrongdtype.feat": header() + feat(1, b"ab", shape=[2], dtype="u8"),
    "mismatch.feat": header() + feat(1, two, shape=[3]),
    "negdim.feat": header() + feat(1, two, shape=[2, -1]),
    "zerodim.feat": header() + feat(1, b"", shape=[0]),
    "hugedim.feat": header() + feat(1, two, shape=[1 << 24, 1 << 24, 1 << 24]),
    "nan.feat": header() + feat(1, two) + feat(2, struct.pack("<2f", float("nan"), 0), label="b"),
    "inf.feat": header() + feat(1, two) + feat(2, struct.pack("<2f", float("inf"), 0), label="b"),
    "oneclass.feat": header() + feat(1, two) + feat(2, two),
    "shapes.feat": header() + feat(1, two) + feat(2, struct.pack("<3f", 1, 2, 3), label="b"),
    "version2.feat": p({"vggpipe": 2, "kind": "features"}),
    "noprov.feat": p({"vggpipe": 1, "kind": "features"}) + feat(1, two) + feat(2, two, label="b"),
    "badcount.feat": header() + feat(1, two) + p({"end": 7}),
    "smallimage.img": p({"vggpipe": 1, "kind": "images", "size": [8, 8], "fit": "crop"}) +
        p({"id": "tiny", "image": {"shape": [8, 8, 3], "dtype": "u8", "data": bytes(192)}}),
    "f32image.img": p({"vggpipe": 1, "kind": "images", "size": [1, 1], "fit": "crop"}) +
        p({"id": "f", "image": {"shape": [1, 1, 3], "dtype": "f32", "data": bytes(12)}}),
}
claims = {
    "claim1": b"\xdd\xff\xff\xff\xff",
    "claim2": b"\xdd\x04\x00\x00\x00",
}
# A model of a few hundred bytes whose input alone claims 2^28 floats a
# record, pooled down to one: a reader must refuse it, not allocate it.
def tensor(shape):
    n = 1
    for d in shape:
        n *= d
    return {"shape": shape, "dtype": "f32", "data": bytes(4 * n)}
files["huge.model"] = p({"vggpipe": 1, "kind": "model", "classes": ["a", "b"],
                         "provenance": {"backbone": "vgg16"}, "input_shape": [16384, 16384, 1],
                         "layers": [{"type": "maxpool2x2"}] * 14 + [
                             {"type": "dense", "weights": tensor([1, 2]), "bias": tensor([2])},
                             {"type": "softmax"}]}) + p({"end": 0})
for name, data in files.items():
    open(name, "wb").write(data)
for name, data in claims.items():
    open(name, "wb").write(data)
# Each of these is complete, with a trailer that counts its records, so
# that the one thing wrong is the one that is tested.
for name, data in end.items():
    if name == "badcount.feat":
        open(name, "wb").write(data)
        continue
    n = sum(1 for o in msgpack.Unpacker(__import__("io").BytesIO(data), raw=False) if "id" in o)
    open(name, "wb").write(data + p({"end": n}))
PY

# Unlabelled features with the model's provenance but an unknown label.
vggdump --data ok.feat > /dev/null
$PY - <<'PY'
import msgpack
objs = list(msgpack.Unpacker(open("ok.feat", "rb"), raw=False))
p = msgpack.Packer(use_bin_type=True).pack
with open("unknown.feat", "wb") as f:
    f.write(p(objs[0]))
    rec = dict(objs[1]); rec["label"] = "zebra"
    f.write(p(rec))
    f.write(p({"end": 1}))
PY

# The matrix: status | words in stderr (grep -E) | what | command.
rows=$(cat <<'ROWS'
2|unrecognized option|imgprep: unknown option|imgprep --bogus img
2|unrecognized option|vggfeat: unknown option|vggfeat --bogus
2|unrecognized option|topfit: unknown option|topfit --bogus
2|unrecognized option|topeval: unknown option|topeval --bogus
2|unrecognized option|classify: unknown option|classify --bogus
2|unrecognized option|vggdump: unknown option|vggdump --bogus
2|--size|imgprep: a zero size|imgprep --size 0 img
2|--shard|imgprep: shard 4 of 3|imgprep --shard 4/3 img
2|--layer|vggfeat: no such layer|vggfeat --layer block6_pool --init-random 1
2|--batch|vggfeat: batch 0|vggfeat --batch 0 --init-random 1
2|--hidden|topfit: a hidden width that is no number|topfit --hidden 12,abc
2|--top|classify: a negative top|classify --model ok.model --top -1
2|--format|classify: an unknown format|classify --model ok.model --format xml
2|--format|topeval: an unknown format|topeval --model ok.model --format xml
2|model|classify: no model|classify
1|empty input|vggfeat: empty input|vggfeat --init-random 1 < empty
1|empty input|topfit: empty input|topfit < empty
1|empty input|classify: empty input|classify --model ok.model < empty
1|empty input|topeval: empty input|topeval --model ok.model < empty
1|empty input|vggdump: empty input|vggdump empty
1|without a trailer|topfit: a missing trailer|topfit < notrailer.feat
1|without a trailer|vggdump: a missing trailer|vggdump notrailer.feat
1|kind 'images'; expected 'features'|topfit: a stream of the wrong kind|topfit < ok.img
1|kind 'features'; expected 'images'|vggfeat: a stream of the wrong kind|vggfeat --init-random 1 < ok.feat
1|kind 'features'; expected 'model'|classify: features given as the model|classify --model ok.feat < ok.feat
1|dtype u8, expected f32|topfit: wrong dtype|topfit < wrongdtype.feat
1|dtype f32, expected u8|vggfeat: an f32 image|vggfeat --init-random 1 < f32image.img
1|data has 8 bytes|topfit: shape and data disagree|topfit < mismatch.feat
1|dimension 1 is negative|topfit: a negative dimension|topfit < negdim.feat
1|dimension 0 is 0|topfit: a zero dimension|topfit < zerodim.feat
1|shape overflows|topfit: enormous dimensions|topfit < hugedim.feat
1|record 2.*NaN|topfit: NaN in features|topfit < nan.feat
1|record 2.*infinite|topfit: infinity in features|topfit < inf.feat
1|at least two|topfit: one class|topfit < oneclass.feat
1|record 2.*different shape|topfit: records of different shapes|topfit < shapes.feat
1|version 2 is not supported|topfit: a future stream version|topfit < version2.feat
1|stdin: header: key 'provenance': missing|topfit: features without provenance|topfit < noprov.feat
1|huge.model: header: a record would take more than 256 MB|classify: a model claiming a huge record|classify --model huge.model < ok.feat
1|counts 7 records but the segment holds 1|topfit: a trailer that miscounts|topfit < badcount.feat
1|provenance|classify: features of another provenance|classify --model ok.model < other.feat
1|provenance|topeval: features of another provenance|topeval --model ok.model < other.feat
1|disagrees with the first: provenance|topfit: segments of different provenance|cat ok.feat other.feat \| topfit
1|zebra|topeval: a label the model does not know|topeval --model ok.model < unknown.feat
1|cut.model: truncated|classify: a model file cut short|classify --model cut.model < ok.feat
1|cut.model: truncated|topeval: a model file cut short|topeval --model cut.model < ok.feat
1|limit of 4194304 elements|topfit: an array claiming 4 G elements|topfit < claim1
1|limit of 4194304 elements|vggfeat: an array claiming 64 M elements|vggfeat --init-random 1 < claim2
1|record 1: image 8x8 is smaller than 32x32|vggfeat: an image smaller than 32x32|vggfeat --init-random 1 < smallimage.img
1|No such file|vggdump: a missing file|vggdump missing.feat
1|[Ii]s a directory|vggdump: a directory|vggdump img
ROWS
)
n=$(printf '%s\n' "$rows" | wc -l)
plan $((n + 21))

while IFS='|' read -r status words what cmd; do
	cmd=${cmd//\\|/|}
	bash -c "$cmd" < /dev/null > out 2> err
	rc=$?
	if [ "$rc" -eq "$status" ] && grep -Eq -- "$words" err; then
		if [ "$status" -eq 2 ] && [ -s out ]; then
			ok 1 "$what: exit $status, but stdout was written"
		else
			ok 0 "$what: exit $status, '$words'"
		fi
	else
		ok 1 "$what: exit $status, '$words'"
		echo "#   got status $rc; stderr:"; sed 's/^/#   /' err | head -3
	fi
done <<< "$rows"

# Truncation at every byte offset of a small valid stream but the very
# end, through the readers of features and of images.
$PY -c '
import msgpack, sys
objs = list(msgpack.Unpacker(open("ok.feat", "rb"), raw=False))
rec = objs[1]; rec["features"]["shape"] = [2]; rec["features"]["data"] = rec["features"]["data"][:8]
p = msgpack.Packer(use_bin_type=True).pack
sys.stdout.buffer.write(p(objs[0]) + p(rec) + p({"end": 1}))' > tiny.feat
size=$(stat -c %s tiny.feat) accepted=
for cut in $(seq 0 $((size - 1))); do
	head -c $cut tiny.feat | topfit --epochs 1 --quiet > /dev/null 2> err
	rc=$?
	{ [ $rc -eq 1 ] && grep -Eq "empty input|truncated|without a trailer" err; } || accepted+=" $cut"
done
is "$accepted" "" "topfit: a feature stream cut at any of its $size byte offsets is refused as cut short"
head -c 2000 ok.img > img.head
size=2000 accepted=
for cut in $(seq 0 7 $((size - 1))); do
	head -c $cut img.head | vggfeat --init-random 1 --layer block1_pool --quiet > /dev/null 2> err
	rc=$?
	{ [ $rc -eq 1 ] && grep -Eq "empty input|truncated|without a trailer" err; } || accepted+=" $cut"
done
is "$accepted" "" "vggfeat: an image stream cut at every 7th of its first 2000 bytes is refused as cut short"

# Images: a batch goes on past bad files, says which and why, exits 1.
cp img/a/0.png bad/good.png
ln -s l1 bad/l2; ln -s l2 bad/l1
imgprep --size 32 bad > bad.img 2> err
is $? 1 "imgprep: a batch with bad files exits 1"
is "$(vggdump bad.img | jq -r 'select(.record) | .record.id')" "bad/good.png" "every good image is delivered"
for f in random.jpg zero.png text.jpg truncated.jpg bomb.png l1; do
	grep -q "bad/$f" err
	ok $? "imgprep names the bad file $f"
done
grep -Eq "bomb.png.*(limit|pixels)" err
ok $? "a 100000x100000 header is refused by the pixel limit"
grep -Eq "l1: Too many levels of symbolic links" err
ok $? "a symlink loop is reported"
imgprep --size 32 --strict bad > /dev/null 2> err
[ $? -eq 1 ] && grep -q -- "--strict" err
ok $? "--strict stops at the first bad file"
imgprep --size 32 emptydir > out 2> err
[ $? -eq 1 ] && grep -Eqi "no image" err
ok $? "a directory with no images is an error"

# A file the user cannot read: run as an unprivileged user.
id vggpipe-test > /dev/null 2>&1 || useradd --system --no-create-home vggpipe-test
chmod 755 "$T"; mkdir -p locked; cp img/a/0.png locked/secret.png
chmod 600 locked/secret.png; chmod 755 locked
setpriv --reuid=vggpipe-test --regid=vggpipe-test --clear-groups \
	"$VGGPIPE_BIN/imgprep" --size 32 locked > /dev/null 2> err
[ $? -eq 1 ] && grep -q "secret.png.*Permission denied" err
ok $? "an unreadable image: exit 1, named, as an unprivileged user"
chmod 644 locked/secret.png; chmod 000 locked
setpriv --reuid=vggpipe-test --regid=vggpipe-test --clear-groups \
	"$VGGPIPE_BIN/topfit" "$T/locked/x.feat" > /dev/null 2> err
[ $? -eq 1 ] && grep -q "Permission denied" err
ok $? "an unreadable stream: exit 1, named, as an unprivileged user"
chmod 755 locked

# Output to a full disk, and a reader that goes away.
for cmd in "imgprep --size 32 img" "vggfeat --init-random 1 --layer block1_pool < ok.img" \
	   "classify --model ok.model < ok.feat"; do
	bash -c "$cmd > /dev/full" 2> err
	[ $? -eq 1 ] && grep -q "No space left on device" err
	ok $? "${cmd%% *}: a full disk is exit 1 with the reason"
done
for cmd in "imgprep --size 32 img" "vggfeat --init-random 1 --layer block1_pool < ok.img"; do
	bash -c "$cmd | head -c 1 > /dev/null" 2> err
	[ ! -s err ]
	ok $? "${cmd%% *}: a reader that goes away: a quiet exit"
done
done_testing
