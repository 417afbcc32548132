#!/bin/bash
# imgprep: decoding every format, colour, alpha, depth, EXIF orientation and
# resizing, checked against Pillow's decode of the same files; bad files.
. "$(dirname "$0")/lib.sh"
plan 66

REF="$PY $TESTS_DIR/imgprep_ref.py"
$REF gen img || exit 1
cd img || exit 1

# cmp_ref STREAM ID=REF[@MEAN,MAX]... : one TAP line per comparison.
cmp_ref() {
	$REF compare "$@" >"$T/cmp" 2>&1 || echo "1 $* (the comparison failed: $(tail -1 "$T/cmp"))" >>"$T/cmp"
	while read -r st desc; do ok "$st" "$desc"; done <"$T/cmp"
}

# Lossless formats at their own size (no resampling) equal Pillow's decode
# exactly; so does a JPEG, decoded by the same libjpeg at full scale.
run imgprep --size 48x32 noise.png noise.tif noise.webp noise.gif noise.jpg \
	grey.png grey16.png rgb16.png rgba.png greya.png icc.png cmyk.jpg -o n.vp
is "$rc" 0 "twelve formats and layouts decode"
# 16-bit samples become their high byte, as in Pillow's 8-bit view; alpha
# is flattened on white, where the blend may round the other way by one;
# an embedded sRGB profile goes through lcms and back, within one. A CMYK
# JPEG is converted through a CMYK profile, not by PIL's 255 - C: only
# roughly alike.
cmp_ref n.vp noise.png=noise.png noise.tif=noise.tif noise.webp=noise.webp \
	noise.gif=noise.gif noise.jpg=noise.jpg grey.png=grey.png \
	grey16.png=grey16.png:hb rgb16.png=rgb16.png:hb \
	rgba.png=rgba.png@0.6,1 greya.png=greya.png@0.6,1 icc.png=icc.png@0.1,1 \
	cmyk.jpg=cmyk.jpg@40,160
run imgprep --size 48x32 --background '#000000' rgba.png
$PY -c '
import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import imgprep_ref as R
from PIL import Image
a = np.array(Image.open("rgba.png")).astype(float)
ref = np.round(a[..., :3] * a[..., 3:] / 255)
got = R.read_stream(sys.argv[2])[1][0]["array"]
sys.exit(0 if np.abs(got - ref).max() <= 1 else 1)' "$TESTS_DIR" "$T/out"
ok $? "--background #000000: alpha flattened on black"

# EXIF orientations 1-8: every file shows the same upright 512x256 picture,
# equal to Pillow's exif_transpose. Cropping an oriented picture cuts the
# same centre as cropping the upright one, also when a margin is odd
# (370x185 cut to 256x185: 57 columns each side).
orients="orient1.jpg orient2.jpg orient3.jpg orient4.jpg orient5.jpg orient6.jpg orient7.jpg orient8.jpg"
imgprep --size 512x256 $orients -o o.vp
cmp_ref o.vp $(for f in $orients; do echo "$f=$f"; done)
imgprep --size 256x185 $orients -o o2.vp
cmp_ref o2.vp $(for f in $orients; do echo "$f=$f:crop=256x185@0.4,5"; done)
# A turned JPEG's DCT-reduced scale is chosen for the picture as seen: to a
# target shaped unlike the stored image (32x64 from 512x256), it is never
# reduced so far that it must be enlarged again (a blur).
imgprep --size 32x64 $orients -o o3.vp
cmp_ref o3.vp $(for f in $orients; do echo "$f=$f:crop=32x64@3,10"; done)

