#!/bin/bash
# vggfeat: options, the features stream it writes, and bad input. Seeded
# random weights keep it fast; tests/vggfeat-ref.t checks the numbers.
. "$(dirname "$0")/lib.sh"
plan 47

ref() { "$PY" "$TESTS_DIR/vggfeat_ref.py" "$@"; }
chk() { "$PY" "$TESTS_DIR/vggfeat_check.py" "$@"; }
# A stream from Python literals: header, then records, trailer added.
stream() { # OUT HEADER RECORD...
	"$PY" - "$@" <<'PY'
import sys, msgpack, numpy as np
out, header, *records = sys.argv[1:]
with open(out, "wb") as f:
    f.write(msgpack.packb(eval(header)))
    for r in records:
        f.write(msgpack.packb(eval(r, {"np": np, "img": lambda h, w: {
            "shape": [h, w, 3], "dtype": "u8",
            "data": (np.arange(h * w * 3) % 251).astype(np.uint8).tobytes()}})))
    f.write(msgpack.packb({"end": len(records)}))
PY
}
usage_fails() { # DESCRIPTION WORDS ARGS...
	_d=$1 _w=$2; shift 2
	run vggfeat "$@" </dev/null
	if [ "$rc" -eq 2 ] && [ ! -s out ] && grep -Eq -- "$_w" err; then ok 0 "$_d"; else
		ok 1 "$_d"; echo "#   status $rc, stdout $(wc -c <out) bytes"; sed 's/^/#   /' err; fi
}

run vggfeat --help
ok $(( rc != 0 )) "--help exits 0"
grep -q -- "--init-random SEED" out; ok $? "--help lists the options"
grep -q -- "--algo ALGO" out; ok $? "--help lists --algo"
run vggfeat --version
grep -q "^vggfeat (vggpipe) " out; ok $? "--version"
usage_fails "an unknown option is a usage error" "unrecognized|invalid" --frobnicate
usage_fails "--layer names a pool layer" "--layer: 'block6_pool'" --layer block6_pool
usage_fails "--pool is none, avg or max" "--pool" --pool mean
usage_fails "--preprocess is caffe, torch or rescale" "--preprocess" --preprocess vgg
usage_fails "--batch is at least 1" "--batch" --batch 0
usage_fails "--threads is a number" "--threads" --threads many
usage_fails "--algo is im2col, winograd or auto" "--algo: 'fft' is not one of: im2col, winograd, auto" \
	--algo fft
usage_fails "--init-random is a number" "--init-random" --init-random x
usage_fails "--weights and --init-random exclude each other" "exclude" \
	--weights w.h5 --init-random 1
usage_fails "images come on stdin, not as arguments" "standard input" img.mp

ref images img.mp 64x48 64x48 48x64 64x48 64x48 || exit 1
run vggfeat --init-random 7 <img.mp
ok "$rc" "features of a small stream"
cp out feat.mp
is "$(chk header feat.mp vggpipe kind provenance.backbone provenance.weights \
	provenance.layer provenance.pooling provenance.preprocess provenance.size \
	provenance.fit classes weights_file | tr '\n' ' ')" \
	'1 "features" "vgg16" "random:7" "block5_pool" "none" "caffe" [64, 48] "crop" ["cat", "dog"] null ' \
	"the header: provenance, classes copied, no weights file for random weights"
is "$(chk shapes feat.mp | tr '\n' ' ')" \
	"img0.jpg cat f32 1x2x512 img1.jpg dog f32 1x2x512 img2.jpg cat f32 2x1x512 img3.jpg dog f32 1x2x512 img4.jpg cat f32 1x2x512 " \
	"records keep id and label; features are [h, w, 512], images of several sizes"
check "vggdump reads the stream" vggdump feat.mp

vggfeat --init-random 7 <img.mp >again.mp
check "the same input gives the same bytes" cmp feat.mp again.mp

# The provenance says what the features are, not how they were computed:
# features of either algorithm go together.
vggfeat --init-random 7 --algo im2col <img.mp >im2col.mp
vggfeat --init-random 7 --algo winograd --layer block5_pool <img.mp >winograd.mp
is "$(chk header im2col.mp provenance weights_file classes)" \
	"$(chk header feat.mp provenance weights_file classes)" \
	"the provenance of --algo im2col is the default's"
is "$(chk header winograd.mp provenance weights_file classes)" \
	"$(chk header feat.mp provenance weights_file classes)" \
	"the provenance of --algo winograd is the default's"

vggfeat --init-random 7 --batch 3 --threads 1 <img.mp >b3.mp
bound=$(chk close feat.mp b3.mp)
echo "# batch 3 on one thread vs batch 1 on all: max |diff| / max = $bound"
"$PY" -c "import sys; sys.exit(not $bound <= 1e-5)"
ok $? "features do not depend on the batch or the threads (within 1e-5)"

vggfeat --init-random 7 --layer block3_pool --pool avg <img.mp >avg.mp
is "$(chk shapes avg.mp | sed -n 1p)" "img0.jpg cat f32 256" "--layer block3_pool --pool avg gives [256]"
is "$(chk header avg.mp provenance.layer provenance.pooling | tr '\n' ' ')" \
	'"block3_pool" "avg" ' "the header says layer and pooling"
vggfeat --init-random 7 --layer block1_pool --pool max --preprocess torch <img.mp >max.mp
is "$(chk shapes max.mp | sed -n 1p)" "img0.jpg cat f32 64" "--layer block1_pool --pool max gives [64]"
is "$(chk header max.mp provenance.preprocess)" '"torch"' "the header says the preprocessing"
vggfeat --init-random 7 --layer block2_pool <img.mp >b2.mp
is "$(chk shapes b2.mp | sed -n 1p)" "img0.jpg cat f32 12x16x128" "block2_pool of 64x48 is 12x16x128"

