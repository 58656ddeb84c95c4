"""Writers of one index in separate processes: none loses another's letter, a second one
waits and says so, and every commit gets the next generation number."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from places import ROOT

from rag import writer
from rag.errors import IndexError_


def small_letter(folder: Path, n: int) -> Path:
    """A short letter of its own, quick to embed."""
    path = folder / f"brief-{n}.txt"
    path.write_text(
        f"VERSLAG VAN OEFENING NUMMER {n}\n\nBij oefening nummer {n} oefenden {100 + n} militairen in "
        f"Harderwijk.\n\nDe kosten van oefening {n} waren EUR {n},5 miljoen.\n",
        encoding="utf-8",
    )
    return path


def rag(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    environ = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", **(env or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "rag.cli", *args],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def letters_in(index_dir: Path) -> set[str]:
    return set(json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))["letters"])


@pytest.mark.parametrize("writers", [2, 4])
def test_concurrent_writers_in_processes_keep_every_letter(tmp_path: Path, writers: int) -> None:
    index_dir = tmp_path / "index"
    for round_ in range(2):  # repeated: a lost update shows up in most rounds without the lock
        files = [small_letter(tmp_path, round_ * 10 + i) for i in range(writers)]
        procs = [rag("ingest", str(f), "--quiet", "--index", str(index_dir)) for f in files]
        outputs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0] * writers, outputs
        assert {f.stem for f in files} <= letters_in(index_dir)
    assert len(letters_in(index_dir)) == 2 * writers
    assert writer.read_generation(index_dir) >= 2  # every commit stamped (first writers may find all in)


def test_a_second_writer_waits_saying_so_then_adds_its_letter(tmp_path: Path) -> None:
    index_dir, log = tmp_path / "index", tmp_path / "stderr.txt"
    letter = small_letter(tmp_path, 1)
    environ = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    argv = [sys.executable, "-m", "rag.cli", "ingest", str(letter), "--quiet", "--index", str(index_dir)]
    with writer.exclusive(index_dir, what="test holding the lock"), open(log, "w") as err:
        proc = subprocess.Popen(argv, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.time() + 120
        while "waiting" not in log.read_text() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.3)
        time.sleep(1)
        assert proc.poll() is None, "the second writer must wait, not go ahead"
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "added: brief-1" in out
    said = log.read_text()
    assert "test holding the lock" in said and "waiting for it to finish" in said
    assert letters_in(index_dir) == {"brief-1"}


def test_a_writer_that_cannot_get_the_lock_in_time_fails_in_one_line(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    with writer.exclusive(index_dir, what="rag ingest (test)"):
        proc = rag("remove", "x", "--index", str(index_dir), env={"RAG_LIMITS_WRITER_WAIT_S": "1"})
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in err
    lines = [l for l in err.splitlines() if l.startswith("rag: ") and "still being changed" in l]
    assert len(lines) == 1 and "nothing was changed" in lines[0] and "RAG_LIMITS_WRITER_WAIT_S" in lines[0]


def test_threads_of_one_process_are_kept_apart_too(tmp_path: Path) -> None:
    inside: list[int] = []
    overlaps: list[bool] = []

    def work(n: int) -> None:
        with writer.exclusive(tmp_path):
            inside.append(n)
            overlaps.append(len(inside) > 1)
            time.sleep(0.05)
            inside.remove(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [False] * 4


def test_waiting_gives_up_with_an_index_error_naming_the_holder(tmp_path: Path) -> None:
    with writer.exclusive(tmp_path, what="rag ingest corpus"):
        heard: list[str] = []
        with (
            pytest.raises(IndexError_, match="rag ingest corpus") as caught,
            writer.exclusive(tmp_path, 0.3, heard.append),
        ):
            pass
    assert heard and "waiting" in heard[0]
    assert str(tmp_path) not in caught.value.nl  # the app's Dutch message holds no server path


def test_every_commit_stamps_the_next_generation(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    for n in range(1, 4):
        proc = rag("ingest", str(small_letter(tmp_path, n)), "--quiet", "--index", str(index_dir))
        proc.communicate(timeout=300)
        assert writer.read_generation(index_dir) == n
    before = writer.version(index_dir)
    proc = rag("remove", "brief-2", "--index", str(index_dir))
    proc.communicate(timeout=300)
    assert writer.read_generation(index_dir) == 4 and writer.version(index_dir) != before
    assert letters_in(index_dir) == {"brief-1", "brief-3"}


HOLD = """
import sys, time
from pathlib import Path
from rag import writer
index_dir, marks, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
with writer.exclusive(index_dir, what=marks.name):
    marks.write_text(f"in {time.time()}\\n")
    time.sleep(seconds)
    with marks.open("a") as out:
        out.write(f"out {time.time()}\\n")
"""


def hold(index_dir: Path, marks: Path, seconds: float) -> subprocess.Popen:
    """A process that takes the writer lock, notes when it got it and when it let go."""
    environ = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", HOLD, str(index_dir), str(marks), str(seconds)], env=environ)


def mark(marks: Path, what: str) -> float | None:
    text = marks.read_text() if marks.exists() else ""
    found = [float(line.split()[1]) for line in text.splitlines() if line.startswith(what + " ")]
    return found[0] if found else None


def test_a_rebuild_swapping_the_folder_keeps_one_writer_at_a_time(tmp_path: Path) -> None:
    # A writer that waited through `rag ingest --rebuild` (which swaps the index folder) and
    # one that comes after the swap must not both hold the lock: it lives beside the folder.
    index_dir = tmp_path / "index"
    first = rag("ingest", str(small_letter(tmp_path, 1)), "--quiet", "--index", str(index_dir))
    assert first.wait(300) == 0
    rebuild = rag("ingest", str(small_letter(tmp_path, 2)), "--rebuild", "--quiet", "--index", str(index_dir))
    deadline = time.time() + 120
    while f"pid {rebuild.pid}," not in writer.lock_path(index_dir).read_text() and time.time() < deadline:
        time.sleep(0.05)
    waiting = hold(index_dir, tmp_path / "waiting.txt", 3.0)  # waits for the rebuild
    out, err = rebuild.communicate(timeout=300)
    assert rebuild.returncode == 0, err
    while mark(tmp_path / "waiting.txt", "in") is None and time.time() < deadline:
        time.sleep(0.05)
    later = hold(index_dir, tmp_path / "later.txt", 0.0)  # comes after the swap
    assert waiting.wait(60) == 0 and later.wait(60) == 0
    waited_out, later_in = mark(tmp_path / "waiting.txt", "out"), mark(tmp_path / "later.txt", "in")
    assert waited_out is not None and later_in is not None and later_in >= waited_out
    assert letters_in(index_dir) == {"brief-2"}  # the rebuilt index took the old one's place
    assert not (index_dir / writer.LOCK).exists() and writer.lock_path(index_dir).parent == tmp_path
