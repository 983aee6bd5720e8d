"""Input at the edges of what real pipelines do to a watched directory.

Each case was a loss or a hang before file identity (birth time, head and
tail markers), non-blocking opens and a directory check existed:

  * consume-then-delete of files that start with the same header: the next
    file gets the deleted one's inode (ext4 and tmpfs reuse them at once) and
    was taken for it, its first bytes skipped;
  * a file rewritten in place (`> f`, `cp` over it) whose new text shares
    its first 256 bytes with the old: the new text below the old size was
    skipped;
  * a FIFO renamed over a file blocked the engine in open() forever;
  * the watched directory removed and created again (or moved away and
    back): new files were never counted, with no log line.

Expected counts come from the words this script wrote (mstest.count_words),
never from the engine.
"""

import collections
import os
import shutil
import stat
import subprocess
import time

import mstest
from mstest import atomic_write, count_words

# A CSV-like header longer than the 256 bytes of the old head marker.
HEADER = ("time,missing_info,job_id,task_index,machine_id,event_type,user,scheduling_class,"
          "priority,cpu_request,memory_request,disk_space_request,different_machines_"
          "restriction,comment,a_column_with_a_long_name_so_that_the_header_is_longer_than_"
          "the_marker,another_column,yet_another_column,and_one_more_column_to_reach_329_bytes,"
          "padding_padding\n").replace(",", " ")
assert len(HEADER) > 300, len(HEADER)


def body(tag, rows):
    return HEADER + "".join("%s_row%d %s\n" % (tag, j, "ok" if j % 3 else "fail")
                            for j in range(rows))


def test_inode_reuse_same_header_running(t):
    """Consume-then-delete: every file is deleted once counted; the next one
    (written through a temp name and renamed, as a pipeline does) mostly gets
    a freed inode and starts with the same header."""
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk, "--trigger-sec", "0").start()
    expected = collections.Counter()
    seen, reused = set(), 0
    for i in range(12):
        path = os.path.join(in_dir, "part-%05d.csv" % i)
        text = body("f%d" % i, 30 + i)
        atomic_write(path, text)
        ino = os.stat(path).st_ino
        reused += ino in seen
        seen.add(ino)
        expected.update(count_words(text.encode()))
        ms.wait_counts(expected, settle=0, what="file %d counted" % i)
        os.unlink(path)
    assert reused >= 3, "the file system reused %d inodes of 12: the case is not staged" % reused
    ms.wait_counts(expected, settle=1.0)


def test_inode_reuse_small_files(t):
    """The same with files whose new content starts with the old one's:
    'OK\\n', then 'OK\\nFAIL\\n' under the same inode."""
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk).start()
    expected = collections.Counter()
    seen, reused = set(), 0
    for i in range(10):
        for text in ("OK\n", "OK\nFAIL\n"):
            path = os.path.join(in_dir, "status-%d.txt" % i)
            atomic_write(path, text)
            ino = os.stat(path).st_ino
            reused += ino in seen
            seen.add(ino)
            expected.update(count_words(text.encode()))
            ms.wait_counts(expected, settle=0, what="status %d %r" % (i, text))
            os.unlink(path)
    assert expected["OK"] == 20 and expected["FAIL"] == 10
    assert reused >= 3, "the file system reused %d inodes: the case is not staged" % reused


def test_inode_reuse_while_down(t):
    """The file is consumed, mstream stops, the file is deleted and a new one
    with the same header takes its inode before mstream starts again."""
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk).start()
    expected = collections.Counter()
    reused = 0
    for i in range(6):
        path = os.path.join(in_dir, "part.csv")
        text = body("d%d" % i, 20 + 3 * i)
        before = None
        if os.path.exists(path):
            before = os.stat(path).st_ino
            assert ms.term() == 0, ms.describe()
            os.unlink(path)
        atomic_write(path, text)
        reused += before is not None and os.stat(path).st_ino == before
        if not ms.alive():
            ms.start()
        expected.update(count_words(text.encode()))
        ms.wait_counts(expected, settle=0, what="file %d counted after a restart" % i)
    assert reused >= 2, "the file system reused %d inodes: the case is not staged" % reused


def test_rewrite_same_head_in_place(t):
    """`> f` then a longer text with the same 300-byte header, `cp` over the
    file, and a rewrite while mstream is down: the new text is a new file."""
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk).start()
    path = os.path.join(in_dir, "log.csv")
    expected = collections.Counter()

    def put(text, how):
        if how == "truncate":
            with open(path, "w") as f:  # O_TRUNC: same inode
                f.write(text)
        else:
            src = os.path.join(t.dir, "copy-source.csv")
            with open(src, "w") as f:
                f.write(text)
            subprocess.run(["cp", src, path], check=True)
        expected.update(count_words(text.encode()))

    put(body("a", 40), "truncate")
    ms.wait_counts(expected, settle=0, what="first text")
    ino = os.stat(path).st_ino
    put(body("b", 60), "truncate")
    assert os.stat(path).st_ino == ino
    ms.wait_counts(expected, settle=0, what="the text rewritten in place (> f)")
    put(body("c", 80), "cp")
    assert os.stat(path).st_ino == ino
    ms.wait_counts(expected, settle=0, what="the text copied over the file (cp)")
    # Same size, other content: only the mtime says something happened.
    put(body("d", 80), "truncate")
    ms.wait_counts(expected, settle=0, what="a same-size rewrite")
    assert ms.term() == 0, ms.describe()
    put(body("e", 100), "truncate")
    ms.start()
    ms.wait_counts(expected, settle=1.0, what="a rewrite while down")
    m = ms.metrics()
    assert m.sum("mstream_source_rotations_total") + m.sum("mstream_source_truncations_total") >= 1