stream a.mp '{"vggpipe":1,"kind":"images","size":[40,40],"fit":"pad","classes":["a"]}' \
	'{"id":"x","label":"a","image":img(40,40)}' '{"id":"y","image":img(40,40)}'
stream b.mp '{"vggpipe":1,"kind":"images","size":[40,40],"fit":"pad","classes":["b","c"]}' \
	'{"id":"z","label":"b","image":img(40,40)}'
cat a.mp b.mp | vggfeat --init-random 1 --batch 4 >ab.mp
is "$(chk segments ab.mp | tr '\n' ' ')" \
	'records 2 end 2 classes ["a"] records 1 end 1 classes ["b", "c"] ' \
	"one output segment per input segment, each with its classes"
is "$(chk shapes ab.mp | sed -n 2p)" "y - f32 1x1x512" "a record without a label stays without"

stream empty.mp '{"vggpipe":1,"kind":"images","size":[224,224],"fit":"crop","classes":[]}'
run vggfeat --init-random 1 <empty.mp
ok "$rc" "a segment without records"
is "$(chk segments out)" "records 0 end 0 classes []" "gives a header and a trailer"

stream c.mp '{"vggpipe":1,"kind":"images","size":[50,40],"fit":"pad","classes":["a"]}'
cat a.mp c.mp >ac.mp
expect_fail 1 "disagrees.*size" "segments of different sizes are refused" \
	vggfeat --init-random 1 -o ac.feat <ac.mp

stream small.mp '{"vggpipe":1,"kind":"images","size":[40,40],"fit":"crop","classes":[]}' \
	'{"id":"ok","image":img(40,40)}' '{"id":"tiny","image":img(20,31)}'
expect_fail 1 "stdin: record 2: image 31x20 is smaller than 32x32" \
	"an image under 32x32 is refused, naming the record" vggfeat --init-random 1 <small.mp
stream huge.mp '{"vggpipe":1,"kind":"images","size":[40,40],"fit":"crop","classes":[]}' \
	'{"id":"x","image":{"shape":[4097,4096,3],"dtype":"u8","data":bytes(4097*4096*3)}}'
expect_fail 1 "record 1: image 4096x4097 has more than the 16777216 pixels" \
	"an image over 4096x4096 pixels is refused" vggfeat --init-random 1 <huge.mp
stream rgba.mp '{"vggpipe":1,"kind":"images","size":[40,40],"fit":"crop","classes":[]}' \
	'{"id":"x","image":{"shape":[40,40,4],"dtype":"u8","data":bytes(6400)}}'
expect_fail 1 "record 1: .*\[height, width, 3\]" "an image of 4 channels is refused" \
	vggfeat --init-random 1 <rgba.mp
stream short.mp '{"vggpipe":1,"kind":"images","size":[40,40],"fit":"crop","classes":[]}' \
	'{"id":"x","image":{"shape":[40,40,3],"dtype":"u8","data":bytes(100)}}'
expect_fail 1 "record 1: " "a tensor shorter than its shape is refused" \
	vggfeat --init-random 1 <short.mp
stream nosize.mp '{"vggpipe":1,"kind":"images","fit":"crop","classes":[]}'
expect_fail 1 "header of segment 1: key 'size'" "a header without size is refused" \
	vggfeat --init-random 1 <nosize.mp
expect_fail 1 "kind 'features'; expected 'images'" "a features stream is not an input" \
	vggfeat --init-random 1 <feat.mp
head -c 5000 img.mp >cut.mp
expect_fail 1 "truncated|ends inside" "a truncated stream is an error" \
	vggfeat --init-random 1 <cut.mp
expect_fail 1 "empty input" "empty input is an error" vggfeat --init-random 1 </dev/null

run vggfeat --init-random 7 -o out.feat <img.mp
ok $(( rc != 0 || $(wc -c <out) != 0 )) "-o writes nothing on stdout"
check "-o FILE holds the features" cmp out.feat feat.mp
run vggfeat --init-random 7 -o out.feat <small.mp
cmp -s out.feat feat.mp
ok $(( rc != 1 || $? != 0 )) "a failed run leaves the previous -o FILE untouched"
is "$(ls -A | grep -c 'out\.feat.')" 0 "and no temporary behind"

# Images that ignored their colour profiles (imgprep --icc ignore, as
# Keras' loader does) say so, and so do their features: a model trained
# on the others refuses them.
mkdir -p icc/a icc/b
$PY -c "
from PIL import Image
for c, v in (('a', 40), ('b', 200)):
    for i in range(3):
        Image.new('RGB', (36, 36), (v, 255 - v, 10 * i)).save(f'icc/{c}/{i}.png')"
imgprep --quiet --size 32 icc | vggfeat --quiet --init-random 1 --layer block3_pool -o use.feat
imgprep --quiet --size 32 --icc ignore icc | vggfeat --quiet --init-random 1 \
	--layer block3_pool -o ignore.feat
is "$(chk header ignore.feat provenance.icc)|$(chk header use.feat provenance.icc)" \
	'"ignore"|null' "--icc ignore is in the provenance; the default leaves it out"
topfit --quiet --epochs 1 -o use.model use.feat
expect_fail 1 'provenance.icc: present here, absent before' "a model refuses features of the other colour handling" \
	topeval -m use.model ignore.feat
cat use.feat ignore.feat > mixed.feat
expect_fail 1 "disagrees with the first: provenance.icc" "and one stream cannot hold both" \
	topfit --quiet -o mixed.model mixed.feat
done_testing
