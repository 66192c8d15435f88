"""The README's test command on a fresh machine (issue 14), run as a new user would run it.

A fresh `git clone` of this repository into a temporary folder, an empty HOME, no venv, and a PATH made
of links to every program on this machine's PATH except the optional peers (swaks, mpop, openssl) and
apt-get (so nothing gets installed: the path of a user who is not root on Debian). In it:
- `./scripts/test.sh` makes its venv from e2e/requirements.txt, skips exactly the tests marked with
  `@pytest.mark.peer`, passes everything else, and ends with the one line naming the skipped peers and
  the apt-get command; no collection error; the clone stays clean (the venv folder is git-ignored);
- the same under CI=true fails, naming the missing peers (and so does the conftest's own check);
- with the peers back on PATH, under CI=true, it reuses the venv and the peer tests pass.

Cost: the clone runs the interop suite only (PETREL_SUITES=interop) against the binary the outer run
built (PETREL_BIN), not a cold Swift build; the venv, the peer probing, the skipping and the last line
are the real script's. The third run selects the peer tests alone (`-m peer`): the outer run has
already run the whole suite with the peers present.

Run by scripts/test.sh when PETREL_SUITES includes fresh-clone (CI does); it tests the committed HEAD.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PETREL = Path(os.environ.get("PETREL_BIN", ROOT / ".build" / "debug" / "petrel")).resolve()
PEERS = ("swaks", "mpop", "openssl")
NO_APT = ("apt-get", "apt", "aptitude")
SKIP_LINE = re.compile(r"SKIPPED (\d+) tests? that need swaks, mpop, openssl \(not installed here\); "
                       r"to run them: (sudo )?apt-get install swaks libnet-ssleay-perl mpop openssl")


def path_without(folder, excluded):
    """A folder of links to every program on PATH (first one wins, as in a lookup) but `excluded`."""
    folder.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name in excluded or os.path.lexists(link):
                continue
            if entry.is_file() and os.access(entry.path, os.X_OK):
                link.symlink_to(entry.path)
    return str(folder)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    if not PETREL.is_file():
        message = f"{PETREL} is not built (the swift suite builds it; or set PETREL_BIN)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    base = tmp_path_factory.mktemp("fresh")
    clone = base / "petrel"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    home = base / "home"
    home.mkdir()
    return {
        "clone": clone,
        "home": home,
        "path_without_peers": path_without(base / "bin-without-peers", set(PEERS) | set(NO_APT)),
        "path_with_peers": path_without(base / "bin-with-peers", set(NO_APT)),
    }


def run(fresh, command, path, ci=False, timeout=3600, env_extra=None):
    env = {"PATH": path, "HOME": str(fresh["home"]), "LANG": "C.UTF-8",
           "PETREL_SUITES": "interop", "PETREL_BIN": str(PETREL), **(env_extra or {})}
    if ci:
        env["CI"] = "true"
    proc = subprocess.run(command, cwd=fresh["clone"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return proc.returncode, proc.stdout


def tail(out, n=60):
    return "\n".join(out.splitlines()[-n:])


def peer_test_count(fresh, only=None):
    """How many interop tests carry @pytest.mark.peer (collected in the clone with its venv); with `only`,
    those that need one of these peers (tests that need only other peers, e.g. slapd or pam_wrapper, run
    in both environments)."""
    args = ["-m", "peer"] if only is None else []
    env = {"PETREL_PEERS_ONLY": ",".join(only)} if only else None
    code, out = run(fresh, [".venv-test/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                            *args, "e2e/interop"], fresh["path_with_peers"], env_extra=env)
    assert code == 0, tail(out)
    match = re.search(r"^(\d+)/\d+ tests collected", out, re.M)
    assert match, tail(out)
    return int(match.group(1))


@pytest.fixture(scope="module")
def without_peers(fresh):
    """`./scripts/test.sh` in the clone with no venv, no peers, an empty HOME."""
    assert not (fresh["clone"] / ".venv-test").exists()
    return run(fresh, ["./scripts/test.sh"], fresh["path_without_peers"])


def test_without_peers_it_skips_their_tests_and_ends_with_the_line_naming_them(fresh, without_peers):
    code, out = without_peers
    assert code == 0, tail(out)
    assert "== python venv .venv-test: installing e2e/requirements.txt" in out, tail(out)
    assert "ERROR collecting" not in out and "ModuleNotFoundError" not in out and "ImportError" not in out, tail(out)
    lines = [line for line in out.splitlines() if line.strip()]
    skip = SKIP_LINE.fullmatch(lines[-1])
    assert skip, "the run does not end with the skip line:\n" + tail(out)
    summary = [line for line in lines if re.match(r"^=* ?\d+ passed", line)]
    assert summary, tail(out)
    # Every skip is a peer test and every peer test is skipped: nothing else was skipped, failed or erred.
    counts = dict((word, int(n)) for n, word in re.findall(r"(\d+) (\w+)", summary[-1]))
    assert set(counts) <= {"passed", "skipped", "warnings", "warning", "deselected"}, summary[-1]
    assert counts.get("skipped") == int(skip.group(1)) == peer_test_count(fresh, only=PEERS) > 0, (summary[-1], lines[-1])
    assert counts["passed"] > 50, summary[-1]
    # The venv and whatever the run wrote are ignored by git: the clone is as it was checked out.
    status = subprocess.run(["git", "status", "--porcelain", "--ignored=no"], cwd=fresh["clone"],
                            capture_output=True, text=True, check=True).stdout
    assert status == "", status


def test_under_ci_a_missing_peer_is_an_error(fresh, without_peers):
    code, out = run(fresh, ["./scripts/test.sh"], fresh["path_without_peers"], ci=True)
    assert code != 0, tail(out)
    assert "CI=true and test peers are missing: swaks mpop openssl" in out, tail(out)
    assert "apt-get install swaks libnet-ssleay-perl mpop openssl" in out, tail(out)
    assert "== interop tests" not in out, tail(out)
    # The conftest's own guard, for a pytest run that does not go through scripts/test.sh.
    code, out = run(fresh, [".venv-test/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "e2e/interop/test_smtp_interop.py", "-k", "swaks"], fresh["path_without_peers"], ci=True)
    assert code == 1, tail(out)
    assert "missing peer swaks" in out and "under CI=true a missing peer is an error" in out, tail(out)
    assert re.search(r"(^|, )2 (failed|errors) in ", out, re.M), tail(out)


def test_with_the_peers_it_reuses_the_venv_and_is_green(fresh, without_peers):
    code, out = run(fresh, ["./scripts/test.sh", "-m", "peer"], fresh["path_with_peers"], ci=True)
    assert code == 0, tail(out)
    assert "== python venv .venv-test: up to date with e2e/requirements.txt" in out, tail(out)
    assert "installing" not in out and "apt-get" not in out, tail(out)
    last = [line for line in out.splitlines() if line.strip()][-1]
    assert re.match(r"^=* ?\d+ passed", last), "the run does not end with pytest's summary:\n" + tail(out)
    counts = dict((word, int(n)) for n, word in re.findall(r"(\d+) (\w+)", last))
    assert set(counts) <= {"passed", "deselected", "warnings", "warning"}, last
    assert counts["passed"] == peer_test_count(fresh), last
