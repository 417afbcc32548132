"""The mutation harness: does the suite fail when the code is wrong?

    /usr/bin/python3 tests/mutate.py [NAME...]

Each mutant in tests/mutants is a small change to one line of lib/ or
tools/ (the text `from`, which must stand exactly once in the file, or
`at` times with `at = N` saying which, becomes `to`) and the test files
that must catch it. The harness copies the
working tree (the files git tracks or would, as they are now) into a scratch
folder, builds it, then for each mutant (or those NAMEd) applies it,
builds, runs its tests with prove, and puts the line back. A mutant is
caught when a test fails; it survives when every test passes. One that no
longer applies (its line changed) or does not build is an error of the
list. Prints a table, one row per mutant with the seconds it took, and
exits 1 unless every mutant was caught.
"""
import configparser
import os
import shutil
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
    env = dict(os.environ, VGGPIPE_BIN=os.path.join(tree, "bin"),
               VGGPIPE_BUILD=os.path.join(tree, "build"))
    return subprocess.run(["prove", "--exec", "bash"] + tests, cwd=tree, env=env,
                          capture_output=True, text=True)


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
        t = run_tests(tree, m["tests"])
        failed = [l for l in t.stdout.splitlines() if "Failed" in l or "not ok" in l]
        return ("caught", failed[0] if failed else "") if t.returncode else ("SURVIVED", "")
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
