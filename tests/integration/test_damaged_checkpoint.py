#!/usr/bin/env python3
"""A checkpoint whose RocksDB table (.sst) is damaged on disk.

A real checkpoint is made by running mstream over 20,000 distinct words;
its second start makes RocksDB flush the write-ahead log into a table
file.  Bytes are then flipped inside that table, in three places that
RocksDB reads at three different moments:

  * the index block      read when the database is opened;
  * the first data block read by the first point lookup (m:query);
  * a state data block   read by the state scan, after /metrics is up.

Each time mstream must exit 1 (not 3: nobody holds the lock) with a
message that names the damaged file, RocksDB's reason and the way to
recover (restore a copy, or remove the checkpoint and lose its state), and
never claim the checkpoint is in use.  Following either piece of advice
works: a restored copy and a fresh checkpoint both run to exact counts.
(A real second writer still exits 3: test_session.py.)
"""
import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import write_file  # noqa: E402

NWORDS = 20000
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "Segmentation fault")


def _run(t, in_dir, chk, name):
    ms = t.mstream(in_dir, chk, "--available-now", name=name)
    ms.start(wait=None)
    rc = ms.wait_exit(120)
    err = ms.stderr()
    for marker in SANITIZER_MARKERS:
        assert marker not in err, "crash or sanitizer report:\n%s" % ms.describe()
    return ms, rc


def _tables(chk):
    return sorted(f for f in os.listdir(chk) if f.endswith(".sst"))


def _varint(b, i):
    v, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7


def _index_offset(path):
    """Offset of the index block of a block-based table: the second block
    handle of its 53-byte footer (format_version 1..5)."""
    with open(path, "rb") as f:
        f.seek(-53, os.SEEK_END)
        foot = f.read(53)
    magic = struct.unpack("<Q", foot[-8:])[0]
    assert magic == 0x88E241B785F4CFF7, "%s: not a block-based table (magic %x)" % (path, magic)
    i = 1                                   # checksum type
    _, i = _varint(foot, i)                 # metaindex offset, size
    _, i = _varint(foot, i)
    off, i = _varint(foot, i)               # index offset
    return off


def _flip(path, off, n=4):
    with open(path, "r+b") as f:
        f.seek(off)
        b = bytearray(f.read(n))
        assert len(b) == n, "%s has no %d bytes at %d" % (path, n, off)
        f.seek(off)
        f.write(bytes(x ^ 0xFF for x in b))


def _make_checkpoint(t):
    in_dir, chk = t.dirs()
    for k in range(4):
        write_file(os.path.join(in_dir, "part-%d.txt" % k),
                   "".join("word%05d\n" % w for w in range(k, NWORDS, 4)))
    for run in range(2):
        ms, rc = _run(t, in_dir, chk, "make%d" % run)
        assert rc == 0, "building the checkpoint: exit %r\n%s" % (rc, ms.describe())
    assert int(ms.summary()["state_entries"]) == NWORDS, ms.summary()
    # The second start flushes the recovered log: one table per column
    # family (positions and plans; the state, far the larger).
    tables = _tables(chk)
    assert 1 <= len(tables) <= 2, ("expected RocksDB to flush the recovered log into a table "
                                   "per column family on the second start, found %r" % tables)
    state = max(tables, key=lambda n: os.path.getsize(os.path.join(chk, n)))
    pristine = os.path.join(t.dir, "pristine")
    shutil.copytree(chk, pristine)
    return in_dir, chk, pristine, state


def _assert_damage_reported(ms, rc, chk, table, stage):
    err = ms.stderr()
    assert rc == 1, "damaged checkpoint (%s): exit %r, want 1\n%s" % (stage, rc, ms.describe())
    assert "in use" not in err and "another process" not in err, \
        "a damaged table is not a lock conflict (%s):\n%s" % (stage, err)
    path = os.path.join(chk, table)
    assert "is damaged: %s is corrupt" % path in err, "message does not name %s:\n%s" % (path, err)
    assert "block checksum mismatch" in err, "RocksDB's reason is missing:\n%s" % err
    assert any("RocksDB's report (%s)" % st in err for st in stage.split("|")), \
        "expected the damage to be found while %s:\n%s" % (stage, err)
    for advice in ("restore the directory from a copy", "remove it to start over",
                   "lost for good"):
        assert advice in err, "recovery advice '%s' missing:\n%s" % (advice, err)


def test_damaged_table_exits_1_naming_file_and_recovery(t):
    in_dir, chk, pristine, table = _make_checkpoint(t)
    path = os.path.join(chk, table)
    idx = _index_offset(path)
    assert idx > 8192, "the table is too small to hold several data blocks: index at %d" % idx
    cases = [
        # (what is damaged, offset, the operation that must find it)
        ("index block", idx + 1, "opening RocksDB"),
        # (the state's table: read by the scan that loads its totals, or
        # by the first lookup)
        ("first data block", 1, "reading|scanning"),
        ("a state data block", idx // 2, "reading|scanning"),
    ]
    for what, off, stage in cases:
        shutil.rmtree(chk)
        shutil.copytree(pristine, chk)
        _flip(path, off)
        ms, rc = _run(t, in_dir, chk, what.replace(" ", "-"))
        _assert_damage_reported(ms, rc, chk, table, stage)
        if stage != "opening RocksDB":
            # Found after start-up: /metrics was already being served.
            assert mstest.SERVING_RE.search(ms.stderr().encode()), ms.describe()

    # The advice works: a restored copy runs, and so does a fresh start.
    shutil.rmtree(chk)
    shutil.copytree(pristine, chk)
    ms, rc = _run(t, in_dir, chk, "restored")
    assert rc == 0, "restored copy: exit %r\n%s" % (rc, ms.describe())
    assert int(ms.summary()["state_entries"]) == NWORDS, ms.summary()
    shutil.rmtree(chk)
    ms, rc = _run(t, in_dir, chk, "fresh")
    assert rc == 0, "fresh checkpoint: exit %r\n%s" % (rc, ms.describe())
    s = ms.summary()
    assert int(s["state_entries"]) == NWORDS and int(s["input_rows"]) == NWORDS, s


if __name__ == "__main__":
    mstest.run(globals())
