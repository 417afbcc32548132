#!/bin/bash
# Every example in the man pages runs; none is skipped. Each EXAMPLES
# block (.nf ... .fi) is turned back into shell text and run in a fresh
# copy of a directory that holds what the examples name: data/ with class
# folders, photos/, cat.png, train/valid/test/new feature files and
# block4_pool ones for fine-tuning, a model, and weights in the Keras
# layout (generated, random) where vggfeat and topfit look for them. An
# example that cannot run here fails, with its error; where this machine
# lacks what an example needs, a stand-in below says how it differs.
. "$(dirname "$0")/lib.sh"

mkdir fixture && cd fixture || exit 1
$PY - <<'PY'
import os, random
from PIL import Image
rng = random.Random(5)
def image(path):
    Image.new("RGB", (60, 50), tuple(rng.randrange(256) for _ in range(3))).save(path)
for split in ("train", "valid", "test"):
    for cls in ("cat", "dog"):
        os.makedirs(f"data/{split}/{cls}", exist_ok=True)
        # Five training images a class, for topfit --folds 5.
        for i in range(5 if split == "train" else 2):
            image(f"data/{split}/{cls}/{i}.png")
for folder in ("photos", "incoming"):
    os.makedirs(folder, exist_ok=True)
    for i in range(3):
        image(f"{folder}/p{i}.jpg")
image("cat.png")
PY
$PY "$TESTS_DIR/vggfeat_ref.py" weights 1 . keras1.h5 vgg16.safetensors
mv keras1.h5 weights.h5
export VGGPIPE_WEIGHTS=$T/fixture/weights.h5
# The examples use the default size and layer; so must what they read.
for split in train valid test; do
	imgprep --quiet data/$split | vggfeat --quiet > $split.feat
done
cp test.feat new.feat
cp train.feat shard1.feat
cp valid.feat shard2.feat
topfit --epochs 2 --quiet --history history.tsv -o top.model < train.feat
topeval --model top.model --format json < test.feat > report.json
classify --model top.model < test.feat > predictions.csv
imgprep --quiet data/test > test.img

# Fine-tuning (topfit(1)) reads top.model, train4.feat and valid4.feat.
# Block 5 starts from the weights the features were made with, found as
# vggfeat finds them: the fixture's random ones stand in for the
# published ones, and the commands run as written. Under random weights
# Chollet's SGD at 1e-4 diverges, and topfit does what topfit(1) says:
# rolls the epochs back, keeps the start, warns and exits 0. At 224x224
# block 5 runs on 14x14 maps, and the first example (the rate searched,
# then 50 epochs) takes minutes on two cores; the examples name no size,
# so for them these three files, laid over the fixture, are made from
# 32x32 images (2x2 maps), as tests/finetune.t makes its own.
mkdir ../small
for split in train valid; do
	imgprep --quiet --size 32 data/$split | vggfeat --quiet > ../small/$split.5
	imgprep --quiet --size 32 data/$split | vggfeat --quiet --layer block4_pool \
		> ../small/${split}4.feat
done
topfit --epochs 2 --quiet -o ../small/top.model ../small/train.5
rm ../small/*.5
cd "$T" || exit 1

# Four machines (imgprep(1)): this ssh runs the command here, on a "node"
# whose /data is the run's copy of the fixture (its data/train is the
# training set), with the test's environment, weights included.
mkdir remote
cat > remote/ssh <<'SH'
#!/bin/bash
shift
exec bash -o pipefail -c "${*//\/data\//$PWD/data/}"
SH
chmod +x remote/ssh
PATH="$T/remote:$PATH"

# The watched folder (imgprep(1)): inotify-tools is not installed, and
# inotifywait -m would watch forever. This one reports, in its --format,
# the files already in the folder, as if each had just been written, and
# ends.
cat > remote/inotifywait <<'SH'
#!/bin/bash
for dir in "${@: -1}"; do
	for f in "$dir"*; do printf '%s\n' "$f"; done
done
SH
chmod +x remote/inotifywait

# vggpipe(5)'s byte listing as bytes on stdout; it fails unless they are
# the 87 bytes of the stream the page says it is (a header with an empty
# provenance, one record of one feature, 0.5, and the trailer).
cat > listing.py <<'PY'
import msgpack, re, struct, sys
data = b""
for tok in re.findall(r'"[^"]*"|[0-9a-f]{2}', sys.argv[1]):
    data += tok[1:-1].encode() if tok.startswith('"') else bytes([int(tok, 16)])
p = msgpack.Packer(use_bin_type=True).pack
want = (p({"vggpipe": 1, "kind": "features", "provenance": {}}) +
        p({"id": "a", "features": {"shape": [1], "dtype": "f32", "data": struct.pack("<f", 0.5)}}) +
        p({"end": 1}))
sys.stdout.buffer.write(data)
if data != want or len(data) != 87:
    sys.exit("the listing is %d bytes, %r; the stream it describes is %d, %r"
             % (len(data), data, len(want), want))
PY

# run_block TEXT: one example, in the current folder. Shell runs under
# bash -e -o pipefail; vggpipe(5)'s Python program and byte listing each
# make a stream, which vggdump must read.
run_block() {
	case "$1" in
	'import msgpack'*) $PY -c "$1" > example.feat && vggdump example.feat ;;
	'83 a7 "vggpipe"'*) $PY "$T/listing.py" "$1" > listing.feat && vggdump listing.feat ;;
	*) bash -e -o pipefail -c "$1" ;;
	esac
}

# after TEXT: what an example's exit status cannot show.
after() {
	case "$1" in
	# wait reports no background job's failure: every shard must be in
	# train.feat, which holds each of the ten training images once.
	*'ssh node'*)
		vggdump train.feat | $PY -c '
import json, sys
ids = sorted(json.loads(l)["record"]["id"] for l in sys.stdin if "\"record\"" in l)
want = ["data/train/%s/%d.png" % (c, i) for c in ("cat", "dog") for i in range(5)]
if len(ids) != 10 or [i[-len(w):] for i, w in zip(ids, want)] != want:
    sys.exit("train.feat holds %s; want one record of each of %s" % (ids, want))' ;;
	# A prediction for each photo that "arrived".
	*inotifywait*)
		[ "$(grep -c '^incoming/p[0-2]\.jpg,' "$T/out")" = 3 ] ||
			{ echo "predictions: $(cat "$T/out")" >&2; exit 1; } ;;
	esac
}

# Examples print their blocks separated by a line holding only '%%'.
extract() {
	awk '/^\.SH EXAMPLES/{p=1; next} /^\.SH/{p=0}
	     p && /^\.nf/{b=1; next} p && /^\.fi/{b=0; print "%%"; next}
	     p && b && !/^\./{print}' "$1" |
	sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\(mu/*/g'
}

blocks=0
for page in "$SRC_DIR"/man/*.[15]; do
	n=0 text=
	while IFS= read -r line; do
		if [ "$line" != %% ]; then text+="$line"$'\n'; continue; fi
		n=$((n + 1)); blocks=$((blocks + 1))
		name="$(basename "$page") example $n"
		rm -rf run && cp -r fixture run
		case "$text" in *--finetune*) cp small/* run/ ;; esac
		(cd run && run_block "$text" && after "$text") > out 2> err
		rc=$?
		ok $rc "$name"
		if [ $rc -ne 0 ]; then
			echo "#   status $rc"
			sed 's/^/#   /' <<< "$text"; sed 's/^/#   /' err | head -5
		fi
		text=
	done < <(extract "$page")
done
plan $blocks
done_testing
