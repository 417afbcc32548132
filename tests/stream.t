#!/bin/bash
# The stream contract against an independent implementation (Python's
# msgpack), hostile length claims under a memory limit, truncation through
# a pipe, and slow writers.
. "$(dirname "$0")/lib.sh"
plan 16

sample="$VGGPIPE_BUILD/tests/test_stream --write-sample"

# Our writer, Python's reader.
$sample features > ours.feat
$PY - ours.feat <<'PY' > py.out 2>&1
import msgpack, struct, sys
objs = list(msgpack.Unpacker(open(sys.argv[1], 'rb'), raw=False))
h, r1, r2, t = objs
assert h == {'vggpipe': 1, 'kind': 'features',
             'provenance': {'backbone': 'vgg16', 'weights': 'sha256:aa'}}, h
assert r1['id'] == 'd\u00e9j\u00e0 vu.png' and r1['label'] == 'chat', r1
f = r1['features']
assert f['shape'] == [1, 2, 3] and f['dtype'] == 'f32', f
v = struct.unpack('<6f', f['data'])
assert v == (0.5, -1.25, struct.unpack('<f', struct.pack('<f', 3e-8))[0], 65504.0, -0.0, 7.0), v
assert r2['id'] == b'dir/caf\xe9 "x",y.jpg', r2['id']
assert 'label' not in r2
assert t == {'end': 2}, t
print('python read everything')
PY
ok $? "Python's msgpack reads what the library writes (str, bin, f32, maps)"
$sample images > ours.img
$PY -c '
import msgpack, sys
h, r, t = msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False)
assert list(r["image"]["data"]) == [0, 127, 255, 1, 2, 3] and r["image"]["dtype"] == "u8"
assert t == {"end": 1}
' ours.img
ok $? "Python reads u8 image tensors"

# Python's writer, our reader: unknown keys are ignored, two segments,
# int and float keys of every msgpack width.
$PY - <<'PY' > py.feat
import msgpack, struct, sys
p = msgpack.Packer(use_bin_type=True)
out = sys.stdout.buffer
for seg in range(2):
    out.write(p.pack({'vggpipe': 1, 'kind': 'features', 'future_key': [1, {'x': None}],
                      'provenance': {'backbone': 'vgg16', 'weights': 'sha256:cd', 'layer': 'block5_pool'},
                      'classes': ['a', 'b'][seg:]}))
    n = 3 + seg
    for i in range(n):
        out.write(p.pack({'label': 'ab'[i % 2], 'extra': 1.5, 'id': 'seg%d/%d' % (seg, i),
                          'features': {'dtype': 'f32', 'shape': [2],
                                       'data': struct.pack('<2f', i, -i)},
                          'big': 2**63, 'neg': -2**40, 'blob': b'\x00' * 300}))
    out.write(p.pack({'end': n}))
PY
vggdump py.feat > py.jsonl
ok $? "vggdump reads a two-segment stream written by Python"
is "$(jq -c 'select(.record) | .record.id' py.jsonl | tr '\n' ' ')" \
   '"seg0/0" "seg0/1" "seg0/2" "seg1/0" "seg1/1" "seg1/2" "seg1/3" ' "every record, in order"
is "$(jq -c 'select(.record and .record.id=="seg1/3") | .record.features | [.min,.max]' py.jsonl)" \
   '[-3,3]' "tensor values survive"
is "$(jq -c 'select(.trailer) | .trailer.end' py.jsonl | tr '\n' ' ')" "3 4 " "both trailers"

# Truncation at every byte offset, through a pipe.
$PY -c '
import msgpack, sys
p = msgpack.Packer(use_bin_type=True)
sys.stdout.buffer.write(p.pack({"vggpipe": 1, "kind": "features", "provenance": {}}) +
    p.pack({"id": "x", "features": {"shape": [1], "dtype": "f32", "data": b"\0\0\0\0"}}) +
    p.pack({"end": 1}))' > small.feat
size=$(stat -c %s small.feat)
accepted=0
for cut in $(seq 0 $((size - 1))); do
	if head -c "$cut" small.feat | vggdump > /dev/null 2>&1; then
		accepted=$((accepted + 1)); echo "# accepted a cut at $cut"
	fi
done
is "$accepted" 0 "a stream cut at any of its $size byte offsets fails"
head -c $((size - 6)) small.feat | vggdump >/dev/null 2>err
grep -q "ends after record 1 without a trailer" err
ok $? "a cut before the trailer names the last record"

# Hostile claims: an array header claiming 4 G and 64 M elements. msgpack-c
# would allocate 24 bytes per element before reading one; under a 300 MB
# address-space limit that would fail with out-of-memory.
printf '\xdd\xff\xff\xff\xff' > huge1
printf '\xdd\x04\x00\x00\x00' > huge2
printf '\xc6\x7f\xff\xff\xff' > huge3
for f in huge1 huge2; do
	with_memory_limit 300000 vggdump $f > out 2> err
	rc=$?
	[ $rc -eq 1 ] && grep -q "exceeds the limit of 4194304 elements" err && [ ! -s out ]
	ok $? "$f: refused with the element limit named, under ulimit -v (status $rc)"
done
with_memory_limit 300000 vggdump huge3 > out 2> err
[ $? -eq 1 ] && grep -q "exceeds the object size limit" err
ok $? "a 2 GiB bin claim is refused with the size limit named"
# The same claim followed by a little data: still no allocation of the claim.
{ printf '\xdd\x04\x00\x00\x00'; head -c 100000 /dev/zero; } > huge4
with_memory_limit 300000 vggdump huge4 > out 2> err
[ $? -eq 1 ] && grep -q "limit" err
ok $? "a claim followed by data is refused before it is buffered"

# A slow writer: one byte at a time, with pauses.
$PY -c '
import sys, time
data = open("small.feat", "rb").read()
for i in range(len(data)):
    sys.stdout.buffer.write(data[i:i+1]); sys.stdout.flush()
    if i % 16 == 0: time.sleep(0.001)
' | vggdump > slow.jsonl
ok $? "a stream arriving one byte at a time is read"
is "$(wc -l < slow.jsonl)" 3 "all three objects"

# Garbage and a file that is not a stream.
head -c 1000 /dev/urandom > random.bin
vggdump random.bin > /dev/null 2>&1
is $? 1 "random bytes are a data error"
echo '{"json": true}' > text.json
vggdump text.json > /dev/null 2> err
[ $? -eq 1 ] && grep -q "text.json" err
ok $? "a text file is refused, naming it"
done_testing