def test_fifo_in_place_of_a_file(t):
    """A FIFO renamed over a file the engine tracks but has not read yet
    (a one-file cap holds it back), and one created in the directory: the
    engine never blocks opening one (a FIFO's open waits for a writer), it
    counts the rejection, keeps counting other files, answers /healthz, and
    SIGTERM ends it at once."""
    in_dir, chk = t.dirs()
    # Both files are there before the start, so the first listing tracks
    # r.txt as a regular file (written after the start, a slow test could
    # let the first plan run before r.txt existed: its first sight would
    # then be the FIFO, never tracked).  No safety-net rescan during the
    # test: a listing that finds the FIFO forgets r.txt before the planner
    # could open it, and the rejection counted here is the open's.
    expected = collections.Counter()
    a = os.path.join(in_dir, "a.txt")
    atomic_write(a, "alpha beta\n")
    os.utime(a, (1000, 1000))  # oldest: planned first
    atomic_write(os.path.join(in_dir, "r.txt"), "rho\n")
    expected.update({"alpha": 1, "beta": 1})
    ms = t.mstream(in_dir, chk, "--trigger-sec", "2", "--max-files-per-trigger", "1",
                   "--rescan-sec", "3600").start()
    ms.wait_counts(expected, settle=0, what="a.txt, alone in the first batch")
    tmp = os.path.join(in_dir, ".f.tmp")
    os.mkfifo(tmp)
    os.rename(tmp, os.path.join(in_dir, "r.txt"))  # before the next trigger
    os.mkfifo(os.path.join(in_dir, "pipe.txt"))
    for i in range(3):
        atomic_write(os.path.join(in_dir, "after-%d.txt" % i), "gamma\n")
        expected["gamma"] += 1
    ms.wait_counts(expected, settle=1.0, what="files after the FIFOs")
    assert ms.get("/healthz")[0] == 200
    assert stat.S_ISFIFO(os.stat(os.path.join(in_dir, "r.txt")).st_mode)
    m = ms.metrics()
    assert m.get("mstream_source_files_rejected_total", source="dir", reason="not_regular") == 1, \
        ms.metrics_text()
    assert ms.term(timeout=10) == 0, ms.describe()


def _wait_status(ms, want):
    mstest.wait_for(lambda: ms.get("/readyz")[0] == want, 20, "/readyz %d" % want,
                    interval=0.1, on_timeout=ms.describe)


def test_directory_removed_and_created_again(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk).start()
    atomic_write(os.path.join(in_dir, "a.txt"), "one two\n")
    expected = collections.Counter({"one": 1, "two": 1})
    ms.wait_counts(expected, settle=0)
    shutil.rmtree(in_dir)
    _wait_status(ms, 503)
    ms.wait_metric(lambda m: m.get("mstream_source_watching", source="dir") == 0,
                   "mstream_source_watching 0")
    assert "input directory %s" % in_dir in ms.stderr() and " WARN " in ms.stderr()
    os.mkdir(in_dir)
    _wait_status(ms, 200)
    atomic_write(os.path.join(in_dir, "b.txt"), "three\n")
    expected["three"] += 1
    ms.wait_counts(expected, settle=0, what="a file in the new directory")
    ms.wait_metric(lambda m: m.get("mstream_source_watching", source="dir") == 1,
                   "mstream_source_watching 1")
    # Moved away and back: the same directory again.
    away = in_dir + ".away"
    os.rename(in_dir, away)
    _wait_status(ms, 503)
    os.rename(away, in_dir)
    _wait_status(ms, 200)
    atomic_write(os.path.join(in_dir, "c.txt"), "four\n")
    expected["four"] += 1
    ms.wait_counts(expected, settle=1.0, what="a file after the directory came back")


def test_sigterm_during_an_expensive_query(t):
    """A query at the windows-per-row limit (a HOP of 10,000 windows): a row
    costs a millisecond or two, so a 1 MiB read chunk a minute.  SIGTERM
    still ends the batch promptly (the input goes to the parsers in small
    pieces, the stop flag checked between them): exit 0, nothing committed."""
    in_dir, chk = t.dirs()
    q = os.path.join(t.dir, "hop.sql")
    with open(q, "w") as f:
        f.write("SELECT window_start, COUNT(*) AS n FROM task_events\n"
                "GROUP BY HOP(time, INTERVAL '1' SECOND, INTERVAL '10000' SECOND);\n")
    rows = "".join("%d,,%d,0,,0,u,1,0,,,,\n" % (10**9 + i * 10**6, i) for i in range(40000))
    atomic_write(os.path.join(in_dir, "big.csv"), rows)
    ms = t.mstream(in_dir, chk, "--query", q, "--available-now")
    ms.start(wait="ready")
    time.sleep(mstest.scaled(2))  # the one batch is under way (it takes about a minute)
    assert ms.alive(), "the batch finished before SIGTERM: the case is not staged\n" + ms.describe()
    assert ms.term(timeout=15) == 0, ms.describe()
    assert "abandoned on request" in ms.stderr(), ms.describe()


if __name__ == "__main__":
    mstest.run(globals())
