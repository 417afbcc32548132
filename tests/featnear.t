#!/bin/bash
# featnear: neighbours against numpy's brute force over many blocks and
# threads, planted near copies of test photos found in a training folder
# at the --leaks threshold, the same image never its own neighbour,
# augmentation copies, formats, and what it refuses.
. "$(dirname "$0")/lib.sh"
plan 26

REF="$PY $TESTS_DIR/near_ref.py"

# Clustered features; the queries hold near copies of index rows 3 and 10
# (3 twice), and a zero vector; index rows 100, 101 and 690 equal row 3,
# 11 and 300 equal row 10: ties, which go to the earlier record.
$REF feats idx.feat --n 700 --shape 3,3,32 --seed 1 --prefix i/ \
	--dup 3:100 --dup 3:101 --dup 3:690 --dup 10:11 --dup 10:300
$REF feats q.feat --n 300 --shape 3,3,32 --seed 2 --prefix q/ --like idx.feat:3,3,10,20 --zero 5

# 300 queries in blocks of 128 against 700 records in blocks of 64.
featnear --index idx.feat -k 7 -b 128 --block 64 -t 1 q.feat > k1.csv
$REF brute want.csv q.feat --index idx.feat -k 7
check "the 7 nearest equal numpy's brute force: order, ties, scores within 1e-5" \
	$REF compare k1.csv want.csv
$REF compare k1.csv want.csv | sed 's/^/# /'
featnear --index idx.feat -k 7 -b 128 --block 64 -t 2 q.feat > k2.csv
cmp -s k1.csv k2.csv; ok $? "the same bytes on 1 and 2 threads"
featnear --index idx.feat -k 7 q.feat | cmp -s - k1.csv; ok $? "the same with the default blocks"
is "$(grep -c '^q/i/00003.jpg,i/00\(003\|100\|101\|690\).jpg,[1-4],' k1.csv)" 8 \
	"equal records tie, in index order"
# Two index files are one index, in order; from a pipe it is spooled.
$REF feats idx-a.feat --n 300 --shape 3,3,32 --seed 1 --prefix i/
$PY - <<'PY'
import msgpack
recs = [o for o in msgpack.Unpacker(open("idx.feat", "rb"), raw=False)]
head, body = recs[0], recs[1:-1]
for name, part in (("idx-1.feat", body[:250]), ("idx-2.feat", body[250:])):
    with open(name, "wb") as f:
        for o in [head] + part + [{"end": len(part)}]:
            f.write(msgpack.packb(o, use_bin_type=True))
PY
featnear -k 7 -b 128 --block 64 --index idx-1.feat --index <(cat idx-2.feat) q.feat | cmp -s - k1.csv
ok $? "an index in two files, the second a pipe read for every block of queries"

# Thresholds: every pair above, and -k still caps.
featnear --index idx.feat --threshold 0.8 --block 50 q.feat > t.csv
$REF brute want-t.csv q.feat --index idx.feat --threshold 0.8
check "--threshold 0.8: every pair above it, as numpy" $REF compare t.csv want-t.csv
featnear --index idx.feat --threshold 0.8 -k 1 q.feat > t1.csv
$REF brute want-t1.csv q.feat --index idx.feat --threshold 0.8 -k 1
check "--threshold with -k 1" $REF compare t1.csv want-t1.csv

# A set against itself: the same id is the same image, never a neighbour.
featnear --index idx.feat -k 3 idx.feat > self.csv
is "$(awk -F, 'NR > 1 && $1 == $2' self.csv | wc -l)" 0 "a self-join never pairs a record with itself"
is "$(grep -c '^i/00003.jpg,i/00100.jpg,1,' self.csv)" 1 "... and finds its exact copies"

# Augmentation copies: by default only each image's plain copy.
$REF feats cp.feat --n 30 --shape 16 --copies 2 --labels 3 --seed 3
featnear --index cp.feat -k 2 cp.feat > cp.csv
is "$(($(wc -l < cp.csv) - 1))" 60 "plain copies only: 30 queries x 2"
featnear --index cp.feat -k 2 --all-copies cp.feat > all.csv
is "$(head -1 all.csv)" "query,neighbour,rank,similarity,query_label,neighbour_label,query_copy,neighbour_copy" \
	"--all-copies: the copy columns"
