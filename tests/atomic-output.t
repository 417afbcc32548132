#!/bin/bash
# -o FILE on both of its paths: an unnamed temporary linked into place
# (O_TMPFILE), and, where the file system has none (NFS, CIFS, vfat), a
# hidden named one beside the target, which a preloaded shim forces here
# (tests/shim/no_tmpfile.c). On both, a run that fails or is killed leaves
# the previous file as it was and no temporary behind; a complete run
# writes the same bytes.
. "$(dirname "$0")/lib.sh"
plan 16

SHIM="$VGGPIPE_BUILD/tests/no_tmpfile.so"
$PY - <<'PY'
import msgpack, numpy as np
rng = np.random.default_rng(1)
with open("train.feat", "wb") as f:
    f.write(msgpack.packb({"vggpipe": 1, "kind": "features", "provenance": {"backbone": "x"}}))
    for i in range(200):
        x = rng.normal(i % 2, 1, 16).astype("<f4")
        f.write(msgpack.packb({"id": "r%d" % i, "label": "ab"[i % 2],
                               "features": {"shape": [16], "dtype": "f32", "data": x.tobytes()}}))
    f.write(msgpack.packb({"end": 200}))
PY
printf 'not a stream' > bad.feat
mkdir out
topfit --quiet --epochs 2 -o out/m.model train.feat
cp out/m.model previous.model

# The shim refuses O_TMPFILE, and the named path writes what the unnamed
# one does.
LD_PRELOAD="$SHIM" topfit --quiet --epochs 2 -o out/named.model train.feat
cmp -s out/m.model out/named.model
ok $? "named temporaries: a complete run writes the same model"
is "$(ls -A out | sort | tr '\n' ' ')" "m.model named.model " "... and leaves nothing else"

# killed NAME SIGNAL [PRELOAD]: start a training that runs until killed,
# writing out/m.model (its history comes at the end), wait for it to have
# begun writing (with the shim, for its named temporary to exist), kill
# it; sets status and seen (the temporaries seen while it ran).
killed() {
	# A job started with & ignores SIGINT in a shell without job control,
	# as a user's Ctrl-C would not find it, and under nohup SIGHUP: set
	# them back first (a tool rightly leaves an ignored signal ignored).
	LD_PRELOAD="${3:-}" perl -e '$SIG{$_} = "DEFAULT" for qw(INT HUP TERM); exec @ARGV' \
		topfit --quiet \
		--epochs 1000000 --history out/h.tsv -o out/m.model train.feat 2>/dev/null &
	pid=$!
	seen=
	for _ in $(seq 100); do
		seen=$(ls -A out | grep -c '\.tmp')
		{ [ -z "${3:-}" ] || [ "$seen" -eq 1 ]; } && break
		sleep 0.1
	done
	sleep 0.3
	kill -s "$2" $pid
	{ wait $pid; } 2>/dev/null
	status=$?
}

for sig in INT TERM HUP; do
	killed named $sig "$SHIM"
	is "$seen" 1 "SIG$sig: the model's named temporary was there"
	is "$status" $((128 + $(kill -l $sig))) "... the tool died of SIG$sig"
	is "$(ls -A out | sort | tr '\n' ' ')" "m.model named.model " \
		"... and left no temporary behind"
done
cmp -s out/m.model previous.model
ok $? "the model file is still the previous one"

killed unnamed TERM
is "$(ls -A out | sort | tr '\n' ' ')" "m.model named.model " \
	"unnamed temporaries: killed, nothing left behind"
cmp -s out/m.model previous.model
ok $? "... and the previous model untouched"

# A run that fails, on either path: no temporary, the previous file kept.
LD_PRELOAD="$SHIM" topfit --quiet -o out/m.model bad.feat 2>/dev/null
is "$?|$(ls -A out | sort | tr '\n' ' ')" "1|m.model named.model " \
	"named temporaries: a failed run exits 1 and leaves nothing behind"
cmp -s out/m.model previous.model
ok $? "... and the previous model untouched"
done_testing
