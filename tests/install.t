#!/bin/bash
# make install into a temporary DESTDIR: every program and man page lands,
# the programs run from there, and the man pages format without warnings.
. "$(dirname "$0")/lib.sh"

make -s -C "$SRC_DIR" install DESTDIR="$T/root" PREFIX=/usr \
	BUILD="$VGGPIPE_BUILD" OUT="$VGGPIPE_BIN" > make.out 2>&1
status=$?
progs=$(cd "$VGGPIPE_BIN" && ls)
pages=$(cd "$SRC_DIR/man" && ls)
plan $((1 + 2 * $(echo "$progs" | wc -w) + $(echo "$pages" | wc -w)))
ok $status "make install DESTDIR=... PREFIX=/usr"
for p in $progs; do
	[ -x "$T/root/usr/bin/$p" ]
	ok $? "bin/$p installed"
	"$T/root/usr/bin/$p" --version | grep -q "^$p (vggpipe)"
	ok $? "$p --version runs from the installed copy"
done
for page in $pages; do
	section=${page##*.}
	f="$T/root/usr/share/man/man$section/$page"
	[ -f "$f" ] && [ -z "$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)" ]
	ok $? "man page $page installed and formats without warnings"
done
done_testing
