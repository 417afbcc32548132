#!/bin/sh
# topfit against the same model in PyTorch: 2000 records of 7x7x512
# features (VGG16's block5_pool), 4 classes, one hidden layer of 256 with
# dropout 0.5, Adam, batch 32, 10 epochs, 2 threads on both sides.
# topfit's time is the whole run, reading its 200 MB stream included;
# PyTorch's is its training loop alone, on tensors already in memory.
# classify's rate is over the same records, start-up included.
set -eu
N=${TOP_BENCH_RECORDS:-2000}
EPOCHS=${TOP_BENCH_EPOCHS:-10}
THREADS=2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common"

"$PY" "$here/../tests/top_data.py" random "$tmp/train.feat" --n "$N" --shape 7,7,512 --classes 4

cat >"$tmp/side.py" <<'PY'
import resource, sys, time, msgpack, numpy as np, torch
path, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(1)
xs, ys = [], []
with open(path, "rb") as f:
    for o in msgpack.Unpacker(f, raw=False):
        if "id" in o:
            xs.append(np.frombuffer(o["features"]["data"], dtype="<f4"))
            ys.append(o["label"])
names = sorted(set(ys))
x = torch.tensor(np.stack(xs))
y = torch.tensor([names.index(v) for v in ys])
model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 256), torch.nn.ReLU(),
                            torch.nn.Dropout(0.5), torch.nn.Linear(256, len(names)))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
t = time.perf_counter()
for _ in range(epochs):
    order = torch.randperm(len(x))
    for s in range(0, len(x), 32):
        idx = order[s:s + 32]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
PY


row() { # STAGE SIDE SETTING ITEMS SECONDS PEAK_MB RATIO
	awk -v st="$1" -v side="$2" -v set="$3" -v n="$4" -v t="$5" -v mb="$6" -v ratio="$7" 'BEGIN {
		printf "| %s | %s | %s | %.0f | %.3f | %s | %.0f |\n",
			st, side, set, n / t, 1000 * t / n, ratio, mb }'
}

items=$((N * EPOCHS))
set -- $(timed "$VGGPIPE_BIN/topfit" --hidden 256 --epochs "$EPOCHS" --threads "$THREADS" \
	--quiet -o "$tmp/top.model" "$tmp/train.feat")
ours=$1 ours_mb=$(awk -v k="$2" 'BEGIN { print k / 1024 }')
setting="$N x 7x7x512, hidden 256, $EPOCHS epochs, $THREADS threads"
# PyTorch, skipped with the reason when it cannot be imported
if "$PY" -c 'import torch' >"$tmp/torch.log" 2>&1; then
	set -- $("$PY" "$tmp/side.py" "$tmp/train.feat" "$EPOCHS" "$THREADS")
	theirs=$1 theirs_mb=$2
	ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.2f", b / a }')
	row "topfit (records x epochs)" vggpipe "$setting, $(printf '%.1f' "$ours") s" "$items" "$ours" "$ours_mb" "$ratio"
	row "topfit (records x epochs)" "PyTorch $("$PY" -c 'import torch; print(torch.__version__)')" \
		"$setting, $(printf '%.1f' "$theirs") s" "$items" "$theirs" "$theirs_mb" 1
else
	row "topfit (records x epochs)" vggpipe "$setting, $(printf '%.1f' "$ours") s" "$items" "$ours" "$ours_mb" "n/a"
	echo "| topfit (records x epochs) | PyTorch | skipped, cannot import torch: $(tail -1 "$tmp/torch.log") | | | | |"
fi

set -- $(timed "$VGGPIPE_BIN/classify" --model "$tmp/top.model" "$tmp/train.feat")
row classify vggpipe "$N x 7x7x512, hidden 256, CSV" "$N" "$1" "$(awk -v k="$2" 'BEGIN { print k / 1024 }')" ""
