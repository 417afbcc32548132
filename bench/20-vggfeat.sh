#!/bin/sh
# vggfeat (--algo im2col and --algo winograd) against torchvision's
# vgg16().features in PyTorch (oneDNN, 2 threads) and the same network
# exported from PyTorch to ONNX and run by ONNX Runtime (npm's
# onnxruntime-node, all graph optimisations, 2 intra-op threads): 224x224
# at batch 1 and 16, 64x64 at batch 64, every side on 2 threads, with the
# OPENBLAS_* variables as the environment sets them and with them unset
# (once only, unset, when the environment sets neither).
# Rates leave out start-up (loading weights, transforming kernels,
# importing torch, loading the model): vggfeat's is the time of the images
# minus the time of none; the peers are timed after a warm-up batch. The
# sides run one after the other in the same run, so that a loaded machine
# slows each alike as far as it can; the ratio (to PyTorch) is what to
# read. Effective GFLOP/s count 30.69 GFLOP per 224x224 image, scaled by
# the pixels for other sizes: the direct convolution's multiply-adds,
# which Winograd does a quarter of.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common"
N=${VGGFEAT_BENCH_IMAGES:-32}

# SIZE BATCH IMAGES: 64x64 images take a twelfth of the work of 224x224.
configs="224 1 $N
224 16 $N
64 64 $((N * 8))"

"$PY" - "$tmp" <<PY
import sys, msgpack, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
for line in """$configs""".splitlines():
    s, _, n = map(int, line.split())
    for name, count in ((f"img{s}", n), (f"none{s}", 0)):
        with open(f"{d}/{name}.mp", "wb") as f:
            f.write(msgpack.packb({"vggpipe": 1, "kind": "images", "size": [s, s],
                                   "fit": "crop", "classes": []}))
            for i in range(count):
                img = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
                f.write(msgpack.packb({"id": str(i), "image": {
                    "shape": [s, s, 3], "dtype": "u8", "data": img.tobytes()}}))
            f.write(msgpack.packb({"end": count}))
PY

