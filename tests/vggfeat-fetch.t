#!/bin/bash
# make weights: download, md5 check, atomic placement, against a local
# HTTP server on loopback serving a generated file.
. "$(dirname "$0")/lib.sh"
plan 8

mkdir srv
head -c 100000 /dev/urandom >srv/w.h5
md5=$(md5sum <srv/w.h5 | cut -d' ' -f1)
"$PY" -u -m http.server --bind 127.0.0.1 --directory srv 0 >http.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do
	port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' http.log)
	[ -n "$port" ] && break
	sleep 0.1
done
url=http://127.0.0.1:$port/w.h5

run make -s -C "$SRC_DIR" weights WEIGHTS_URL="$url" WEIGHTS_MD5="$md5" WEIGHTS_DIR="$T/models"
is "$rc" 0 "make weights downloads the file"
check "the file is the served one" cmp srv/w.h5 models/w.h5
is "$(ls -A models)" "w.h5" "no temporary is left beside it"

run make -s -C "$SRC_DIR" weights WEIGHTS_URL="$url" WEIGHTS_MD5="$md5" WEIGHTS_DIR="$T/models"
is "$rc" 0 "a file already in place with the right md5 is kept"

expect_fail 1 "md5 .* expected 0123456789abcdef0123456789abcdef: refused" \
	"a wrong md5 is refused" \
	sh "$SRC_DIR/tools/fetch-weights.sh" "$url" 0123456789abcdef0123456789abcdef "$T/bad"
is "$(ls -A bad 2>/dev/null)" "" "and leaves no file"

expect_fail 1 "cannot download" "a missing file on the server is an error" \
	sh "$SRC_DIR/tools/fetch-weights.sh" "http://127.0.0.1:$port/nope.h5" "$md5" "$T/bad"
is "$(ls -A bad 2>/dev/null)" "" "and leaves no file"
done_testing
