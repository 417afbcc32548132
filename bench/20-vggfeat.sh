#!/bin/sh
# vggfeat against torchvision's vgg16().features in PyTorch (oneDNN, 2
# threads), 224x224 images at batch 1 and 16, with the OPENBLAS_*
# variables as the environment sets them and with them unset. Rates leave
# out start-up (loading weights, importing torch): vggfeat's is the time of
# N images minus the time of none; PyTorch's is timed after a warm-up
# batch. Effective GFLOP/s count 30.69 GFLOP per 224x224 image.
set -eu
PY=/usr/bin/python3
: "${VGGPIPE_BIN:=$(cd "$(dirname "$0")/.." && pwd)/bin}"
N=${VGGFEAT_BENCH_IMAGES:-32}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vggfeat-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$PY" - "$tmp" "$N" <<'PY'
import sys, msgpack, numpy as np
d, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
for name, count in (("img", n), ("none", 0)):
    with open(f"{d}/{name}.mp", "wb") as f:
        f.write(msgpack.packb({"vggpipe": 1, "kind": "images", "size": [224, 224],
                               "fit": "crop", "classes": []}))
        for i in range(count):
            img = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
            f.write(msgpack.packb({"id": str(i), "image": {
                "shape": [224, 224, 3], "dtype": "u8", "data": img.tobytes()}}))
        f.write(msgpack.packb({"end": count}))
PY

cat >"$tmp/side.py" <<'PY'
import resource, sys, time, torch, torchvision
n, batch = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(2)
net = torchvision.models.vgg16().features.eval()
x = torch.rand(batch, 3, 224, 224)
with torch.no_grad():
    net(x)
    t = time.perf_counter()
    for _ in range(max(1, n // batch)):
        net(x)
    t = time.perf_counter() - t
print(max(1, n // batch) * batch / t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
PY

# seconds KB: wall time and peak resident size of a command
timed() {
	/usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >/dev/null
	cat "$tmp/time"
}

row() { # SIDE SETTING RATE PEAK_MB RATIO
	awk -v side="$1" -v set="$2" -v r="$3" -v mb="$4" -v ratio="$5" 'BEGIN {
		printf "| vggfeat 224x224 | %s | %s, %.0f GFLOP/s | %.2f | %.1f | %s | %.0f |\n",
			side, set, r * 30.69, r, 1000 / r, ratio, mb }'
}

for env in set unset; do
	if [ "$env" = set ]; then run=""; else run="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"; fi
	for batch in 1 16; do
		set -- $(timed $run "$VGGPIPE_BIN/vggfeat" --init-random 1 --threads 2 \
			--batch "$batch" --quiet <"$tmp/none.mp")
		t0=$1
		set -- $(timed $run "$VGGPIPE_BIN/vggfeat" --init-random 1 --threads 2 \
			--batch "$batch" --quiet <"$tmp/img.mp")
		ours=$(awk -v n="$N" -v t="$1" -v t0="$t0" 'BEGIN { print n / (t - t0) }')
		ours_mb=$(awk -v k="$2" 'BEGIN { print k / 1024 }')
		set -- $($run "$PY" "$tmp/side.py" "$N" "$batch")
		theirs=$1 theirs_mb=$2
		ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", a / b }')
		row vggpipe "batch $batch, OPENBLAS_* $env" "$ours" "$ours_mb" "$ratio"
		row "PyTorch $(${PY} -c 'import torch; print(torch.__version__)')" \
			"batch $batch, OPENBLAS_* $env" "$theirs" "$theirs_mb" 1
	done
done