is "$(($(wc -l < all.csv) - 1))/$(awk -F, 'NR > 1 && $1 == $2' all.csv | wc -l)" "180/0" \
	"--all-copies: every record a query, never a copy of its own image"
is "$(sed -n 2p cp.csv | cut -d, -f5)" "c0" "labels in the output"

# Formats.
featnear --index idx.feat -k 2 -f tsv q.feat > f.tsv
awk -F, 'NR == 1 || $3 <= 2' k1.csv | cmp -s - <(tr '\t' , < f.tsv)
ok $? "TSV: the same rows as CSV"
featnear --index cp.feat -k 2 --all-copies -f jsonl cp.feat > f.jsonl
featnear --index cp.feat -k 2 --all-copies -f msgpack cp.feat > f.mp
$PY - <<'PY'
import csv, json, msgpack
want = list(csv.DictReader(open("all.csv")))
for rows in ([json.loads(l) for l in open("f.jsonl")],
             list(msgpack.Unpacker(open("f.mp", "rb"), raw=False))):
    assert len(rows) == len(want)
    for r, w in zip(rows, want):
        assert [r["query"], r["neighbour"], r["rank"], r["query_label"], r["query_copy"]] == \
            [w["query"], w["neighbour"], int(w["rank"]), w["query_label"], int(w["query_copy"])], (r, w)
        assert abs(r["similarity"] - float(w["similarity"])) < 1e-6
PY
ok $? "JSON lines and msgpack: the same pairs, keys and copies"

# Planted near copies: distinct photos, and in train a JPEG resaved at
# quality 75 and a copy cut by 2-5% each side of 12 of the 24 test ones.
$REF photos ph --test 24 --distinct 36 --planted 12
for split in train test; do
	imgprep --quiet --size 96 ph/$split | vggfeat --quiet --init-random 1 > ph-$split.feat
done
run featnear --leaks --index ph-train.feat ph-test.feat
cp out leaks.csv
check "--leaks finds every planted copy" $REF pairs leaks.csv ph
$REF pairs leaks.csv ph | sed 's/^/# /'
grep -q "^featnear: 12 of 24 queries have a near copy in the index (similarity 0.985 or more)$" err
ok $? "the summary on stderr: 12 of 24 test images have a copy in train"
is "$rc" 0 "leaks found: exit 0"
# Augmented copies of the training photos all resemble their own images.
imgprep --quiet --size 96 --augment 2 --keep-original --shift-x 0.03 ph/test |
	vggfeat --quiet --init-random 1 > ph-aug.feat
featnear --all-copies --index ph-aug.feat --threshold 0.95 -k 1 -f tsv ph-test.feat > aug.tsv
is "$(awk -F'\t' 'NR > 1 && $2 !~ /ph\/test/' aug.tsv | wc -l)" 0 \
	"--all-copies: a test photo's nearest is never its own augmented copy"

# What it refuses: nothing written under -o.
echo old > keep.csv
expect_fail 2 "--index FILE is required" "no --index" featnear q.feat
expect_fail 2 "--top: 'x' is not an integer" "a bad -k" featnear --index idx.feat -k x q.feat
$REF feats other.feat --n 5 --shape 3,3,16 --seed 4
expect_fail 1 "other.feat: record 1: features of shape \[3, 3, 16\]; those of q.feat are \[3, 3, 32\]" \
	"features of another shape, both files named" featnear --index other.feat -o keep.csv q.feat
imgprep --quiet --size 64 ph/test | tee ph-64.img | vggfeat --quiet --init-random 1 > ph-64.feat
expect_fail 1 "ph-64.feat: features made differently from those of ph-test.feat.*provenance.size" \
	"another image size: both files and the key named" featnear --index ph-64.feat -o keep.csv ph-test.feat
vggfeat --quiet --init-random 1 --layer block4_pool < ph-64.img > ph-b4.feat
expect_fail 1 "ph-b4.feat: features made differently from those of ph-64.feat.*cut at block4_pool" \
	"another layer" featnear --index ph-b4.feat -o keep.csv ph-64.feat
expect_fail 1 "--index: missing.feat: No such file" "a missing index" \
	featnear --index missing.feat -o keep.csv q.feat
is "$(cat keep.csv)" old "-o is left as it was on every error"

done_testing
