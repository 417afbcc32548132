#!/bin/sh
# imgprep against two Pillow loaders, preparing 600 generated 640x480 JPEGs
# to 224x224 arrays: (a) Keras' load_img (open, convert, resize; one
# process) and (b) the fastest Pillow loader (JPEG draft mode, two
# processes). imgprep's time is the whole command, start-up and writing
# the stream included; Pillow's starts at its first file. Ratios are
# against (a). The setting column also gives the CPU time per image (user
# and system, all threads or processes), which still compares when the
# machine is busy. Peak memory: resident size, for imgprep also with a
# tenth of the images, to show that it does not grow with their number.
# Each row is the best of $IMGPREP_BENCH_RUNS runs (3), which takes out
# most of what other work on the machine adds.
set -eu
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
: "${VGGPIPE_BIN:=$here/../bin}"
N=${IMGPREP_BENCH_IMAGES:-600}
RUNS=${IMGPREP_BENCH_RUNS:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/imgprep-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/img" "$tmp/few"
"$PY" "$here/imgprep_pillow.py" gen "$tmp/img" "$N"
for f in $(ls "$tmp/img" | head -n $((N / 10))); do ln -s "$tmp/img/$f" "$tmp/few/$f"; done

# rate MB CPU_MS for a run of imgprep over DIR with extra options
ours() {
	dir=$1; shift
	/usr/bin/time -f "%e %M %U %S" -o "$tmp/time" "$VGGPIPE_BIN/imgprep" --quiet "$@" "$dir" >/dev/null
	awk -v n="$(ls "$dir" | wc -l)" '{ printf "%.1f %.0f %.2f\n", n / $1, $2 / 1024, ($3 + $4) * 1000 / n }' "$tmp/time"
}

# best COMMAND...: the command's "rate MB CPU_MS" line with the highest
# rate over RUNS runs
best() {
	i=0
	while [ $i -lt "$RUNS" ]; do
		"$@"
		i=$((i + 1))
	done | sort -k1,1gr | head -n 1
}

row() { # SIDE SETTING RATE PEAK_MB CPU_MS BASE_RATE
	awk -v side="$1" -v set="$2" -v r="$3" -v mb="$4" -v cpu="$5" -v base="$6" 'BEGIN {
		printf "| imgprep 640x480 JPEG to 224x224 | %s | %s, cpu %.2f ms/image | %.0f | %.2f | %.2f | %.0f |\n",
			side, set, cpu, r, 1000 / r, r / base, mb }'
}

set -- $(best "$PY" "$here/imgprep_pillow.py" keras "$tmp/img")
keras=$1
pil="Pillow $("$PY" -c 'import PIL; print(PIL.__version__)')"
row "$pil" "(a) Keras load_img, 1 process, $N images" "$1" "$2" "$3" "$keras"
set -- $(best "$PY" "$here/imgprep_pillow.py" draft "$tmp/img" 2)
row "$pil" "(b) draft mode, 2 processes, $N images" "$1" "$2" "$3" "$keras"
for threads in 1 2; do
	set -- $(best ours "$tmp/img" --threads $threads)
	row vggpipe "--threads $threads, $N images" "$1" "$2" "$3" "$keras"
done
set -- $(best ours "$tmp/few" --threads 2)
row vggpipe "--threads 2, $((N / 10)) images" "$1" "$2" "$3" "$keras"