# Resizing, against Pillow's bicubic resize of the box each fit rule uses.
# Metric: mean and max absolute difference over all samples. JPEGs are
# decoded at a DCT-reduced scale when the target allows, as with Pillow's
# draft mode; against a full-scale decode that shows at sharp edges.
# --fit pad needs only the 224x168 inside the padding, which the large
# JPEG gives at 1/8 scale: there the two decoders' chroma upsampling
# differs at the red disc's edge. Reductions by more than 4 (the large PNG)
# start with a box filter.
for fit in crop squash pad; do
	imgprep --fit $fit --size 224x200 smooth.png smooth.jpg large.jpg large.png -o s.vp
	draft=224x200 large=0.3,4
	[ $fit = pad ] && draft=224x168 large=1.5,80
	cmp_ref s.vp smooth.png=smooth.png:$fit=224x200@0.3,4 \
		smooth.jpg=smooth.jpg:draft=$draft:$fit=224x200@0.3,4 \
		large.jpg=large.jpg:draft=$draft:$fit=224x200@$large \
		large.png=large.png:$fit=224x200@0.3,8
done
cmp_ref s.vp large.jpg=large.jpg:pad=224x200@1.5,80
run imgprep --size 224 tiny1.png tiny23.png -o t.vp
is "$rc" 0 "1x1 and 2x3 images scale up"
cmp_ref t.vp tiny1.png=tiny1.png:crop=224x224 tiny23.png=tiny23.png:crop=224x224@5,64
$PY -c '
import sys; sys.path.insert(0, sys.argv[1]); import imgprep_ref as R
h, recs = R.read_stream(sys.argv[2])
assert h["size"] == [224, 224] and h["fit"] == "crop" and h["classes"] == [], h
assert "augment" not in h and all("label" not in r and "copy" not in r for r in recs)
assert [r["array"].shape for r in recs] == [(224, 224, 3)] * 2' "$TESTS_DIR" t.vp
ok $? "header: size, fit, no classes; records without label or copy"

# Bad files: each named with its reason, the good ones still delivered.
run imgprep --size 32 noise.png empty.png text.jpg corrupt.png truncated.jpg noise.tif -o bad.vp
is "$rc" 1 "bad files: exit status 1"
grep -q '^imgprep: empty.png: empty file$' "$T/err"
ok $? "a zero-byte file is named with its reason"
grep -q '^imgprep: text.jpg: not an image format' "$T/err"
ok $? "a text file is named as not an image"
grep -q '^imgprep: corrupt.png: .' "$T/err"
ok $? "a corrupt PNG is named with libvips' reason"
grep -q '^imgprep: truncated.jpg: .*[Pp]remature end' "$T/err"
ok $? "a truncated JPEG is named as cut short"
grep -q '^imgprep: 4 of 6 images failed$' "$T/err"
ok $? "the count of failures comes at the end"
is "$($REF ids bad.vp | cut -f1 | tr '\n' ' ')" "noise.png noise.tif " \
	"every good record is delivered, in order, with a trailer"
echo previous >strict.vp
run imgprep --strict --size 32 noise.png empty.png noise.tif -o strict.vp
is "$rc:$(cat strict.vp)" "1:previous" "--strict stops at the first failure, -o target untouched"
# The limit is on what is decoded: the 3-megapixel JPEG is decoded at a
# quarter of its size for 224x224, the PNG at its own.
run imgprep --max-pixels 1000000 large.jpg large.png smooth.jpg -o big.vp
is "$rc:$($REF ids big.vp | cut -f1 | tr '\n' ' ')" "1:large.jpg smooth.jpg " \
	"--max-pixels: a 3-megapixel PNG is refused, a JPEG shrunk on load to 500x375 is not"
grep -q '^imgprep: large.png: 2000 x 1500 pixels is more than the limit of 1000000$' "$T/err"
ok $? "the pixel limit is named in the warning"
run imgprep --max-pixels 100000 large.jpg -o big.vp
grep -q '^imgprep: large.jpg: 2000 x 1500 pixels, even decoded at a reduced scale, is more than the limit of 100000$' "$T/err"
ok $? "a JPEG over the limit even when shrunk on load says so"

done_testing
