#!/bin/bash
# What a Unix user expects of a filter: records flow through a pipeline as
# they come; one bad entry (path, list line, folder, image) is named and
# skipped while the rest is delivered, with exit status 1; lists made on
# other systems are read; whatever libvips loads is an image, documents
# are not unless asked for; the output never waits for the end of a run
# to report a full disk.
. "$(dirname "$0")/lib.sh"
plan 27

# "id label" per record, jq's rendering.
ids() { vggdump "$1" | jq -r 'select(.record) | .record | "\(.id) \(.label // "-")"' | tr '\n' '|'; }

$PY - <<'EOF' || exit 1
import os
from PIL import Image
import numpy as np
rng = np.random.default_rng(5)
def img(path, w=40, h=40):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
for c in ["circle", "square"]:
    for i in range(3):
        img(f"data/{c}/{i}.png")
img(os.fsdecode(b"odd/\xff/a.png"))
img("odd/ok/b.png")
img("loose/a/x.png")
img("loose/stray.png")
img("tab/t\tab.png")
# Formats libvips reads through ImageMagick, and documents.
noise = Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
os.makedirs("fmt")
for ext in ["bmp", "tga", "ico", "pdf"]:
    noise.save(f"fmt/x.{ext}")
with open("fmt/x.svg", "w") as f:
    f.write('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
            '<rect width="40" height="20" fill="red"/></svg>')
# A 108-megapixel phone photo.
big = Image.new("RGB", (12000, 9000), (40, 90, 160))
big.paste((230, 200, 20), (3000, 2000, 9000, 7000))
big.save("big.jpg", quality=80)
EOF

# 2. One bad entry costs only itself.
ln -s . data/circle/self
run imgprep --size 32 data -o loop.vp
is "$rc|$(cat "$T/err")|$(ids loop.vp)" \
	"1|imgprep: data/circle/self: a symlink to a folder above it; skipped"$'\n'"imgprep: 1 of 7 entries failed|data/circle/0.png circle|data/circle/1.png circle|data/circle/2.png circle|data/square/0.png square|data/square/1.png square|data/square/2.png square|" \
	"a symlink loop in a class folder: named, skipped, every image delivered, status 1"
echo previous >strict.vp
run imgprep --strict --size 32 data -o strict.vp
is "$rc|$(tail -1 "$T/err")|$(cat strict.vp)" \
	"1|imgprep: stopped at the first failure (--strict)|previous" \
	"--strict: the symlink loop stops the run, the -o target untouched"
rm data/circle/self
run imgprep --size 32 odd -o odd.vp
is "$rc|$(cat "$T/err")|$(ids odd.vp)" \
	"1|imgprep: odd/"$'\377'": a class folder whose name is not valid UTF-8 (labels are strings); skipped"$'\n'"imgprep: 1 of 2 entries failed|odd/ok/b.png ok|" \
	"a class folder whose name is not UTF-8: named, skipped, the other class delivered"
run sh -c 'printf "\tcircle\ndata/circle/0.png\t\ndata/circle/1.png\tcircle\n" | imgprep --size 32 -'
is "$rc|$(cat "$T/err")|$(ids "$T/out")" \
	"1|imgprep: standard input: line 1: no path; skipped"$'\n'"imgprep: standard input: line 2: an empty label; skipped"$'\n'"imgprep: 2 of 3 entries failed|data/circle/1.png circle|" \
	"list lines with an empty path or an empty label: each named by line, the good line delivered"
run imgprep --size 32 loose -o loose.vp
is "$rc|$(cat "$T/err")|$(ids loose.vp)" \
	"0|imgprep: loose/stray.png: beside the class folders, skipped|loose/a/x.png a|" \
	"a file beside the class folders is named"

# 3. Lists from other systems.
printf 'data/circle/0.png\tcircle\r\ndata/square/1.png\tsquare\r\n' | imgprep --size 32 - -o crlf.vp
is "$?|$(ids crlf.vp)|$(vggdump crlf.vp | jq -r 'select(.record) | .record.label' | od -An -c | grep -c '\\r')" \
	"0|data/circle/0.png circle|data/square/1.png square||0" \
	"CRLF line ends: no carriage return in a label"
printf '\357\273\277data/circle/0.png\r\ndata/square/1.png\r\n' | imgprep --size 32 - -o bom.vp
is "$?|$(ids bom.vp)" "0|data/circle/0.png -|data/square/1.png -|" \
	"a UTF-8 byte-order mark and CRLF: the paths as written"
