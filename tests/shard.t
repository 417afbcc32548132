#!/bin/bash
# Scale-out: feature extraction sharded with GNU parallel, joined by cat,
# holds the same records as one unsharded run, each with the same numbers.
. "$(dirname "$0")/lib.sh"
plan 5

$PY - <<'PY'
import os, random
from PIL import Image
rng = random.Random(7)
for cls in ("red", "green", "blue"):
    os.makedirs(f"data/{cls}", exist_ok=True)
    for i in range(5):
        img = Image.new("RGB", (48, 40), tuple(rng.randrange(256) for _ in range(3)))
        img.save(f"data/{cls}/{i}.png")
PY

extract="vggfeat --init-random 3 --layer block3_pool --batch 1 --threads 1"
imgprep --size 32 data | $extract > whole.feat
ok $? "unsharded run"

parallel --will-cite -j 2 \
	"imgprep --size 32 --shard {}/3 data | $extract > shard{}.feat" ::: 1 2 3
ok $? "three shards under GNU parallel"
cat shard1.feat shard2.feat shard3.feat > joined.feat

$PY - whole.feat joined.feat <<'PY'
import msgpack, sys
def records(path):
    out = {}
    for o in msgpack.Unpacker(open(path, "rb"), raw=False):
        if "id" in o:
            assert o["id"] not in out, f"{path}: {o['id']} twice"
            out[o["id"]] = (o.get("label"), o["features"]["data"])
    return out
whole, joined = records(sys.argv[1]), records(sys.argv[2])
assert len(whole) == 15, len(whole)
assert set(whole) == set(joined), (sorted(whole), sorted(joined))
diff = [k for k in whole if whole[k] != joined[k]]
assert not diff, diff
PY
ok $? "the joined shards hold every id of the unsharded run once, with identical features"
vggdump joined.feat > /dev/null
ok $? "the joined file is one valid stream of three segments"
for k in 1 2 3; do imgprep --size 32 --shard $k/3 data | vggdump | jq -r 'select(.record) | .record.id'; done | sort | uniq -d > dups
[ ! -s dups ]
ok $? "shards are disjoint"
done_testing