# images/s and peak MB of PyTorch on N images of SIZE in batches of BATCH
cat >"$tmp/torch_side.py" <<'PY'
import resource, sys, time, torch, torchvision
n, batch, size = map(int, sys.argv[1:4])
torch.set_num_threads(2)
net = torchvision.models.vgg16().features.eval()
x = torch.rand(batch, 3, size, size)
with torch.no_grad():
    net(x)
    t = time.perf_counter()
    for _ in range(max(1, n // batch)):
        net(x)
    t = time.perf_counter() - t
print(max(1, n // batch) * batch / t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
PY

# The same for ONNX Runtime: MODULE_DIR MODEL N BATCH SIZE
cat >"$tmp/ort_side.js" <<'JS'
const [dir, model, n, batch, size] = process.argv.slice(2);
const ort = require(dir + "/node_modules/onnxruntime-node");
(async () => {
	const s = await ort.InferenceSession.create(model, {
		executionProviders: ["cpu"], graphOptimizationLevel: "all",
		intraOpNumThreads: 2, interOpNumThreads: 1 });
	const len = batch * 3 * size * size, data = new Float32Array(len);
	for (let i = 0; i < len; i++)
		data[i] = Math.random();
	const feeds = { x: new ort.Tensor("float32", data, [+batch, 3, +size, +size]) };
	const reps = Math.max(1, Math.floor(n / batch));
	await s.run(feeds);
	const t = process.hrtime.bigint();
	for (let i = 0; i < reps; i++)
		await s.run(feeds);
	const sec = Number(process.hrtime.bigint() - t) / 1e9;
	console.log(reps * batch / sec, process.resourceUsage().maxRSS / 1024);
})();
JS

# PyTorch: Debian's python3-torch and python3-torchvision (make test-deps).
# Empty when it can be run, else why not.
torch_skip=""
if ! "$PY" -c 'import torch, torchvision' >"$tmp/torch.log" 2>&1; then
	torch_skip="cannot import torch and torchvision: $(tail -1 "$tmp/torch.log")"
fi

# ONNX Runtime: installed from npm into the temporary directory (its
# install script would fetch GPU binaries: skipped), the network exported
# from PyTorch. Empty when it can be run, else why not.
ort_skip=""
if [ -n "$torch_skip" ]; then
	ort_skip="the network is exported from PyTorch, which is missing"
elif ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	ort_skip="node or npm not found"
elif ! (cd "$tmp" && ONNXRUNTIME_NODE_INSTALL=skip npm install --silent --no-audit \
	--no-fund onnxruntime-node >"$tmp/npm.log" 2>&1); then
	ort_skip="npm install onnxruntime-node failed: $(tail -1 "$tmp/npm.log")"
elif ! "$PY" -c "import sys, torch, torchvision
torch.onnx.export(torchvision.models.vgg16().features.eval(), torch.rand(1, 3, 224, 224),
    sys.argv[1], input_names=['x'], output_names=['y'], opset_version=13,
    dynamic_axes={'x': {0: 'n', 2: 'h', 3: 'w'}, 'y': {0: 'n', 2: 'h', 3: 'w'}})" \
	"$tmp/vgg16.onnx" >"$tmp/export.log" 2>&1; then
	ort_skip="the ONNX export failed: $(tail -1 "$tmp/export.log")"
fi
ort_version=$(node -p "require('$tmp/node_modules/onnxruntime-node/package.json').version" \
	2>/dev/null || true)
torch_version=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)

row() { # SIZE SIDE SETTING RATE PEAK_MB RATIO [NOTE]
	awk -v s="$1" -v side="$2" -v set="$3" -v r="$4" -v mb="$5" -v ratio="$6" -v note="${7:-}" \
		-v peak="${VGGPIPE_SGEMM_GFLOPS:-0}" 'BEGIN {
		g = r * 30.69 * s * s / (224 * 224)
		rate = sprintf("%.0f GFLOP/s", g)
		if (peak > 0)
			rate = rate sprintf(", %.0f%% of SGEMM peak", 100 * g / peak)
		printf "| vggfeat %dx%d | %s | %s, %s%s | %.2f | %.1f | %s | %.0f |\n",
			s, s, side, set, rate, note, r, 1000 / r, ratio, mb }'
}

# a / b to two places; n/a without b (a peer skipped)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }

# RATE PEAK_KB appended to $tmp/SIDE.runs; best SIDE prints the best rate
# of the rounds and the largest peak in MB.
record() { echo "$2 $3" >>"$tmp/$1.runs"; }
best() { awk '$1 > r { r = $1 } $2 > m { m = $2 } END { print r, int(m / 1024) }' "$tmp/$1.runs"; }

# Each side runs ROUNDS times (VGGFEAT_BENCH_ROUNDS, 3), the sides taking
# turns, and keeps its best rate: a virtual machine's speed wanders by
# tens of percent from one minute to the next, and the best of several
# turns is the figure least moved by it.
rounds=${VGGFEAT_BENCH_ROUNDS:-3}
envs="set unset"
[ -n "${OPENBLAS_CORETYPE:-}${OPENBLAS_L2_SIZE:-}" ] || envs=unset
for env in $envs; do
	if [ "$env" = set ]; then run=""; else run="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"; fi
	echo "$configs" | while read -r size batch n; do
		setting="batch $batch, OPENBLAS_* $env"
		rm -f "$tmp"/*.runs
		: >"$tmp/ort.fail"
		round=0
		while [ "$round" -lt "$rounds" ]; do
			round=$((round + 1))
			if [ -z "$torch_skip" ]; then
				set -- $($run "$PY" "$tmp/torch_side.py" "$n" "$batch" "$size")
				record torch "$1" "$(awk -v mb="$2" 'BEGIN { print int(mb * 1024) }')"
			fi
			for algo in im2col winograd; do
				set -- $(timed $run "$VGGPIPE_BIN/vggfeat" --init-random 1 --threads 2 \
					--algo "$algo" --batch "$batch" --quiet <"$tmp/none$size.mp")
				t0=$1
				set -- $(timed $run "$VGGPIPE_BIN/vggfeat" --init-random 1 --threads 2 \
					--algo "$algo" --batch "$batch" --quiet <"$tmp/img$size.mp")
				record "$algo" "$(awk -v n="$n" -v t="$1" -v t0="$t0" 'BEGIN { print n / (t - t0) }')" "$2"
			done
			if [ -z "$ort_skip" ] && [ ! -s "$tmp/ort.fail" ]; then
				if set -- $($run node "$tmp/ort_side.js" "$tmp" "$tmp/vgg16.onnx" "$n" \
					"$batch" "$size" 2>"$tmp/ort.err") && [ $# -eq 2 ]; then
					record ort "$1" "$(awk -v mb="$2" 'BEGIN { print int(mb * 1024) }')"
				else
					tail -1 "$tmp/ort.err" >"$tmp/ort.fail"
				fi
			fi
		done
		theirs=""
		if [ -n "$torch_skip" ]; then
			echo "| vggfeat ${size}x$size | PyTorch | $setting: skipped, $torch_skip | | | | |"
		else
			set -- $(best torch)
			theirs=$1
			row "$size" "PyTorch $torch_version" "$setting" "$1" "$2" 1
		fi
		ort_rate=""
		[ -s "$tmp/ort.runs" ] && ort_rate=$(best ort | cut -d' ' -f1)
		for algo in im2col winograd; do
			set -- $(best "$algo")
			note=""
			[ -n "$ort_rate" ] && note=", $(ratio "$1" "$ort_rate")x ONNX Runtime"
			row "$size" "vggpipe $algo" "$setting" "$1" "$2" "$(ratio "$1" "$theirs")" "$note"
		done
		if [ -n "$ort_skip" ]; then
			echo "| vggfeat ${size}x$size | ONNX Runtime | $setting: skipped, $ort_skip | | | | |"
		elif [ -n "$ort_rate" ]; then
			set -- $(best ort)
			row "$size" "ONNX Runtime $ort_version" "$setting" "$1" "$2" "$(ratio "$1" "$theirs")"
		else
			echo "| vggfeat ${size}x$size | ONNX Runtime | $setting: failed, $(cat "$tmp/ort.fail") | | | | |"
		fi
	done
done
