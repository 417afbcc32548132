#!/bin/bash
# imgprep and colour profiles: a wide-gamut (Adobe RGB) image, one close
# to sRGB but not sRGB, sRGB itself, CMYK, alpha; against lcms as Pillow's
# ImageCms runs it. --icc ignore reads the numbers as sRGB, as Keras does.
. "$(dirname "$0")/lib.sh"
plan 19

REF="$PY $TESTS_DIR/imgprep_ref.py"
$REF gencolour img || exit 1
cd img || exit 1

cmp_ref() {
	$REF compare "$@" >"$T/cmp" 2>&1 || echo "1 $* (the comparison failed: $(tail -1 "$T/cmp"))" >>"$T/cmp"
	while read -r st desc; do ok "$st" "$desc"; done <"$T/cmp"
}

# mean_diff STREAM ID REF: the mean absolute difference between a record
# and a reference, to show that a profile changed the picture.
mean_diff() {
	$REF compare "$1" "$2=$3@1000,1000" | sed 's/.*(mean \([0-9.]*\),.*/\1/'
}

# At the images' own size, nothing is resized: the profile is applied to
# the decoded values, within a level or two of lcms. Alpha is flattened
# after the profile is applied.
run imgprep --size 64x48 wide.png g22.png srgb.png widea.png cmyk.tif -o own.vp
is "$rc" 0 "images with Adobe RGB, gamma 2.2, sRGB and CMYK profiles decode"
cmp_ref own.vp wide.png=wide.png:icc@0.1,1 g22.png=g22.png:icc@0.2,2 \
	widea.png=widea.png:icc@0.5,2 cmyk.tif=cmyk.tif:icc@0.1,1
# An sRGB profile is not applied: the values are the file's own.
cmp_ref own.vp srgb.png=srgb.png
d=$(mean_diff own.vp wide.png wide.png)
awk -v d="$d" 'BEGIN { exit !(d > 10) }'
ok $? "the Adobe RGB profile moves the values by $d levels on average"
d=$(mean_diff own.vp g22.png g22.png)
awk -v d="$d" 'BEGIN { exit !(d > 1) }'
ok $? "a gamma 2.2 profile is not taken for sRGB's ($d levels on average)"

# --icc ignore: every profile is ignored, as by Keras' load_img.
run imgprep --size 64x48 --icc ignore wide.png g22.png srgb.png -o ign.vp
is "$rc" 0 "--icc ignore"
cmp_ref ign.vp wide.png=wide.png g22.png=g22.png srgb.png=srgb.png

# Resized: the profile is applied after the fit, to the small image, so
# the reference resizes the file's values first (CMYK too). Against
# applying it first the mean stays small; pixels at the edge of a colour
# outside sRGB (the red disc, in Adobe RGB) differ by tens of levels,
# since the transform clips what the resizing mixed.
imgprep --size 224x200 wide.jpg cmyk.jpg srgb.jpg plain.jpg -o fit.vp
cmp_ref fit.vp wide.jpg=wide.jpg:draft=224x200:crop=224x200:iccafter@0.4,24 \
	cmyk.jpg=cmyk.jpg:draft=224x200:crop=224x200:iccafter@0.3,8 \
	wide.jpg=wide.jpg:icc:draft=224x200:crop=224x200@0.6,64 \
	cmyk.jpg=cmyk.jpg:icc:draft=224x200:crop=224x200@0.4,48
$PY -c '
import sys; sys.path.insert(0, sys.argv[1]); import imgprep_ref as R
a = {r["id"]: r["array"] for r in R.read_stream(sys.argv[2])[1]}
sys.exit(0 if (a["srgb.jpg"] == a["plain.jpg"]).all() else 1)' "$TESTS_DIR" fit.vp
ok $? "a JPEG with an sRGB profile comes out as the same JPEG without one"

run imgprep --icc keras wide.png
is "$rc:$(wc -c <"$T/out")" "2:0" "--icc keras: usage error, nothing on stdout"
grep -q "^imgprep: --icc: 'keras' is not one of: use, ignore" "$T/err"
ok $? "the message names the choices"

done_testing