printf 'tab/t\tab.png\0data/square/0.png\0' | imgprep --size 32 -0 - -o nul.vp
is "$?|$(ids nul.vp)" "0|tab/t	ab.png -|data/square/0.png -|" \
	"-0: a path holding a TAB is a path, not a path and a label"
printf 'tab/t\tab.png\0circle\0data/square/0.png\0square\0' |
	imgprep --size 32 -0 --pairs - -o pairs.vp
is "$?|$(ids pairs.vp)" "0|tab/t	ab.png circle|data/square/0.png square|" \
	"-0 --pairs: path, then its label, each NUL-terminated"
run sh -c 'printf "data/circle/0.png\0circle\0data/square/0.png\0" | imgprep --size 32 -0 --pairs -'
is "$rc|$(cat "$T/err")|$(ids "$T/out")" \
	"1|imgprep: standard input: entry 3: a path without its label at the end; skipped"$'\n'"imgprep: 1 of 2 entries failed|data/circle/0.png circle|" \
	"--pairs: a path without its label at the end is named"
run imgprep --pairs - </dev/null
is "$rc|$(head -1 "$T/err")" "2|imgprep: --pairs is for a NUL-separated list (-0)" \
	"--pairs without -0 is a usage error"

# 4. Formats: what libvips loads, documents only when asked.
run imgprep --size 48x40 fmt/x.bmp fmt/x.tga fmt/x.ico -o fmt.vp
is "$rc|$(cat "$T/err")|$(ids fmt.vp)" "0||fmt/x.bmp -|fmt/x.tga -|fmt/x.ico -|" \
	"BMP, TGA and ICO are read"
$PY - fmt.vp <<'EOF'
import sys, msgpack, numpy as np
from PIL import Image
recs = [o for o in msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False) if "image" in o]
got = {r["id"]: np.frombuffer(r["image"]["data"], np.uint8).reshape(40, 48, 3) for r in recs}
for name in ["fmt/x.bmp", "fmt/x.tga"]:
    want = np.array(Image.open(name).convert("RGB"))
    assert (got[name] == want).all(), name
EOF
ok $? "BMP and TGA at their own size equal Pillow's decode"
run imgprep --size 32 fmt/x.pdf fmt/x.svg data/circle/0.png -o doc.vp
is "$rc|$(cat "$T/err")|$(ids doc.vp)" \
	"1|imgprep: fmt/x.pdf: a document (PDF), not an image: --allow-documents reads it"$'\n'"imgprep: fmt/x.svg: a document (SVG), not an image: --allow-documents reads it"$'\n'"imgprep: 2 of 3 images failed|data/circle/0.png -|" \
	"a PDF and an SVG are refused by default, named, with the option that reads them"
run imgprep --allow-documents --size 32 fmt/x.pdf fmt/x.svg -o doc.vp
is "$rc|$(cat "$T/err")|$(ids doc.vp)" "0||fmt/x.pdf -|fmt/x.svg -|" \
	"--allow-documents reads them"
/usr/bin/time -f %M -o big.rss imgprep --size 224 big.jpg -o big.vp 2>"$T/err"
is "$?|$(cat "$T/err")|$(ids big.vp)" "0||big.jpg -|" \
	"a 12000x9000 JPEG is read with the default --max-pixels"
# Decoded at 1/8 (1500x1125): a full decode alone would take 324 MB. A
# sanitizer build's shadow memory says nothing about the decoder's.
[ -n "${VGGPIPE_SANITIZE:-}" ] || [ "$(cat big.rss)" -lt 200000 ]
ok $? "... shrunk on load: $(($(cat big.rss) / 1024)) MB at most"

# 5. The smaller points.
mkfifo fifo
run timeout 20 imgprep --size 32 fifo /dev/zero data/circle/0.png -o dev.vp
is "$rc|$(cat "$T/err")|$(ids dev.vp)" \
	"1|imgprep: fifo: not a regular file (a FIFO, a socket or a device)"$'\n'"imgprep: /dev/zero: not a regular file (a FIFO, a socket or a device)"$'\n'"imgprep: 2 of 3 images failed|data/circle/0.png -|" \
	"a FIFO and /dev/zero named as inputs: refused at once, not waited on or read forever"
try=$'\nTry \'imgprep --help\' for more information.'
for size in 31 4097x32 32x20; do
	run imgprep --size $size data
	is "$rc|$(cat "$T/err")" \
		"2|imgprep: --size: '$size' is not WxH or N with sides from 32 to 4096, the sizes vggfeat takes$try" \
		"--size $size: refused, since vggfeat would refuse it"
