#!/bin/bash
# imgprep inputs and interface: class folders, flat folders, path lists,
# awkward names, order, shuffling, shards, options, output failures.
. "$(dirname "$0")/lib.sh"
plan 29

# "id label copy" per record; jq shows a byte that is not UTF-8 as U+FFFD.
ids() { vggdump "$1" | jq -r 'select(.record) | .record | "\(.id) \(.label // "-") \(.copy // "-")"'; }
bad=$'\xef\xbf\xbd'


# A dataset: class folders with a nested folder, an empty class, names with
# spaces, commas, quotes and a byte that is not UTF-8.
$PY - <<'EOF' || exit 1
import os
from PIL import Image
import numpy as np
rng = np.random.default_rng(3)
def img(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(path)
for name in ["b.png", "a.png", "sub/c.png"]:
    img(f"data/dog/{name}")
for name in ["x y.png", "q,\"uote'.png", "z.png"]:
    img(f"data/cat/{name}")
os.makedirs("data/empty")
img("data/.hidden/h.png")
img(os.fsdecode(b"data/cat/\xff.png"))
for i in range(24):
    img(f"many/{i:02d}.png")
EOF

run imgprep --size 8 data -o cls.vp
is "$rc" 0 "a class-folder dataset is prepared"
is "$(vggdump cls.vp | jq -r 'select(.record) | .record.label' | uniq | tr '\n' ' ')" "cat dog " \
	"records come class by class"
is "$(vggdump cls.vp | jq -r 'select(.record) | .record.id' | tr '\n' '|')" \
	"data/cat/q,\"uote'.png|data/cat/x y.png|data/cat/z.png|data/cat/$bad.png|data/dog/a.png|data/dog/b.png|data/dog/sub/c.png|" \
	"within a class, by relative path in byte order; nested folders included; hidden ones skipped"
$PY -c '
import sys, msgpack
with open(sys.argv[1], "rb") as f:
    objs = list(msgpack.Unpacker(f, raw=True))
assert objs[0][b"classes"] == [b"cat", b"dog", b"empty"], objs[0]
ids = [o[b"id"] for o in objs[1:-1]]
assert isinstance(ids[3], bytes) and ids[3] == b"data/cat/\xff.png", ids
' cls.vp
ok $? "the header lists every class, the empty one too; a non-UTF-8 path travels as its bytes"
vggdump cls.vp | grep -q '"id":"data/cat/\\udcff.png"'
ok $? "vggdump shows the non-UTF-8 byte as \\udcff"

run imgprep --size 8 many/05.png many/00.png
is "$(ids "$T/out" | tr '\n' '|')" "many/05.png - -|many/00.png - -|" \
	"files given on the command line keep their order and carry no label"
imgprep --size 8 many -o flat.vp
is "$(ids flat.vp | wc -l):$(ids flat.vp | head -1)" "24:many/00.png - -" \
	"a folder without subfolders: its files, unlabelled, by name"

# Lists on standard input: labels after a TAB; -0 for NUL-separated names.
printf 'data/dog/a.png\tdog\ndata/cat/x y.png\tcat\nmany/01.png\n' |
	imgprep --size 8 - -o list.vp
is "$(ids list.vp | tr '\n' '|')" "data/dog/a.png dog -|data/cat/x y.png cat -|many/01.png - -|" \
	"- reads paths, in order, with optional TAB labels"
$PY -c '
import sys, msgpack
u = msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False)
sys.exit(0 if next(u)["classes"] == ["cat", "dog"] else 1)' list.vp
ok $? "the header lists the labels the list named"
printf 'data/cat/x y.png\0data/dog/sub/c.png\tdog\0' | imgprep --size 8 -0 - -o nul.vp
is "$(ids nul.vp | tr '\n' '|')" "data/cat/x y.png - -|data/dog/sub/c.png dog -|" \
	"-0 reads NUL-separated paths"
printf 'data/cat/\377.png\n' | imgprep --size 8 - -o raw.vp
is "$(ids raw.vp)" "data/cat/$bad.png - -" "a listed path with a non-UTF-8 byte is read"
expect_fail 1 'not valid UTF-8' "a label that is not UTF-8 is refused" \
	sh -c 'printf "many/01.png\t\377\n" | imgprep -'

# Shards: disjoint, covering, stable when other files are added.
for k in 1 2 3; do imgprep --size 8 --shard $k/3 many -o s$k.vp; done
cat s1.vp s2.vp s3.vp >all.vp
is "$(ids all.vp | sort | tr '\n' ' ')" "$(ids flat.vp | sort | tr '\n' ' ')" \
	"shards 1-3 of 3 together are the unsharded records"
is "$(ids all.vp | sort | uniq -d | wc -l)" 0 "shards are disjoint"
n1=$(ids s1.vp | wc -l) n2=$(ids s2.vp | wc -l) n3=$(ids s3.vp | wc -l)
[ "$n1" -gt 3 ] && [ "$n2" -gt 3 ] && [ "$n3" -gt 3 ]
ok $? "each of 3 shards of 24 files gets a fair part ($n1, $n2, $n3)"
cp -r many more && cp data/dog/a.png more/new.png
imgprep --size 8 --shard 2/3 more -o m2.vp
is "$(ids m2.vp | grep -v new.png | sed 's/^more/many/')" "$(ids s2.vp)" \
	"adding a file moves no other file between shards"
vggdump all.vp >/dev/null
ok $? "concatenated shards are a valid stream"

# Shuffling: a seeded permutation; a shard's order is the full order
# with the other shards' files left out.
imgprep --size 8 --shuffle --seed 3 many -o sh.vp
imgprep --size 8 --shuffle --seed 3 many -o sh2.vp
imgprep --size 8 --shuffle --seed 4 many -o sh4.vp
cmp -s sh.vp sh2.vp && ! cmp -s sh.vp sh4.vp && [ "$(ids sh.vp | sort)" = "$(ids flat.vp | sort)" ] &&
	[ "$(ids sh.vp)" != "$(ids flat.vp)" ]
ok $? "--shuffle --seed: a permutation, the same for one seed, another for another"
imgprep --size 8 --shuffle --seed 3 --shard 2/3 many -o shs.vp
is "$(ids shs.vp)" "$(ids sh.vp | grep -Fx -f <(ids s2.vp))" "a shuffled shard keeps the shuffled order"

# Options and failures of the interface.
run imgprep --help
is "$rc:$(head -c 6 "$T/out")" "0:Usage:" "--help prints usage on stdout"
run imgprep --version
is "$rc:$(cut -d' ' -f1,2 "$T/out")" "0:imgprep (vggpipe)" "--version"
run imgprep --frobnicate many
is "$rc:$(wc -c <"$T/out")" "2:0" "an unknown option: status 2, nothing on stdout"
expect_fail 2 "--size: 'ax3' is not WxH" "a bad --size names the option" imgprep --size ax3 many
expect_fail 2 "no input" "no input is a usage error" imgprep
expect_fail 1 "nothing: No such file" "a missing path is named" imgprep --size 8 nothing many/01.png
expect_fail 1 'write error: No space left' "a full disk: status 1 and a message" \
	sh -c 'imgprep --size 64 many >/dev/full'
imgprep --size 64 many 2>"$T/pipe-err" | head -c 1 >/dev/null
is "$(cat "$T/pipe-err")" "" "a reader that goes away: a quiet exit"
run imgprep --progress --size 8 many -o p.vp
grep -q 'images' "$T/err"
ok $? "--progress reports on stderr"
run imgprep --size 8 many -o q.vp
is "$(wc -c <"$T/err")" 0 "no progress when stderr is not a terminal"

done_testing
