#!/usr/bin/env python3
"""Log forging: file names are attacker-controlled text, and mstream logs
them.  Files whose names hold a newline and a fake "ERROR" record, terminal
escape sequences (ESC, CR, BEL, BS) and invalid UTF-8 are dropped into the
watched directory, such that mstream names them in its log: binary content
(rejected with a WARN), unreadable (open fails with EACCES through the
msfailio shim: "cannot read"), and a readable one (DEBUG "new file").

Every line of stderr must then be one well-formed record -- a timestamped
log line "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL text", or one of the command's own
lines ("mstream: serving ...", "summary ...") -- valid UTF-8 without a
single control byte; no forged record may appear; and each name must be
there in the display form that the API uses (`\\\\`, `\\xNN`)."""
import collections
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import display, shim_env, words, write_file  # noqa: E402

FORGED = b"2024-01-01T00:00:00.000Z ERROR forged: checkpoint lost"
BINARY = [
    b"evil\n" + FORGED + b"\n.txt",
    b"esc\x1b[2J\x1b[31mred\r\x07\x08.txt",
    b"bad\xff\xfe\xc3(\xed\xa0\x80.txt",
]
UNREADABLE = b"unreadable-\n" + FORGED + b" too\n\x1b[0m\xff.txt"
READABLE = b"text\n" + FORGED + b" again\x1b]0;title\x07\xc3\xa9\\x0a.txt"

RECORD_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN |INFO |DEBUG) \S")
OWN_RE = re.compile(r"mstream: serving http://[0-9.]+:\d+/metrics|summary( [a-z_0-9]+=[^ =]+)+")


def _rejected(m, reason):
    return m.get("mstream_source_files_rejected_total", 0.0, source="dir", reason=reason)


def test_names_cannot_forge_log_records(t):
    in_dir, chk = t.dirs()
    bdir = os.fsencode(in_dir)
    ms = t.mstream(in_dir, chk, "--log-level", "debug",
                   env=shim_env(MSFAILIO_OPEN_EACCES="unreadable-"))
    ms.start()
    for name in BINARY:
        write_file(os.path.join(bdir, name), b"binary\x00content\n")
    write_file(os.path.join(bdir, UNREADABLE), b"never read\n")
    write_file(os.path.join(bdir, READABLE), b"odd name but counted\n")
    expected = collections.Counter(words("odd name but counted"))
    t.sentinel(in_dir, expected)
    ms.wait_counts(expected, settle=0.5, what="the readable file and the sentinel counted")
    # The API names the files of each batch in the display form.
    api_names = {f["name"] for p in ms.status()["recentProgress"]
                 for src in p.get("sources", []) for f in src.get("files", [])}
    assert display(READABLE) in api_names, (display(READABLE), api_names)
    ms.wait_metric(lambda m: _rejected(m, "binary") >= len(BINARY)
                   and _rejected(m, "unreadable") >= 1,
                   "three binary files and one unreadable file rejected")
    rc = ms.term()
    assert rc == 0, "SIGTERM: exit %r\n%s" % (rc, ms.describe())

    with open(ms.log_path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AssertionError("stderr is not valid UTF-8: %s\n%r" % (e, raw[:3000]))
    bad = sorted({"%#04x" % ord(c) for c in text if (ord(c) < 0x20 and c != "\n")
                  or ord(c) == 0x7F or 0x80 <= ord(c) <= 0x9F})
    assert not bad, "raw control bytes %s on stderr:\n%r" % (bad, raw[:3000])
    lines = text.split("\n")
    assert lines[-1] == "", "stderr does not end with a newline"
    for i, line in enumerate(lines[:-1]):
        assert RECORD_RE.match(line) or OWN_RE.fullmatch(line), \
            "stderr line %d is not one well-formed record: %r\n%s" % (i + 1, line, ms.describe())
        assert not line.startswith(FORGED.decode()[:24]), "a forged record: %r" % line
    assert not [l for l in lines if RECORD_RE.match(l) and l[25:30] == "ERROR"], \
        "an ERROR record appeared:\n%s" % text

    def shown(name, level, what):
        d = display(name)
        hits = [l for l in lines if RECORD_RE.match(l) and l[25:30].strip() == level and d in l]
        assert hits, "no %s line names %s in display form %r:\n%s" % (level, what, d, text)
        return hits

    for name in BINARY:
        assert "binary" in shown(name, "WARN", "the binary file %r" % name)[0]
    assert "cannot read" in shown(UNREADABLE, "WARN", "the unreadable file")[0]
    shown(READABLE, "DEBUG", "the readable file")   # as /api/v1/status shows it
    # The forged text is only ever inside an escaped name.
    forged = [l for l in lines if "forged" in l]
    assert forged and all("\\x0a" + FORGED.decode() in l for l in forged), forged


if __name__ == "__main__":
    mstest.run(globals())
