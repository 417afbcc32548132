#!/bin/bash
# classify: predictions against an independent forward pass, formats,
# quoting, input order, bounded memory, and what it refuses.
. "$(dirname "$0")/lib.sh"
plan 23

gen() { $PY "$TESTS_DIR/top_data.py" "$@"; }
gen gauss g --classes 3 --dim 6 --n 200 --seed 4
topfit --hidden 8,5 --batchnorm --epochs 5 --quiet --threads 1 -o g.model g-train.feat

run classify --help
ok $(( rc != 0 )) "--help exits 0"
expect_fail 2 "--model" "--model is required" classify g-valid.feat
is "$(wc -c < out)" 0 "a usage error writes nothing to stdout"
expect_fail 2 "top" "a bad --top" classify -m g.model --top x g-valid.feat

classify -m g.model g-valid.feat > p.csv
is "$(head -1 p.csv)" "id,label,probability" "CSV header"
is "$(wc -l < p.csv)" 61 "one line per record"
is "$(sed -n 2p p.csv | cut -d, -f1)" "valid/00000.jpg" "input order"
classify -m g.model < g-valid.feat | cmp -s - p.csv; ok $? "standard input, the same predictions"
classify -m g.model -o out.csv g-valid.feat && cmp -s out.csv p.csv; ok $? "-o FILE"

# Every probability against numpy's forward pass over the model file
# (dense, batchnorm with running statistics, relu, softmax).
classify -m g.model --top 3 -f jsonl g-valid.feat > p.jsonl
$PY "$TESTS_DIR/top_model.py" forward g.model g-valid.feat > ref.txt
$PY -c "
import json, sys
ref = [l.split() for l in open('ref.txt')]
got = [json.loads(l) for l in open('p.jsonl')]
import msgpack
classes = next(msgpack.Unpacker(open('g.model','rb'), raw=False))['classes']
worst = 0
for r, g in zip(ref, got):
    assert r[0] == g['id']
    p = dict((t['label'], t['probability']) for t in g['top'])
    for c, v in zip(classes, r[1:]):
        worst = max(worst, abs(p[c] - float(v)))
    assert g['label'] == classes[max(range(3), key=lambda i: float(r[1 + i]))]
assert len(ref) == len(got) == 60
sys.exit(worst > 1e-5)
"
ok $? "probabilities equal an independent forward pass within 1e-5"

classify -m g.model --top 2 g-valid.feat > t.csv
is "$(head -1 t.csv)" "id,label,probability,label_1,probability_1,label_2,probability_2" "--top 2 header"
awk -F, 'NR > 1 && ($2 != $4 || $3 < $7) { exit 1 }' t.csv; ok $? "--top lists the best first"
classify -m g.model --top 2 -f tsv g-valid.feat > t.tsv
is "$(head -1 t.tsv)" "$(printf 'id\tlabel\tprobability\tlabel_1\tprobability_1\tlabel_2\tprobability_2')" "TSV header"
classify -m g.model -f msgpack g-valid.feat > p.mp
$PY -c "
import msgpack, csv
rows = list(msgpack.Unpacker(open('p.mp','rb'), raw=False))
ref = list(csv.DictReader(open('p.csv')))
assert len(rows) == len(ref) and all(a['id'] == b['id'] and a['label'] == b['label'] for a, b in zip(rows, ref))
"
ok $? "msgpack output: one map per record, as the CSV"

# RFC 4180 quoting of ids; TSV escapes; JSON of non-UTF-8 ids.
$PY - <<'PY'
import msgpack
ids = ['a,b.jpg', 'say "cheese".jpg', 'two\nlines.jpg', 'tab\there.jpg', b'\xff\xfe.jpg']
with open('odd.feat', 'wb') as f:
    f.write(msgpack.packb({'vggpipe': 1, 'kind': 'features', 'classes': [],
        'provenance': {'backbone': 'vgg16', 'weights': 'sha256:' + 'ab' * 32, 'layer': 'block5_pool',
                       'pooling': 'avg', 'preprocess': 'caffe', 'size': [224, 224], 'fit': 'crop'}}))
    for i in ids:
        f.write(msgpack.packb({'id': i, 'features': {'shape': [6], 'dtype': 'f32', 'data': b'\0' * 24}}, use_bin_type=True))
    f.write(msgpack.packb({'end': len(ids)}))
PY
classify -m g.model odd.feat > odd.csv
$PY -c "
import csv
rows = list(csv.reader(open('odd.csv', newline='', encoding='utf-8', errors='surrogateescape')))
assert [r[0] for r in rows[1:]] == ['a,b.jpg', 'say \"cheese\".jpg', 'two\nlines.jpg', 'tab\there.jpg', '\udcff\udcfe.jpg'], rows
"
ok $? "CSV quotes ids with commas, quotes and newlines (RFC 4180)"
classify -m g.model -f tsv odd.feat > odd.tsv
is "$(sed -n 4,5p odd.tsv | cut -f1)" "$(printf '%s\n%s' 'two\nlines.jpg' 'tab\there.jpg')" "TSV escapes tabs and newlines"
classify -m g.model -f jsonl odd.feat > odd.jsonl
$PY -c "
import json
ids = [json.loads(l)['id'] for l in open('odd.jsonl')]
assert ids[4] == '\udcff\udcfe.jpg' and ids[2] == 'two\nlines.jpg'
"
ok $? "JSON lines escape ids; bytes that are not UTF-8 become \\udcXX"

# Memory does not grow with the number of records.
gen random small.feat --n 200 --shape 2048 --classes 3 --unlabelled
gen random large.feat --n 4000 --shape 2048 --classes 3 --unlabelled
gen random r.feat --n 50 --shape 2048 --classes 3
topfit --hidden 8 --epochs 1 --quiet -o r.model r.feat
# The status is classify's (time exits with it, 128+N for a signal): a
# run that died early used little memory and would pass on its figure.
rss() ( set -o pipefail; /usr/bin/time -f %M classify -m r.model "$1" 2>&1 >/dev/null | tail -1 )
a=$(rss small.feat); sa=$?
b=$(rss large.feat); sb=$?
ok $(( sa || sb || b > a + 8192 )) "peak memory $a KB for 200 records, $b KB for 4000 (classify exited $sa, $sb)"

# Refusals.
gen gauss w --classes 3 --dim 6 --n 200 --seed 4 --weights random:3
expect_fail 1 'provenance.weights: "random:3" here' "other weights are refused" classify -m g.model w-valid.feat
gen gauss s --classes 3 --dim 7 --n 200 --seed 4
expect_fail 1 "shape \[7\]; the model takes \[6\]" "another shape is refused" classify -m g.model s-valid.feat
head -c 3000 g-valid.feat > cut.feat
expect_fail 1 "cut.feat" "a truncated stream is an error" classify -m g.model cut.feat
expect_fail 1 "missing.model" "a missing model" classify -m missing.model g-valid.feat
gen gauss nan --classes 3 --dim 6 --n 200 --seed 4 --nan 2
expect_fail 1 "record 2 \(id 'train/00001.jpg'\): feature 3 is NaN" "a NaN feature names its record" \
	classify -m g.model nan-train.feat

done_testing
