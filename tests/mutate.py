"""The mutation harness: does the suite fail when the code is wrong?

    /usr/bin/python3 tests/mutate.py [NAME...]

Each mutant in tests/mutants is a small change to one line of lib/ or
tools/ (the text `from`, which must stand exactly once in the file, or
`at` times with `at = N` saying which, becomes `to`) and the test files
that must catch it. The harness copies the
working tree (the files git tracks or would, as they are now) into a scratch
folder, builds it, then for each mutant (or those NAMEd) applies it,
builds, runs its tests, each file up to its first failure, and puts the
line back. A mutant is caught when a test fails (or a file exits non-zero
or runs other than its plan); it survives when every test passes. One that no
longer applies (its line changed) or does not build is an error of the
list. Prints a table, one row per mutant with the seconds it took, and
exits 1 unless every mutant was caught.
"""
import configparser
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOBS = os.environ.get("MUTATE_JOBS", "2")


def load(path):
    cp = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    cp.optionxform = str
    with open(path, encoding="utf-8") as f:
        cp.read_file(f)
    mutants = []
    for name in cp.sections():
        m = dict(cp[name])
        missing = {"file", "from", "to", "tests", "why"} - m.keys()
        if missing:
            sys.exit(f"{path}: [{name}]: missing {', '.join(sorted(missing))}")
        m["name"] = name
        m["tests"] = m["tests"].split()
        mutants.append(m)
    return mutants


def copy_tree(dst):
    files = subprocess.run(["git", "-C", SRC, "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], check=True,
                           capture_output=True).stdout.split(b"\0")
    for f in filter(None, files):
        rel = f.decode()
        src = os.path.join(SRC, rel)
        if not os.path.exists(src):
            continue
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))


def build(tree):
    return subprocess.run(["make", "-s", f"-j{JOBS}", "all"], cwd=tree,
                          capture_output=True, text=True)


def run_tests(tree, tests):
    """The first failure of the test files, in turn, or None when every
    one passes. A file is stopped at its first `not ok`: the mutant is
    caught, and the rest of the file would only cost time. Its scratch
    folders go with the tree's own temporary folder, emptied after each."""
    scratch = os.path.join(tree, "tmp")
    env = dict(os.environ, VGGPIPE_BIN=os.path.join(tree, "bin"),
               VGGPIPE_BUILD=os.path.join(tree, "build"), TMPDIR=scratch)
    try:
        for test in tests:
            os.makedirs(scratch, exist_ok=True)
            p = subprocess.Popen(["bash", test], cwd=tree, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            plan, passed, failed = None, 0, None
            for line in p.stdout:
                if line.startswith("1.."):
                    plan = int(line[3:].split()[0])
                elif line.startswith("not ok"):
                    failed = f"{test}: {line.strip()}"
                    os.killpg(p.pid, signal.SIGKILL)
                    break
                elif line.startswith("ok"):
                    passed += 1
            p.stdout.close()
            status = p.wait()
            if failed:
                return failed
            if status:
                return f"{test}: exit status {status}"
            if plan != passed:
                return f"{test}: {passed} of {plan} planned tests passed"
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def mutate(tree, m):
    path = os.path.join(tree, m["file"])
    with open(path, encoding="utf-8") as f:
        text = f.read()
    count, at = text.count(m["from"]), int(m.get("at", 0))
    if (at and count < at) or (not at and count != 1):
        return "stale", f"`{m['from']}` stands {count} times in {m['file']}"
    # The at-th occurrence (the only one without at).
    start = -1
    for _ in range(at or 1):
        start = text.index(m["from"], start + 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:start] + m["to"] + text[start + len(m["from"]):])
    try:
        b = build(tree)
        if b.returncode:
            return "no build", (b.stdout + b.stderr)[-400:]
        failure = run_tests(tree, m["tests"])
        return ("caught", failure) if failure else ("SURVIVED", "")
    finally:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def main():
    mutants = load(os.path.join(SRC, "tests", "mutants"))
    names = set(sys.argv[1:])
    unknown = names - {m["name"] for m in mutants}
    if unknown:
        sys.exit(f"mutate: no mutant named {', '.join(sorted(unknown))}")
    chosen = [m for m in mutants if not names or m["name"] in names]
    tree = tempfile.mkdtemp(prefix="vggpipe-mutate.")
    try:
        copy_tree(tree)
        b = build(tree)
        if b.returncode:
            sys.exit("mutate: the unmutated tree does not build:\n" + b.stderr[-2000:])
        print("| mutant | outcome | seconds | tests | what it breaks |")
        print("|---|---|---:|---|---|")
        tally = {}
        for m in chosen:
            start = time.monotonic()
            outcome, detail = mutate(tree, m)
            tally[outcome] = tally.get(outcome, 0) + 1
            print(f"| {m['name']} | {outcome} | {time.monotonic() - start:.0f} | "
                  f"{' '.join(os.path.basename(t) for t in m['tests'])} | {m['why']} |",
                  flush=True)
            if outcome in ("stale", "no build"):
                print("#   " + detail.replace("\n", "\n#   "))
        # The tree is built again unmutated, so that a last mutant's
        # objects cannot linger in a rerun.
        build(tree)
        print()
        print(", ".join(f"{n} {k}" for k, n in sorted(tally.items())) +
              f" of {len(chosen)} mutants")
        return 0 if tally.get("caught", 0) == len(chosen) else 1
    finally:
        shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
