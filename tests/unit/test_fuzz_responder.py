"""Issue 7: the IKE decoder and the responder's request handling under a coverage-guided fuzzer
(atheris, libFuzzer) for a bounded time, and every input of the kept corpus replayed. The harness is
tests/unit/fuzz_responder.py; its seed corpus (plus inputs that once found a bug) is
tests/corpus/fuzz_responder/. Any exception escaping the responder fails the test with the input.

Bounded run: BRANCHGATE_FUZZ_SECONDS (default 40). `make soak`: BRANCHGATE_SOAK_SECONDS (default 600),
and with BRANCHGATE_FUZZ_KEEP=1 the inputs that found new coverage are added to the kept corpus."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "fuzz_responder.py"
CORPUS = HERE.parent / "corpus" / "fuzz_responder"
FUZZ_SECONDS = int(os.environ.get("BRANCHGATE_FUZZ_SECONDS", 40))
_DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/")


def harness(args, timeout):
    return subprocess.run([sys.executable, str(HARNESS), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=str(HERE))


def test_corpus_replays_cleanly():
    p = harness(["--replay", CORPUS], timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    print(p.stdout.strip())
    assert (CORPUS / "finding-ike-auth-on-established-sa").exists()


def fuzz(tmp_path, seconds):
    pytest.importorskip("atheris", reason="atheris (pinned in requirements-dev.txt) is not installed")
    new = tmp_path / "new"
    new.mkdir()
    art = tmp_path / "artifacts"
    art.mkdir()
    p = harness(["-max_total_time=%d" % seconds, "-rss_limit_mb=2048", "-timeout=20", "-artifact_prefix=%s/" % art,
                 "-print_final_stats=1", new, CORPUS], timeout=seconds + 300)
    crashes = sorted(art.iterdir())
    if p.returncode != 0 or crashes:
        detail = "".join("\n%s: %s" % (c.name, c.read_bytes().hex()) for c in crashes)
        pytest.fail("the fuzzer found an input the responder does not survive (rc %d):%s\n%s"
                    % (p.returncode, detail, p.stderr[-6000:]), pytrace=False)
    m = _DONE.search(p.stderr)
    assert m, p.stderr[-3000:]
    runs, cov, ft, corp = map(int, m.groups())
    print("FIGURES fuzz responder: %d inputs in %d s (%d/s), coverage %d edges / %d features, corpus %d, "
          "new inputs %d" % (runs, seconds, runs // max(seconds, 1), cov, ft, corp, len(list(new.iterdir()))))
    assert runs > 1000, "the fuzzer hardly ran: %d inputs" % runs
    return new


def test_fuzz_responder_bounded(tmp_path):
    fuzz(tmp_path, FUZZ_SECONDS)


@pytest.mark.soak
def test_fuzz_responder_soak(tmp_path):
    new = fuzz(tmp_path, int(float(os.environ.get("BRANCHGATE_SOAK_SECONDS", 600))))
    if os.environ.get("BRANCHGATE_FUZZ_KEEP") == "1":
        for f in new.iterdir():
            shutil.copy(f, CORPUS / f.name)