done
run imgprep --size 4096x32 data/circle/0.png
is "$rc|$(vggdump "$T/out" | jq -c 'select(.record) | .record.image.shape')" "0|[32,4096,3]" \
	"--size 4096x32: the extremes vggfeat takes are made"
sh "$SRC_DIR/tools/install-deps.sh" --print >deps
sh "$SRC_DIR/tools/install-deps.sh" --print --tests >test-deps
is "$(grep -cE '^python3-(torch|torchvision|sklearn|numpy|scipy|h5py)$' deps)|$(grep -cE '^python3-(torch|torchvision|sklearn|numpy)$' test-deps)|$(grep -c '^libvips-dev$' test-deps)" \
	"0|4|1" "make deps installs no test reference; make test-deps adds them to the rest"

# vggfeat stops at a full disk instead of computing the rest: with input
# that pauses it fails as soon as it writes; with input that is all
# there, the producer is cut off by SIGPIPE long before its end.
imgprep --size 32 --quiet data >six.vp
for i in $(seq 40); do cat six.vp; done >many.vp
(cat six.vp; exec sleep 60) >fifo &
writer=$!
run timeout 30 vggfeat --init-random 1 --layer block1_pool --pool avg -o /dev/full <fifo
kill $writer 2>/dev/null
wait $writer 2>/dev/null
is "$rc|$(cat "$T/err")" "1|vggfeat: /dev/full: write error: No space left on device" \
	"vggfeat writing to a full disk while its input pauses: status 1, at once"
cat many.vp | vggfeat --init-random 1 --layer block1_pool --pool avg -o /dev/full 2>/dev/null
is "${PIPESTATUS[*]}" "141 1" "vggfeat writing to a full disk stops reading its input"

# topeval's report lines up class names that are not ASCII.
mkdir -p utf/café utf/日本 utf/plain
cp data/circle/0.png data/circle/1.png utf/café/
cp data/square/0.png data/square/1.png utf/日本/
cp data/circle/2.png utf/plain/a.png
cp data/square/2.png utf/plain/b.png
imgprep --size 32 --quiet utf | vggfeat --init-random 1 --layer block1_pool --pool avg --quiet >utf.feat
topfit --epochs 2 --quiet -o utf.model utf.feat 2>/dev/null
topeval --model utf.model utf.feat >report.txt
$PY - report.txt <<'EOF'
import sys, unicodedata
def width(s):
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
# The class table (its heading and 3 rows) and the confusion matrix (its
# heading and 3 rows): fixed-width numbers after padded names, so every
# line of each is as wide as the others.
i = next(k for k, l in enumerate(lines) if l.startswith("class "))
j = next(k for k, l in enumerate(lines) if l.startswith("confusion matrix"))
for block in (lines[i:i + 4], lines[j + 1:j + 5]):
    assert len({width(l) for l in block}) == 1, block
EOF
ok $? "topeval pads UTF-8 class names by their width on a terminal, not their bytes"

# 1. Streaming: paths written one at a time into imgprep - | vggfeat |
# classify. Each prediction must come out before the next path goes in;
# only the order is asserted (the wait for each is generous), and the
# events are shown with their times.
imgprep --size 32 --quiet data | vggfeat --init-random 1 --layer block1_pool --pool avg --quiet >s.feat
topfit --epochs 3 --quiet -o s.model s.feat 2>/dev/null
mkfifo paths
events=$T/events
(imgprep --size 32 --quiet - <paths |
	vggfeat --init-random 1 --layer block1_pool --pool avg --batch 4 --quiet |
	classify --model s.model --quiet |
	while IFS= read -r line; do echo "$(date +%s.%N) out ${line%%,*}"; done >>"$events") &
pipeline=$!
exec 3>paths
start=$(date +%s.%N)
for i in 0 1 2; do
	path=data/square/$i.png
	echo "$(date +%s.%N) in $path" >>"$events"
	printf '%s\n' "$path" >&3
	for _ in $(seq 100); do
		grep -q " out $path\$" "$events" && break
		sleep 0.1
	done
	sleep 2
done
exec 3>&-
wait $pipeline
awk -v s="$start" '{ printf "#   %6.2f s  %s %s\n", $1 - s, $2, $3 }' "$events"
order=$(awk '{ print $2, $3 }' "$events" | tr '\n' '|')
is "$order" "in data/square/0.png|out id|out data/square/0.png|in data/square/1.png|out data/square/1.png|in data/square/2.png|out data/square/2.png|" \
	"imgprep - | vggfeat --batch 4 | classify: each prediction before the next path is written"

done_testing
