#!/bin/bash
# imgprep inputs and interface: class folders, flat folders, path lists,
# awkward names, order, shuffling, shards, options, output failures.
. "$(dirname "$0")/lib.sh"
plan 36

# "id label copy" per record; jq shows a byte that is not UTF-8 as U+FFFD.
ids() { vggdump "$1" | jq -r 'select(.record) | .record | "\(.id) \(.label // "-") \(.copy // "-")"'; }
bad=$'\xef\xbf\xbd'
# A stream in one line: its header, each record's image shape and type,
# its trailer's count.
shape() {
	vggdump "$1" | jq -r 'if .header then "header" elif .record then
		(.record.image.shape | map(tostring) | join("x")) + .record.image.dtype
		else "end=\(.trailer.end)" end' | tr '\n' ' '
}

# fails STATUS STDERR DESCRIPTION CMD... : the command exits with STATUS,
# writes nothing on stdout and exactly STDERR on stderr.
fails() {
	_st=$1 _msg=$2 _d=$3; shift 3
	run "$@"
	is "$rc|$(wc -c <"$T/out")|$(cat "$T/err")" "$_st|0|$_msg" "$_d"
}

# The shard and shuffle rules as the man page and lib/base/mix.h describe them
# (FNV-1a 64 of the path relative to its input root, then SplitMix64's
# output), written again here so that the checks say exactly which files a
# shard holds and in which order a seed puts them:
#   hashrule shard N K REL...   the RELs in shard K of N, in the order given
#   hashrule shuffle SEED REL...  the RELs in the order --shuffle gives
hashrule() {
	$PY - "$@" <<'EOF'
import sys
M, G = 2**64 - 1, 0x9e3779b97f4a7c15
def mix(x):
    z = (x + G) & M
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    return z ^ (z >> 31)
def hash_bytes(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & M
    return mix(h ^ len(b))
rule, arg = sys.argv[1], sys.argv[2:]
if rule == "shard":
    n, k, rels = int(arg[0]), int(arg[1]), arg[2:]
    out = [r for r in rels if hash_bytes(r.encode()) % n == k - 1]
else:
    seed, rels = int(arg[0]), arg[1:]
    out = sorted(rels, key=lambda r: (mix(mix(seed) ^ hash_bytes(r.encode())), r))
print(" ".join(out))
EOF
}
# "many/NAME - -|" for each NAME: ids' lines for files of the flat folder.
flat_ids() { for f in "$@"; do printf 'many/%s - -|' "$f"; done; }

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

run imgprep --size 32 data -o cls.vp
is "$rc|$(wc -c <"$T/out")|$(cat "$T/err")|$(shape cls.vp)" \
	"0|0||header 32x32x3u8 32x32x3u8 32x32x3u8 32x32x3u8 32x32x3u8 32x32x3u8 32x32x3u8 end=7 " \
	"a class-folder dataset is prepared: status 0, no message, 7 images of 32x32 and a trailer"
is "$(vggdump cls.vp | jq -r 'select(.record) | .record.label' | tr '\n' ' ')" \
	"cat cat cat cat dog dog dog " "records come class by class"
is "$(vggdump cls.vp | jq -r 'select(.record) | .record.id' | tr '\n' '|')" \
	"data/cat/q,\"uote'.png|data/cat/x y.png|data/cat/z.png|data/cat/$bad.png|data/dog/a.png|data/dog/b.png|data/dog/sub/c.png|" \
	"within a class, by relative path in byte order; nested folders included; hidden ones skipped"
# raw=False: a str comes back as str, a bin as bytes, so the types show.
is "$($PY -c '
import sys, msgpack
with open(sys.argv[1], "rb") as f:
    objs = list(msgpack.Unpacker(f, raw=False))
print(objs[0]["classes"], [o["id"] for o in objs[1:-1]][3])
' cls.vp)" "['cat', 'dog', 'empty'] b'data/cat/\\xff.png'" \
	"the header lists every class, the empty one too; a non-UTF-8 path travels as its bytes (bin)"
is "$(vggdump cls.vp | grep '^{"record"' | sed -n 4p | cut -d, -f1)" \
	'{"record":{"id":"data/cat/\udcff.png"' "vggdump shows the non-UTF-8 byte as \\udcff"

run imgprep --size 32 many/05.png many/00.png
is "$rc|$(cat "$T/err")|$(ids "$T/out" | tr '\n' '|')" "0||many/05.png - -|many/00.png - -|" \
	"files given on the command line keep their order and carry no label"
run imgprep --size 32 many -o flat.vp
is "$rc|$(cat "$T/err")|$(ids flat.vp | tr '\n' '|')" "0||$(flat_ids $(seq -f %02g.png 0 23))" \
	"a folder without subfolders: its files, unlabelled, by name"

# Lists on standard input: labels after a TAB; -0 for NUL-separated names.
printf 'data/dog/a.png\tdog\ndata/cat/x y.png\tcat\nmany/01.png\n' |
	imgprep --size 32 - -o list.vp
is "$?|$(ids list.vp | tr '\n' '|')" "0|data/dog/a.png dog -|data/cat/x y.png cat -|many/01.png - -|" \
	"- reads paths, in order, with optional TAB labels"
is "$(vggdump list.vp | jq -c 'select(.header) | .header.classes')" '[]' \
	"a list read as it comes names no classes in the header: its records carry them"
printf 'data/dog/a.png\tdog\ndata/cat/x y.png\tcat\n' | imgprep --size 32 --shuffle - -o shuf.vp
is "$(vggdump shuf.vp | jq -c 'select(.header) | .header.classes')" '["cat","dog"]' \
	"a list read whole (--shuffle): the header names the classes it holds"
printf 'data/cat/x y.png\0data/dog/sub/c.png\0' | imgprep --size 32 -0 - -o nul.vp
is "$(ids nul.vp | tr '\n' '|')" "data/cat/x y.png - -|data/dog/sub/c.png - -|" \
	"-0 reads NUL-separated paths"
printf 'data/cat/\377.png\n' | imgprep --size 32 - -o raw.vp
is "$(ids raw.vp)" "data/cat/$bad.png - -" "a listed path with a non-UTF-8 byte is read"
run sh -c 'printf "many/01.png\t\377\nmany/02.png\tok\n" | imgprep --size 32 -'
is "$rc|$(cat "$T/err")|$(ids "$T/out" | tr '\n' '|')" \
	"1|imgprep: standard input: line 1: a label that is not valid UTF-8 (labels are strings); skipped"$'\n'"imgprep: 1 of 2 entries failed|many/02.png ok -|" \
	"a label that is not UTF-8 is named and skipped, the next line still read"

# Shards: disjoint, covering, stable when other files are added.
for k in 1 2 3; do imgprep --size 32 --shard $k/3 many -o s$k.vp; done
cat s1.vp s2.vp s3.vp >all.vp
is "$(ids all.vp | sort | tr '\n' ' ')" "$(ids flat.vp | sort | tr '\n' ' ')" \
	"shards 1-3 of 3 together are the unsharded records"
is "$(ids all.vp | sort | uniq -d | wc -l)" 0 "shards are disjoint"
names=$(seq -f %02g.png 0 23)
want1=$(hashrule shard 3 1 $names) want2=$(hashrule shard 3 2 $names) want3=$(hashrule shard 3 3 $names)
n1=$(ids s1.vp | wc -l) n2=$(ids s2.vp | wc -l) n3=$(ids s3.vp | wc -l)
is "$(ids s1.vp | tr '\n' '|')/$(ids s2.vp | tr '\n' '|')/$(ids s3.vp | tr '\n' '|') $n1 $n2 $n3" \
	"$(flat_ids $want1)/$(flat_ids $want2)/$(flat_ids $want3) $(wc -w <<<"$want1") $(wc -w <<<"$want2") $(wc -w <<<"$want3")" \
	"each of 3 shards of 24 files holds the files whose path hashes to it, by name ($n1, $n2, $n3)"
[ "$n1" -gt 3 ] && [ "$n2" -gt 3 ] && [ "$n3" -gt 3 ]
ok $? "each of 3 shards of 24 files gets a fair part ($n1, $n2, $n3)"
cp -r many more && cp data/dog/a.png more/new.png
imgprep --size 32 --shard 2/3 more -o m2.vp
is "$(ids m2.vp | sed 's/^more/many/' | tr '\n' '|')" \
	"$(flat_ids $(hashrule shard 3 2 $names new.png))" \
	"adding a file moves no other file between shards; the new one goes where it hashes"
run vggdump all.vp
is "$rc|$(cat "$T/err")|$(shape all.vp)" \
	"0||header $(printf '32x32x3u8 %.0s' $(seq $n1))end=$n1 header $(printf '32x32x3u8 %.0s' $(seq $n2))end=$n2 header $(printf '32x32x3u8 %.0s' $(seq $n3))end=$n3 " \
	"concatenated shards are a valid stream: three segments, each with its own count"

# Shuffling: a seeded permutation; a shard's order is the full order
# with the other shards' files left out.
imgprep --size 32 --shuffle --seed 3 many -o sh.vp
imgprep --size 32 --shuffle --seed 3 many -o sh2.vp
imgprep --size 32 --shuffle --seed 4 many -o sh4.vp
is "$(ids sh.vp | tr '\n' '|')/$(ids sh4.vp | tr '\n' '|')" \
	"$(flat_ids $(hashrule shuffle 3 $names))/$(flat_ids $(hashrule shuffle 4 $names))" \
	"--shuffle --seed: the order of the hash of seed and path, another for another seed"
cmp sh.vp sh2.vp
ok $? "--shuffle --seed 3 twice: the same bytes"
imgprep --size 32 --shuffle --seed 3 --shard 2/3 many -o shs.vp
is "$(ids shs.vp)" "$(ids sh.vp | grep -Fx -f <(ids s2.vp))" "a shuffled shard keeps the shuffled order"

# Options and failures of the interface.
run imgprep --help
is "$rc|$(wc -c <"$T/err")|$(head -1 "$T/out")|$(tail -1 "$T/out")" \
	"0|0|Usage: imgprep [OPTION]... INPUT...|Exit status: 0 success, 1 an image or a write failed, 2 a usage error." \
	"--help prints usage on stdout, whole, and nothing on stderr"
run imgprep --version
version=$(sed -n 's/^#define CLI_VERSION "\(.*\)"$/\1/p' "$SRC_DIR/tools/cli.h")
is "$rc|$(wc -c <"$T/err")|$(head -1 "$T/out")" "0|0|imgprep (vggpipe) $version" "--version"
grep -qx 'Winograd kernels: \(avx512\|avx2\|baseline\)' "$T/out"
ok $? "--version names the Winograd kernels' build"
is "$(VGGPIPE_KERNELS=baseline imgprep --version | tail -1)" "Winograd kernels: baseline" \
	"VGGPIPE_KERNELS chooses the build"
is "$(VGGPIPE_KERNELS=sse9 imgprep --version | tail -1)" "$(tail -1 "$T/out")" \
	"a build of no such name gives way to the best"
try=$'\nTry \'imgprep --help\' for more information.'
fails 2 "imgprep: unrecognized option '--frobnicate'$try" \
	"an unknown option: status 2, nothing on stdout, the option named" imgprep --frobnicate many
fails 2 "imgprep: --size: 'ax3' is not WxH or N with sides from 32 to 4096, the sizes vggfeat takes$try" \
	"a bad --size names the option" imgprep --size ax3 many
fails 2 "imgprep: no input: give directories, image files, or - for a list of paths$try" \
	"no input is a usage error" imgprep
run imgprep --size 32 nothing many/01.png
is "$rc|$(cat "$T/err")|$(ids "$T/out")|$(shape "$T/out")" \
	"1|imgprep: nothing: No such file or directory"$'\n'"imgprep: 1 of 2 images failed|many/01.png - -|header 32x32x3u8 end=1 " \
	"a missing path is named, the good file still written, status 1"
# A FIFO among the images: nothing will ever write to it, so opening it
# blocks. The run must still end, with the other image written.
mkdir fifo && cp many/00.png fifo/a.png && mkfifo fifo/b.fifo
timeout 5 imgprep --size 32 fifo >fifo.vp 2>"$T/fifo-err"
[ $? -ne 124 ] && [ "$(ids fifo.vp)" = "fifo/a.png - -" ]
ok $? "a FIFO in a folder is passed over, not waited on"
run sh -c 'imgprep --size 64 many >/dev/full'
is "$rc|$(cat "$T/err")" "1|imgprep: standard output: write error: No space left on device" \
	"a full disk: status 1 and a message"
imgprep --size 64 many 2>"$T/pipe-err" | head -c 1 >/dev/null
st=${PIPESTATUS[0]}
# 141: ended by SIGPIPE, as cat is; no message.
is "$st|$(cat "$T/pipe-err")" "141|" "a reader that goes away: a quiet exit"
run imgprep --progress --size 32 many -o p.vp
# Each report starts with a carriage return and ends with a space; the
# rate shows only after half a second, and how many reports a slow machine
# shows is not the test's business. The last is the total, then a newline.
reports=$(tr '\r' '\n' <"$T/err" | sed '/^$/d')
is "$rc|$(grep -Evc '^imgprep: [0-9]+/24 images(, [0-9.]+/s)? $' <<<"$reports")|$(tail -1 <<<"$reports" | sed -E 's|, [0-9.]+/s||')|$(tail -c 1 "$T/err" | od -An -c | tr -d ' ')|$(cmp -s p.vp flat.vp && echo same)" \
	"0|0|imgprep: 24/24 images |\n|same" \
	"--progress reports on stderr, ending with the total, and changes nothing in the output"
run imgprep --size 32 many -o q.vp
is "$rc|$(wc -c <"$T/err")" "0|0" "no progress when stderr is not a terminal"

done_testing
