#!/usr/bin/env python3
"""Slowloris: hundreds of slow HTTP clients must not take /metrics and
/healthz away from Prometheus and the liveness probe.

300 connections are held open against a running mstream for 40 s, longer
than any idle timeout of the HTTP server: 240 send a request that never
ends, one byte every 2 s (each byte restarts an idle timeout), 60 connect
and send nothing.  A connection the server closes is opened again at once,
so the pressure stays at 300 for the whole period, as an attacker would
keep it.  Meanwhile /healthz and /metrics are fetched every second, each
with a bound of a few seconds (a bound, not a timing assertion): every one
must answer 200, and /metrics must parse.  The engine keeps counting all
along.  Every socket is closed at the end, and mstream exits 0 on SIGTERM.
"""
import errno
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mstest  # noqa: E402
from mstest import scaled, words, write_file  # noqa: E402

N_TRICKLE = 240
N_SILENT = 60
TRICKLE_EVERY = 2.0          # seconds between two bytes of one slow request
PERIOD = 40.0                # seconds of attack (> the server's idle timeouts)
PROBE_EVERY = 1.0
PROBE_TIMEOUT = 3.0          # per probe, scaled for sanitizer builds
REQUEST = (b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Pad: "
           + b"a" * 4096)    # never ends: no empty line


class Slow:
    """One attacker connection: trickling (a request, byte by byte) or silent."""

    def __init__(self, trickle, due):
        self.trickle = trickle
        self.sock = None
        self.sent = 0
        self.due = due


class Attack:
    """Holds N_TRICKLE + N_SILENT connections on port until stop(); reopens
    the ones the server closes.  Runs on its own thread."""

    def __init__(self, port):
        self.port = port
        now = time.monotonic()
        self.conns = [Slow(i < N_TRICKLE, now + TRICKLE_EVERY * i / N_TRICKLE)
                      for i in range(N_TRICKLE + N_SILENT)]
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.opened = self.reopened = self.connect_failures = 0
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, c):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2.0)
        try:
            s.connect(("127.0.0.1", self.port))
        except OSError:
            s.close()
            with self.lock:
                self.connect_failures += 1
            return False
        s.setblocking(False)
        c.sock, c.sent = s, 0
        with self.lock:
            self.opened += 1
        return True

    @staticmethod
    def _closed_by_server(c):
        try:
            c.sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            return True
        # b"" is the server's FIN; any bytes are a response (a 408 or 4xx):
        # either way this request is over for the server.
        return True

    def _close(self, c):
        if c.sock is not None:
            c.sock.close()
            c.sock = None

    def open_all(self):
        for c in self.conns:
            self._open(c)
        return sum(1 for c in self.conns if c.sock is not None)

    def _run(self):
        try:
            while not self.stop_ev.wait(0.1):
                now = time.monotonic()
                reopen = 0
                for c in self.conns:
                    if c.sock is not None and self._closed_by_server(c):
                        self._close(c)
                    if c.sock is None:
                        if reopen < 50 and self._open(c):   # bounded per round
                            reopen += 1
                            with self.lock:
                                self.reopened += 1
                        continue
                    if c.trickle and now >= c.due:
                        c.due = now + TRICKLE_EVERY
                        try:
                            c.sock.send(REQUEST[c.sent % len(REQUEST):][:1])
                            c.sent += 1
                        except (BlockingIOError, InterruptedError):
                            pass
                        except OSError as e:
                            if e.errno not in (errno.EPIPE, errno.ECONNRESET):
                                raise
                            self._close(c)
        except BaseException as e:  # reported by the test, not lost
            self.error = e
        finally:
            for c in self.conns:
                self._close(c)

    def start(self):
        self.thread.start()

    def open_now(self):
        return sum(1 for c in self.conns if c.sock is not None)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "attack thread did not stop"


def _probe(ms, path):
    t0 = time.monotonic()
    try:
        st, body = mstest.http_get(ms.url + path, timeout=PROBE_TIMEOUT)
    except OSError as e:
        return "%s: %r after %.1fs" % (path, e, time.monotonic() - t0), None
    if st != 200:
        return "%s: HTTP %s" % (path, st), None
    return None, body


