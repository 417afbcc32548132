#!/bin/bash
# vggdump: JSON lines that jq reads whatever bytes the stream holds, tensor
# summaries and full data, usage and output errors.
. "$(dirname "$0")/lib.sh"
plan 17

$PY - <<'PY' > s.feat
import msgpack, struct, sys
p = msgpack.Packer(use_bin_type=True)
o = sys.stdout.buffer
o.write(p.pack({'vggpipe': 1, 'kind': 'features', 'provenance': {'weights': 'sha256:00'}}))
ids = [b'plain.jpg', b'tab\there', b'quote"back\\slash', b'ctrl\x01\x7f', b'caf\xe9',
       'emoji \U0001F600'.encode(), b'nl\nx']
for i, rid in enumerate(ids):
    o.write(p.pack({'id': rid, 'label': 'c%d' % (i % 2),
                    'features': {'shape': [2, 2], 'dtype': 'f32',
                                 'data': struct.pack('<4f', 1, 2, 3, float('nan') if i == 1 else 4)}}))
o.write(p.pack({'end': len(ids)}))
PY

vggdump s.feat > s.jsonl
ok $? "dumps a stream"
jq -e . s.jsonl > /dev/null
ok $? "every line is JSON that jq accepts"
is "$(wc -l < s.jsonl)" 9 "one line per header, record and trailer"
is "$(jq -r 'select(.record) | .record.id' s.jsonl | sed -n 2p)" "$(printf 'tab\there')" "a tab survives"
is "$(jq -r 'select(.record) | .record.id' s.jsonl | sed -n 3p)" 'quote"back\slash' "quotes and backslashes survive"
grep -q '"caf\\udce9"' s.jsonl
ok $? "a byte that is not UTF-8 is written as \\udcXX"
is "$(jq -r 'select(.record) | .record.id' s.jsonl | sed -n 6p)" "$(printf 'emoji \360\237\230\200')" "UTF-8 passes through"
is "$(jq -c 'select(.record) | .record.features | [.shape, .dtype, .min, .max, .mean]' s.jsonl | head -1)" \
   '[[2,2],"f32",1,4,2.5]' "tensor summary: shape, dtype, min, max, mean"
is "$(jq -c 'select(.record) | .record.features.nonfinite' s.jsonl | sed -n 2p)" 1 "non-finite values are counted"
is "$(vggdump --data s.feat | jq -c 'select(.record) | .record.features.data' | head -1)" '[1,2,3,4]' "--data prints the values"

cat s.feat s.feat | vggdump > two.jsonl
is "$(jq -c 'select(.header)' two.jsonl | wc -l)" 2 "concatenated streams: two headers"

vggdump --no-such-option s.feat > out 2> err
[ $? -eq 2 ] && [ ! -s out ] && grep -q "Try 'vggdump --help'" err
ok $? "an unknown option exits 2 with nothing on stdout"
vggdump --help | grep -q "Usage: vggdump"
ok $? "--help"
vggdump s.feat > /dev/full 2> err
[ $? -eq 1 ] && grep -q "No space left on device" err
ok $? "a full disk is an error that says so"
vggdump s.feat | head -c 1 > /dev/null 2> err
[ ! -s err ]
ok $? "a reader that goes away: a quiet exit"
echo previous > kept.jsonl
vggdump -o kept.jsonl s.feat missing.feat 2> err
[ $? -eq 1 ] && grep -q "missing.feat: No such file" err && [ "$(cat kept.jsonl)" = previous ]
ok $? "a missing input is a data error naming the file; the -o file is kept"
vggdump -o kept.jsonl s.feat && cmp -s kept.jsonl s.jsonl
ok $? "-o writes the file"
done_testing
