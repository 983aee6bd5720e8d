"""The test broker script itself (kafka_broker.sh): what the fixture and
other engineers' restart tests rely on."""
import os
import signal
import subprocess
import time

import kafkatest as kt


def sh(*args, timeout=300):
    r = subprocess.run([kt.BROKER_SH] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=kt.scaled(timeout))
    return r.returncode, r.stdout, r.stderr


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def produce_lines(bootstrap, topic, lines):
    r = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t"],
                       input="".join("k%d\t%s\n" % (i % 3, l) for i, l in enumerate(lines)),
                       capture_output=True, text=True, timeout=kt.scaled(60))
    assert r.returncode == 0, r.stderr


def test_fixture_broker_serves_and_start_reuses_it(t):
    b = kt.broker()
    st = kt.read_state()
    assert st["bootstrap"] == "127.0.0.1:" + st["port"], st
    assert st["status"] == "running" and alive(int(st["pid"])), st
    rc, out, err = sh("start", "--state", b.state_path)
    assert rc == 0 and out.strip() == "bootstrap=" + b.bootstrap, (rc, out, err)
    assert "reusing the running broker" in err, err
    assert kt.read_state()["pid"] == st["pid"], "a second start replaced the broker"
    rc, out, _ = sh("status", "--state", b.state_path)
    assert rc == 0 and "alive=serving" in out, out


def test_restart_keeps_data_and_address(t):
    b = kt.broker()
    topic = t.topic("restart")
    produce_lines(b.bootstrap, topic, ["before-%d" % i for i in range(50)])
    old_pid = b.pid
    b.stop_keep()
    assert not alive(old_pid), "broker pid %d still alive after stop --keep" % old_pid
    st = kt.read_state()
    assert st["status"] == "kept" and os.path.isdir(st["dir"]), st
    # A plain start must not silently discard the kept broker.
    rc, _, err = sh("start", "--state", b.state_path)
    assert rc == 1 and "--reuse" in err, (rc, err)
    b.start_reuse()
    assert b.pid != old_pid and alive(b.pid)
    produce_lines(b.bootstrap, topic, ["after-%d" % i for i in range(50)])
    vals = sorted(m["v"] for m in kt.consume(b.bootstrap, topic))
    assert vals == sorted(["before-%d" % i for i in range(50)] + ["after-%d" % i for i in range(50)])


def test_private_broker_lifecycle_and_stale_state(t):
    state = os.path.join(t.dir, "own.state")
    rc, out, err = sh("start", "--state", state)
    assert rc == 0 and out.startswith("bootstrap=127.0.0.1:"), (rc, out, err)
    st = kt.read_state(state)
    pid, d = int(st["pid"]), st["dir"]
    try:
        assert st["bootstrap"] != kt.read_state()["bootstrap"], "two brokers on one port"
        # The broker dies behind the script's back: the next start cleans up
        # the stale state and starts a fresh broker.
        os.kill(pid, signal.SIGKILL)
        kt.wait_for(lambda: not alive(pid), 30, "killed broker to exit")
        rc, out, err = sh("start", "--state", state)
        assert rc == 0, err
        st2 = kt.read_state(state)
        assert int(st2["pid"]) != pid and st2["dir"] != d and not os.path.exists(d), (st2, d)
        pid, d = int(st2["pid"]), st2["dir"]
    finally:
        rc, _, err = sh("stop", "--state", state)
    assert rc == 0, err
    kt.wait_for(lambda: not alive(pid), 30, "broker to exit after stop")
    assert not os.path.exists(d) and not os.path.exists(state), "stop left %s or %s" % (d, state)
    rc, _, err = sh("stop", "--state", state)
    assert rc == 0 and "nothing to stop" in err, err


if __name__ == "__main__":
    kt.run_tests(globals())
