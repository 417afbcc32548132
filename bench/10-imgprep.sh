#!/bin/sh
# imgprep against two Pillow loaders, preparing 600 JPEGs to 224x224
# arrays: (a) Keras' load_img (open, convert, resize; one process) and (b)
# the fastest Pillow loader (JPEG draft mode, two processes). Three sets:
# generated 640x480 photo-like JPEGs with grain (decoding dominates),
# the same without grain (smooth: the per-image cost of the pipeline
# shows), and scikit-learn's two sample photos, 300 copies each (640x427,
# each with its embedded sRGB profile, as camera and phone photos carry).
# imgprep's time is the whole command, start-up and writing the stream
# included; Pillow's starts at its first file. Ratios are against (a) on
# the same set. The setting column also gives the CPU time per image (user
# and system, all threads or processes), which still compares when the
# machine is busy. Peak memory: resident size, for imgprep also with a
# tenth of the images, to show that it does not grow with their number.
# Each row is the best of $IMGPREP_BENCH_RUNS runs (3), which takes out
# most of what other work on the machine adds.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common"
N=${IMGPREP_BENCH_IMAGES:-600}
RUNS=${IMGPREP_BENCH_RUNS:-3}
mkdir "$tmp/grain" "$tmp/smooth" "$tmp/photos" "$tmp/few"
"$PY" "$here/imgprep_pillow.py" gen "$tmp/grain" "$N"
"$PY" "$here/imgprep_pillow.py" gen "$tmp/smooth" "$N" smooth
photos=$("$PY" "$here/imgprep_pillow.py" photos "$tmp/photos" "$N" 2>&1) ||
	echo "| imgprep sample photos | skipped | scikit-learn's sample photos: $(echo "$photos" | tail -n 1) | | | | |"
for f in $(ls "$tmp/grain" | head -n $((N / 10))); do ln -s "$tmp/grain/$f" "$tmp/few/$f"; done

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

row() { # STAGE SIDE SETTING RATE PEAK_MB CPU_MS BASE_RATE
	awk -v stage="$1" -v side="$2" -v set="$3" -v r="$4" -v mb="$5" -v cpu="$6" -v base="$7" 'BEGIN {
		printf "| %s | %s | %s, cpu %.2f ms/image | %.0f | %.2f | %.2f | %.0f |\n",
			stage, side, set, cpu, r, 1000 / r, r / base, mb }'
}

pil="Pillow $("$PY" -c 'import PIL; print(PIL.__version__)')"
for set in grain smooth photos; do
	dir=$tmp/$set
	[ -n "$(ls "$dir")" ] || continue
	case $set in
	grain) stage="imgprep 640x480 JPEG to 224x224" ;;
	smooth) stage="imgprep 640x480 smooth JPEG to 224x224" ;;
	photos) stage="imgprep 640x427 photo, sRGB profile, to 224x224" ;;
	esac
	set -- $(best "$PY" "$here/imgprep_pillow.py" keras "$dir")
	keras=$1
	row "$stage" "$pil" "(a) Keras load_img, 1 process, $N images" "$1" "$2" "$3" "$keras"
	set -- $(best "$PY" "$here/imgprep_pillow.py" draft "$dir" 2)
	row "$stage" "$pil" "(b) draft mode, 2 processes, $N images" "$1" "$2" "$3" "$keras"
	for threads in 1 2; do
		set -- $(best ours "$dir" --threads $threads)
		row "$stage" vggpipe "--threads $threads, $N images" "$1" "$2" "$3" "$keras"
	done
	if [ $set = grain ]; then
		set -- $(best ours "$tmp/few" --threads 2)
		row "$stage" vggpipe "--threads 2, $((N / 10)) images" "$1" "$2" "$3" "$keras"
	fi
done
