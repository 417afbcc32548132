#!/bin/bash
# imgprep --augment: flips, rotations and the whole Keras transform against
# independent references; the same bytes whatever the threads or shards.
. "$(dirname "$0")/lib.sh"
plan 13

REF="$PY $TESTS_DIR/imgprep_ref.py"
$REF gen img || exit 1
cd img || exit 1

# A random horizontal flip: each copy is the original or its exact mirror,
# and eight copies show both.
run imgprep --size 64x48 --augment 8 --keep-original --flip h smooth.png
$PY -c '
import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import imgprep_ref as R
h, recs = R.read_stream(sys.argv[2])
assert [r["copy"] for r in recs] == list(range(9)), [r["copy"] for r in recs]
orig = recs[0]["array"]
kinds = ["same" if np.array_equal(r["array"], orig) else
         "mirror" if np.array_equal(r["array"], orig[:, ::-1]) else "other" for r in recs[1:]]
print(kinds)
sys.exit(0 if "other" not in kinds and "same" in kinds and "mirror" in kinds else 1)' \
	"$TESTS_DIR" "$T/out" >"$T/kinds"
ok $? "--flip h: every copy is the original or exactly its mirror, both occur"
run imgprep --size 64x48 --augment 4 --flip v smooth.png
$PY -c '
import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import imgprep_ref as R
_, recs = R.read_stream(sys.argv[2])
_, orig = R.read_stream(sys.argv[3])
o = orig[0]["array"]
sys.exit(0 if all(np.array_equal(r["array"], o) or np.array_equal(r["array"], o[::-1])
                  for r in recs) and [r["copy"] for r in recs] == [1, 2, 3, 4] else 1)' \
	"$TESTS_DIR" "$T/out" <(imgprep --size 64x48 smooth.png)
ok $? "--flip v without --keep-original: copies 1-4, each the original or its vertical mirror"

# A fixed rotation (a range of one value) against PIL's rotate of the same
# prepared image, over the pixels away from the rotated border. Keras
# turns positive angles clockwise, PIL counter-clockwise.
run imgprep --size 224 --augment 1 --rotation 30:30 --fill constant smooth.png -o rot.vp
$REF compare rot.vp smooth.png=smooth.png:crop=224x224:rot=-30@1,8 >"$T/cmp"
read -r st desc <"$T/cmp"
ok "$st" "--rotation 30:30 against PIL rotate(-30): $desc"

# The whole transform against Keras' apply_affine_transform, re-implemented
# with scipy.ndimage as Keras does (bilinear). Keras' constant mode is
# scipy's "constant", which treats the border pixels differently from a
# fill outside them; imgprep fills outside as scipy's "grid-constant".
knobs="--rotation 20:20 --shift-x 0.1:0.1 --shift-y -0.2:-0.2 --shear 15:15 --zoom 1.2:1.2"
for fill in constant:grid-constant nearest:nearest reflect:reflect wrap:grid-wrap; do
	imgprep --size 64x48 --augment 1 --keep-original $knobs --fill ${fill%%:*} smooth.png -o k.vp
	run $REF keras k.vp 20 0.1 -0.2 15 1.2 ${fill#*:} 0.05 1
	ok "$rc" "--fill ${fill%%:*}: rotation, shifts, shear and zoom equal Keras' within 1 ($(cat "$T/out"))"
done

# Seeded: the same bytes with 1 and 2 threads, other bytes with another
# seed, and the same records whichever shard produces them.
args="--size 32 --augment 3 --keep-original --rotation 40 --shift-x 0.2 --zoom 0.3 --shear 10 --flip hv --fill reflect --seed 5"
set -- noise.png smooth.png grey.png noise.tif orient6.jpg rgba.png
imgprep -j1 $args "$@" -o j1.vp
imgprep -j2 $args "$@" -o j2.vp
cmp -s j1.vp j2.vp
ok $? "--threads 1 and 2 give the same bytes"
imgprep -j2 $args --seed 6 "$@" -o s6.vp
! cmp -s j1.vp s6.vp
ok $? "another seed gives other copies"
imgprep $args --shard 1/2 "$@" -o a.vp
imgprep $args --shard 2/2 "$@" -o b.vp
cat a.vp b.vp >ab.vp
$PY -c '
import sys, msgpack
def recs(p):
    out = {}
    with open(p, "rb") as f:
        for o in msgpack.Unpacker(f, raw=True):
            if b"image" in o:
                out[(o[b"id"], o[b"copy"])] = o[b"image"][b"data"]
    return out
sys.exit(0 if recs(sys.argv[1]) == recs(sys.argv[2]) else 1)' j1.vp ab.vp
ok $? "two shards together hold exactly the unsharded records, byte for byte"
$PY -c '
import sys; sys.path.insert(0, sys.argv[1]); import imgprep_ref as R
h, recs = R.read_stream(sys.argv[2])
a = h["augment"]
assert a["copies"] == 3 and a["keep_original"] is True and a["seed"] == 5, a
assert a["rotation"] == [-40, 40] and a["zoom"] == [0.7, 1.3] and a["shift_y"] == [0, 0], a
assert a["flip"] == "hv" and a["fill"] == "reflect", a
assert [r["copy"] for r in recs] == [0, 1, 2, 3] * 6' "$TESTS_DIR" j1.vp
ok $? "the header records the augmentation; records carry copy numbers 0-3"

expect_fail 2 'keep-original needs --augment' "--keep-original without --augment is a usage error" \
	imgprep --keep-original smooth.png
expect_fail 2 'zoom' "--zoom 1.5 is out of range" imgprep --augment 1 --zoom 1.5 smooth.png

done_testing