def test_probes_answer_under_slowloris(t):
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    write_file(os.path.join(in_dir, "a.txt"), "before the attack\n")
    expected = words("before the attack")
    ms.wait_counts(expected, settle=0)

    attack = Attack(ms.port)
    try:
        opened = attack.open_all()
        assert opened >= (N_TRICKLE + N_SILENT) * 9 // 10, \
            "could open only %d of %d connections" % (opened, N_TRICKLE + N_SILENT)
        attack.start()
        failures, probes, n, held = [], 0, 0, []
        start = time.monotonic()
        while time.monotonic() - start < PERIOD and probes < 1000:
            tick = time.monotonic()
            held.append(attack.open_now())
            for path in ("/healthz", "/metrics"):
                err, body = _probe(ms, path)
                probes += 1
                if err:
                    failures.append("%5.1fs %s (%d attacker connections open)"
                                    % (time.monotonic() - start, err, attack.open_now()))
                elif path == "/metrics":
                    mstest.parse_metrics(body.decode("utf-8"))
            # The engine keeps working under the attack.
            n += 1
            if n % 10 == 0:
                name = "during-%d.txt" % n
                write_file(os.path.join(in_dir, name), "during attack %d\n" % n)
                expected.update(["during", "attack", str(n)])
            ms.check_alive()
            time.sleep(max(0.0, PROBE_EVERY - (time.monotonic() - tick)))
        assert attack.error is None, "attack thread failed: %r" % (attack.error,)
        held.sort()
        assert not failures, ("%d of %d probes failed while %d slow connections were held "
                              "(opened %d, reopened %d):\n  %s\n%s"
                              % (len(failures), probes, N_TRICKLE + N_SILENT, attack.opened,
                                 attack.reopened, "\n  ".join(failures[:20]), ms.describe()))
        # The pressure was real: hundreds of connections held at every probe.
        assert held[0] >= 200, "the attack held only %d connections at times: %r" % (
            held[0], held[:10])
        print("  %d probes answered; attacker connections opened %d (reopened %d), held "
              "min %d median %d" % (probes, attack.opened, attack.reopened, held[0],
                                   held[len(held) // 2]), flush=True)
    finally:
        attack.stop()
    assert attack.open_now() == 0
    ms.wait_counts(expected, settle=0, what="counts of files written during the attack")
    m = ms.metrics()
    assert m.get("mstream_http_connections_closed_total", reason="evicted") is not None, \
        "no mstream_http_connections_closed_total{reason=\"evicted\"} series"
    rc = ms.term()
    assert rc == 0, "SIGTERM after the attack: exit %r\n%s" % (rc, ms.describe())



def test_trickling_request_closed_at_deadline(t):
    """Below the connection budget nobody is evicted, but a request that
    keeps trickling (one byte a second, so an idle timeout never fires) is
    still closed by the server: its deadline counts from the connection's
    start, not from its last byte."""
    in_dir, chk = t.dirs()
    ms = t.mstream(in_dir, chk)
    ms.start()
    socks = []
    try:
        for _ in range(10):
            s = socket.create_connection(("127.0.0.1", ms.port), timeout=5)
            s.setblocking(False)
            socks.append(s)
        open_ = set(range(len(socks)))
        sent = 0
        start = time.monotonic()
        # A bound, not a timing assertion: 40 s (scaled) is longer than any
        # request deadline mstream documents (10 s).
        while open_ and time.monotonic() - start < scaled(40):
            for i in list(open_):
                try:
                    socks[i].recv(4096)       # b"" (closed) or a response: over
                    open_.discard(i)
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    open_.discard(i)
                    continue
                try:
                    socks[i].send(REQUEST[sent % len(REQUEST):][:1])
                except BlockingIOError:
                    pass
                except OSError:
                    open_.discard(i)
            sent += 1
            ms.check_alive()
            time.sleep(1.0)
        assert not open_, ("%d of %d trickling connections still open after %.0fs (%d bytes "
                           "each)" % (len(open_), len(socks), time.monotonic() - start, sent))
    finally:
        for s in socks:
            s.close()
    m = ms.metrics()
    assert m.get("mstream_http_connections_closed_total", reason="timeout") >= len(socks), \
        m.series("mstream_http_connections_closed_total")
    assert ms.get("/healthz")[0] == 200


if __name__ == "__main__":
    mstest.run(globals())
