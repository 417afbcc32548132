#!/bin/sh
# fetch-weights.sh URL MD5 DIR: download a weights file into DIR, named as
# the URL names it, only when its md5 is MD5. The download goes to a
# temporary beside the target and is renamed into place once checked, so a
# wrong or interrupted download leaves no file behind.
set -eu
if [ $# -ne 3 ]; then
	echo "usage: fetch-weights.sh URL MD5 DIR" >&2
	exit 2
fi
url=$1 md5=$2 dir=$3
name=${url%%\?*}
name=${name##*/}
if [ -z "$name" ]; then
	echo "fetch-weights: $url: no file name in the URL" >&2
	exit 2
fi
target=$dir/$name
if [ -f "$target" ] && [ "$(md5sum <"$target" | cut -d' ' -f1)" = "$md5" ]; then
	echo "fetch-weights: $target is already there (md5 $md5)"
	exit 0
fi
mkdir -p "$dir"
tmp=$(mktemp "$dir/.$name.XXXXXX")
trap 'rm -f "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
if ! curl -fsSL --retry 3 -o "$tmp" "$url"; then
	echo "fetch-weights: cannot download $url" >&2
	exit 1
fi
got=$(md5sum <"$tmp" | cut -d' ' -f1)
if [ "$got" != "$md5" ]; then
	echo "fetch-weights: $url: md5 $got, expected $md5: refused" >&2
	exit 1
fi
chmod 644 "$tmp"
mv -f "$tmp" "$target"
trap - EXIT
echo "fetch-weights: $target (md5 $md5)"
