#!/bin/sh
# topcam's maps beside classify's predictions on the same records and
# model, 2 threads: a dense top on 7x7x512 block5_pool features (hidden
# 256), and a model tuned with block 5 on 14x14x512 block4_pool features
# (224x224 images, random weights). Rates are steady state: the time of N
# records minus the time of N/4, over 3N/4, so that loading the model
# and starting up are left out. The ratio is maps per second over
# predictions per second: what an explanation costs beyond a prediction.
set -eu
N=${TOPCAM_BENCH_RECORDS:-2000}
TUNED=${TOPCAM_BENCH_TUNED:-96}
THREADS=2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common"



# rate_of TOOL MODEL FEAT_ALL FEAT_QUARTER ALL: records/s in steady state, peak MB
rate_of() {
	set -- "$@" $(timed "$B/$1" --model "$2" --threads "$THREADS" --quiet "$3") \
		$(timed "$B/$1" --model "$2" --threads "$THREADS" --quiet "$4")
	awk -v n="$5" -v t="$6" -v kb="$7" -v t4="$8" 'BEGIN {
		d = t - t4; if (d <= 0) d = 1e-9
		printf "%.6g %.0f\n", (n - int(n / 4)) / d, kb / 1024 }'
}

row() { # STAGE SIDE SETTING RATE PEAK_MB RATIO
	awk -v st="$1" -v side="$2" -v set="$3" -v r="$4" -v mb="$5" -v ratio="$6" 'BEGIN {
		printf "| %s | %s | %s | %.1f | %.3f | %s | %.0f |\n",
			st, side, set, r, 1000 / r, ratio, mb }'
}

pair() { # SETTING MODEL FEAT_ALL FEAT_QUARTER N
	set -- "$@" $(rate_of classify "$2" "$3" "$4" "$5") $(rate_of topcam "$2" "$3" "$4" "$5")
	ratio=$(awk -v a="$8" -v b="$6" 'BEGIN { printf "%.2f", a / b }')
	row "topcam (maps)" vggpipe "$1" "$8" "$9" "$ratio"
	row "topcam (maps)" "classify, same model" "$1" "$6" "$7" 1
}

"$PY" "$here/../tests/top_data.py" random "$tmp/dense.feat" --n "$N" --shape 7,7,512 --classes 4
head_stream "$tmp/dense.feat" $((N / 4)) "$tmp/dense4.feat"
"$B/topfit" --hidden 256 --epochs 2 --threads "$THREADS" --quiet -o "$tmp/dense.model" \
	"$tmp/dense.feat"
pair "$N x 7x7x512, dense top (hidden 256), $THREADS threads" "$tmp/dense.model" \
	"$tmp/dense.feat" "$tmp/dense4.feat" "$N"

# The tuned model: block4_pool features of random 224x224 images.
"$PY" - "$tmp/img.mp" "$TUNED" <<'PY'
import sys, msgpack, numpy as np
rng = np.random.default_rng(0)
p = msgpack.Packer(use_bin_type=True).pack
n = int(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    f.write(p({"vggpipe": 1, "kind": "images", "size": [224, 224], "fit": "crop",
               "classes": ["a", "b"]}))
    for i in range(n):
        img = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
        f.write(p({"id": str(i), "label": "ab"[i % 2], "image": {
            "shape": [224, 224, 3], "dtype": "u8", "data": img.tobytes()}}))
    f.write(p({"end": n}))
PY
"$B/vggfeat" --init-random 1 --layer block4_pool --quiet <"$tmp/img.mp" >"$tmp/b4.feat"
"$B/vggfeat" --init-random 1 --quiet <"$tmp/img.mp" >"$tmp/b5.feat"
head_stream "$tmp/b4.feat" $((TUNED / 4)) "$tmp/b4q.feat"
"$B/topfit" --epochs 2 --quiet -o "$tmp/top5.model" "$tmp/b5.feat" 2>/dev/null
"$B/topfit" --finetune block5 --init "$tmp/top5.model" --init-random 1 --epochs 1 --quiet \
	-o "$tmp/tuned.model" "$tmp/b4.feat" 2>/dev/null
pair "$TUNED x 14x14x512, block 5 tuned with the top, $THREADS threads" "$tmp/tuned.model" \
	"$tmp/b4.feat" "$tmp/b4q.feat" "$TUNED"
