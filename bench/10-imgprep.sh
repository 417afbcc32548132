#!/bin/sh
# imgprep against two Pillow loaders, preparing 600 generated 640x480 JPEGs
# to 224x224 arrays: (a) Keras' load_img (open, convert, resize; one
# process) and (b) the fastest Pillow loader (JPEG draft mode, two
# processes). imgprep's time is the whole command, start-up and writing
# the stream included; Pillow's starts at its first file. Ratios are
# against (a). Peak memory: resident size, for imgprep also with a tenth
# of the images, to show that it does not grow with their number.
set -eu
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
: "${VGGPIPE_BIN:=$here/../bin}"
N=${IMGPREP_BENCH_IMAGES:-600}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/imgprep-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/img" "$tmp/few"
"$PY" "$here/imgprep_pillow.py" gen "$tmp/img" "$N"
for f in $(ls "$tmp/img" | head -n $((N / 10))); do ln -s "$tmp/img/$f" "$tmp/few/$f"; done

# rate MB for a run of imgprep over DIR with extra options
ours() {
	dir=$1; shift
	/usr/bin/time -f "%e %M" -o "$tmp/time" "$VGGPIPE_BIN/imgprep" --quiet "$@" "$dir" >/dev/null
	awk -v n="$(ls "$dir" | wc -l)" '{ printf "%.1f %.0f\n", n / $1, $2 / 1024 }' "$tmp/time"
}

row() { # SIDE SETTING RATE PEAK_MB BASE_RATE
	awk -v side="$1" -v set="$2" -v r="$3" -v mb="$4" -v base="$5" 'BEGIN {
		printf "| imgprep 640x480 JPEG to 224x224 | %s | %s | %.0f | %.2f | %.2f | %.0f |\n",
			side, set, r, 1000 / r, r / base, mb }'
}

set -- $("$PY" "$here/imgprep_pillow.py" keras "$tmp/img")
keras=$1 keras_mb=$2
set -- $("$PY" "$here/imgprep_pillow.py" draft "$tmp/img" 2)
draft=$1 draft_mb=$2
pil="Pillow $("$PY" -c 'import PIL; print(PIL.__version__)')"
row "$pil" "(a) Keras load_img, 1 process, $N images" "$keras" "$keras_mb" "$keras"
row "$pil" "(b) draft mode, 2 processes, $N images" "$draft" "$draft_mb" "$keras"
for threads in 1 2; do
	set -- $(ours "$tmp/img" --threads $threads)
	row vggpipe "--threads $threads, $N images" "$1" "$2" "$keras"
done
set -- $(ours "$tmp/few" --threads 2)
row vggpipe "--threads 2, $((N / 10)) images" "$1" "$2" "$keras"
