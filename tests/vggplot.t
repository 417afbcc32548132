#!/bin/bash
# vggplot: pictures are checked for content, not only existence.
. "$(dirname "$0")/lib.sh"
plan 14
plot="$SRC_DIR/tools/vggplot"

# A known confusion matrix: each cell's shade is its share of the row.
cat > report.json <<'JSON'
{"confusion_labels": ["cat", "dog", "bird"],
 "confusion": [[10, 0, 0], [5, 5, 0], [1, 2, 7]]}
JSON
"$plot" confusion report.json -o conf.png
ok $? "confusion: writes a PNG"
$PY - <<'PY'
import sys
from PIL import Image
img = Image.open("conf.png").convert("RGB")
CELL, LEFT, TOP = 72, 200, 120
matrix = [[10, 0, 0], [5, 5, 0], [1, 2, 7]]
def shade(f):
    return tuple(round(a + (b - a) * f) for a, b in zip((255, 255, 255), (8, 48, 107)))
bad = []
for r, row in enumerate(matrix):
    for c, n in enumerate(row):
        # Sample away from the count printed in the middle and the outline.
        px = img.getpixel((LEFT + c * CELL + 6, TOP + r * CELL + 6))
        want = shade(n / sum(row))
        if max(abs(a - b) for a, b in zip(px, want)) > 2:
            bad.append((r, c, px, want))
if bad:
    print("# cells with the wrong shade:", bad)
    sys.exit(1)
PY
ok $? "confusion: every cell has the shade of its share of the row, in its place"
"$plot" confusion /dev/null -o x.png 2> err
[ $? -eq 1 ] && grep -q "not JSON" err && [ ! -e x.png ]
ok $? "confusion: a bad report is a data error and writes nothing"

# A contact sheet: six plain images, two of them predicted wrong.
$PY - <<'PY'
import csv, msgpack
p = msgpack.Packer(use_bin_type=True).pack
colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (128, 0, 128)]
with open("test.img", "wb") as f:
    f.write(p({"vggpipe": 1, "kind": "images", "size": [32, 32], "fit": "crop"}))
    for i, c in enumerate(colours):
        f.write(p({"id": f"img{i}.png", "label": "a" if i % 2 else "b",
                   "image": {"shape": [32, 32, 3], "dtype": "u8", "data": bytes(c) * 1024}}))
    f.write(p({"end": len(colours)}))
with open("pred.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "label", "probability"])
    for i in range(6):
        truth = "a" if i % 2 else "b"
        w.writerow([f"img{i}.png", truth if i not in (1, 4) else "c", 0.9])
PY
"$plot" sheet --images test.img --predictions pred.csv --columns 3 --tile 64 -o sheet.png
ok $? "sheet: writes a PNG"
$PY - <<'PY'
import sys
from PIL import Image
img = Image.open("sheet.png").convert("RGB")
tile, pad, text_h = 64, 6, 40
cw, ch = tile + 2 * pad, tile + text_h + 2 * pad
colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (128, 0, 128)]
problems = []
if img.size != (3 * cw, 2 * ch):
    problems.append(("size", img.size))
for k, want in enumerate(colours):
    x0, y0 = (k % 3) * cw, (k // 3) * ch
    centre = img.getpixel((x0 + pad + tile // 2, y0 + pad + tile // 2))
    if centre != want:
        problems.append((k, "centre", centre, want))
    frame = img.getpixel((x0 + 2, y0 + 2))
    wrong = k in (1, 4)
    if (frame == (200, 0, 0)) != wrong:
        problems.append((k, "frame", frame))
if problems:
    print("# sheet problems:", problems)
    sys.exit(1)
PY
ok $? "sheet: a 3x2 grid of tiles in order, red frames exactly on the wrong predictions"
"$plot" sheet --images test.img --predictions report.json -o x.png 2> err
[ $? -eq 1 ] && grep -q "not classify's CSV" err && [ ! -e x.png ]
ok $? "sheet: a file that is not classify's CSV is refused"

# Suspects: four of the six, most suspect first, drawn in the list's
# order, each framed; an image of the stream not in the list left out.
printf 'id,given,suggested,p_given,p_suggested\nimg4.png,b,a,0.01,0.97\nimg0.png,b,a,0.1,0.8\nimg5.png,a,b,0.2,0.7\nimg2.png,b,a,0.3,0.6\n' > sus.csv
"$plot" suspects --images test.img --suspects sus.csv --columns 2 --tile 64 -n 3 -o sus.png
ok $? "suspects: writes a PNG"
$PY - <<'PY'
import sys
from PIL import Image
img = Image.open("sus.png").convert("RGB")
tile, pad, text_h = 64, 6, 40
cw, ch = tile + 2 * pad, tile + text_h + 2 * pad
colours = {0: (255, 0, 0), 4: (0, 255, 255), 5: (128, 0, 128)}
problems = []
if img.size != (2 * cw, 2 * ch):
    problems.append(("size", img.size))
for k, i in enumerate((4, 0, 5)):
    x0, y0 = (k % 2) * cw, (k // 2) * ch
    centre = img.getpixel((x0 + pad + tile // 2, y0 + pad + tile // 2))
    if centre != colours[i]:
        problems.append((k, "centre", centre, colours[i]))
    if img.getpixel((x0 + 2, y0 + 2)) != (200, 0, 0):
        problems.append((k, "frame"))
if problems:
    print("# suspects sheet problems:", problems)
    sys.exit(1)
PY
ok $? "suspects: -n 3 of them, most suspect first, in a 2x2 grid, each framed"
head -1 sus.csv > none.csv
"$plot" suspects --images test.img --suspects none.csv -o none.png &&
	$PY -c 'from PIL import Image; assert Image.open("none.png").size == (360, 40)'
ok $? "suspects: none, a page that says so"
"$plot" suspects --images test.img --suspects pred.csv -o x.png 2> err
[ $? -eq 1 ] && grep -q "not a suspects CSV" err && [ ! -e x.png ]
ok $? "suspects: a file that is not a suspects CSV is refused"

printf 'epoch\tloss\taccuracy\tval_loss\tval_accuracy\n1\t1.2\t0.4\t1.3\t0.3\n2\t0.8\t0.7\t1.0\t0.5\n3\t0.5\t0.9\t0.9\t0.6\n' > h.tsv
"$plot" curves h.tsv -o curves.png
ok $? "curves: writes a PNG"
$PY - <<'PY'
import sys
from PIL import Image
img = Image.open("curves.png").convert("RGB")
colours = img.getcolors(1 << 20)
# gnuplot's first two line colours: training and validation.
have = {c for _, c in colours}
sys.exit(0 if img.size == (1000, 420) and (148, 0, 211) in have and (0, 158, 115) in have else 1)
PY
ok $? "curves: both panels drawn with a training and a validation line"
"$plot" curves report.json -o x.png 2> err
[ $? -eq 1 ] && grep -q "not a topfit history" err
ok $? "curves: a file that is not a history is refused"
"$plot" nonsense > out 2> err
[ $? -eq 2 ] && [ ! -s out ]
ok $? "an unknown command is a usage error"
done_testing
