#!/usr/bin/env python3
"""docker-compose.yml and the Dockerfile, validated without a Docker engine.

  * `docker-compose -f docker-compose.yml config -q` passes (Debian's
    docker-compose; the test is skipped, exit 77, when it is not installed);
  * the normalised configuration (`docker-compose config`, read as YAML by
    docker-compose's own Python) has the services and named volumes the stack
    needs; every depends_on condition points at a service that can satisfy it
    (service_healthy: a health check of its own in compose;
    service_completed_successfully: a one-shot service, restart "no");
    published ports bind 127.0.0.1 only;
  * health checks are not inherited: the Dockerfile has no HEALTHCHECK, every
    engine service checks its own /readyz on its --metrics-addr port, and the
    one-shot and helper services built from the image disable theirs;
  * the demo keeps moving: the producer replays with --loop at a pace where
    one pass of the generated trace lasts at least a minute, the feeder
    feeds with --loop at a
    --rate and keeps a bounded number of files (--keep-files);
  * Kafka is published for tools on the host: a listener on :9094, advertised
    as 127.0.0.1:9094 (or localhost), in the security protocol map, and the
    port published on 127.0.0.1;
  * Prometheus gets the alerting rules mounted beside prometheus.yml under the
    name its rule_files gives;
  * the bind mounts exist in the repository, the Grafana provider path is the
    mount point of grafana/dashboards, the data source URL names the
    prometheus service, and prometheus/prometheus.yml scrapes exactly the
    mstream services on the port they listen on;
  * every option the mstream, producer, ms_tracegen and ms_feeder services pass
    is listed by that binary's --help -- except mstream's Kafka options while
    the engine does not read Kafka yet, which are printed as not checked;
  * the Dockerfile builds FROM Debian with every package of dev.sh's PKGS.
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashlib  # noqa: E402
from dashlib import mstest, ROOT  # noqa: E402

COMPOSE = os.path.join(ROOT, "docker-compose.yml")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")
SERVICES = {"kafka", "kafka-init", "tracegen", "mstream", "mstream-2", "mstream-hourly", "producer",
            "mstream-wordcount", "feeder", "prometheus", "grafana"}
VOLUMES = {"kafka-data", "trace", "mstream-checkpoint", "mstream-2-checkpoint",
           "mstream-hourly-checkpoint",
           "wordcount-checkpoint", "wordcount-input", "prometheus-data", "grafana-data"}
# mstream options of docs/design.md §1 that the Kafka wiring adds.
KAFKA_FLAGS = {"--kafka", "--topics", "--starting-offsets", "--fail-on-data-loss",
               "--max-offsets-per-trigger", "-X"}
BINARIES = {"mstream": None, "producer": "MS_PRODUCER", "ms_tracegen": "MS_TRACEGEN",
            "ms_feeder": "MS_FEEDER"}


def _compose():
    exe = shutil.which("docker-compose")
    if not exe:
        raise mstest.Skip("docker-compose not installed (Debian package docker-compose)")
    return exe


def _run(argv, **kw):
    p = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=mstest.scaled(120), **kw)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def _yaml_to_json(exe, text):
    """YAML -> Python objects with PyYAML: this interpreter's if it has it,
    else the one docker-compose runs on (it needs PyYAML itself)."""
    try:
        import yaml  # noqa: F401
        return yaml.safe_load(text)
    except ImportError:
        pass
    with open(exe, "rb") as f:
        first = f.readline().decode("utf-8", "replace").strip()
    py = first[2:].split()[0] if first.startswith("#!") else "python3"
    p = subprocess.run([py, "-c", "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), "
                        "sys.stdout)"], input=text.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    assert p.returncode == 0, "cannot read YAML with %s: %s" % (py, p.stdout.decode())
    return json.loads(p.stdout)


def _config():
    exe = _compose()
    rc, out = _run([exe, "-f", COMPOSE, "config", "-q"])
    assert rc == 0 and not out.strip(), "docker-compose config -q failed (rc %d):\n%s" % (rc, out)
    rc, out = _run([exe, "-f", COMPOSE, "config"])
    assert rc == 0, out
    return _yaml_to_json(exe, out)


def _health_disabled(service):
    h = service.get("healthcheck") or {}
    return h.get("disable") is True or h.get("test") in (["NONE"], "NONE")


def _arg(cmd, flag):
    assert flag in cmd, "%s not in %r" % (flag, cmd)
    return cmd[cmd.index(flag) + 1]


def _help_flags(binary):
    p = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    text = p.stdout.decode("utf-8", "replace")
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[A-Za-z])\b", text)), text


def test_compose_config(t):
    del t
    cfg = _config()
    services = cfg["services"]
    assert set(services) == SERVICES, "services %r" % sorted(services)
    assert VOLUMES <= set(cfg.get("volumes", {})), "volumes %r" % sorted(cfg.get("volumes", {}))

    with open(DOCKERFILE, encoding="utf-8") as f:
        dockerfile = f.read()
    assert not re.search(r"^\s*HEALTHCHECK\b", dockerfile, re.M | re.I), \
        "the Dockerfile has a HEALTHCHECK, which every container of the image inherits"
    built = {n for n, s in services.items() if "build" in s}
    assert built >= {"mstream", "mstream-2", "mstream-hourly", "mstream-wordcount", "producer",
                     "tracegen",
                     "feeder"}, sorted(built)
    # Two replicas of one consumer group (group mode, docs/kafka.md): the
    # same query and --application-id, each its own checkpoint volume (a
    # cache of its share of the state) and its own published port.
    group = {n: s for n, s in services.items() if "--application-id" in (s.get("command") or [])}
    assert set(group) == {"mstream", "mstream-2"}, "group replicas %r" % sorted(group)
    assert len({_arg(s["command"], "--application-id") for s in group.values()}) == 1
    assert len({_arg(s["command"], "--query") for s in group.values()}) == 1
    vols = {n: tuple(sorted(v["source"] if isinstance(v, dict) else v.split(":")[0]
                            for v in s.get("volumes", []))) for n, s in group.items()}
    assert len(set(vols.values())) == 2, "the replicas share a checkpoint volume: %r" % vols
    for name, s in services.items():
        for dep, cond in (s.get("depends_on") or {}).items():
            assert dep in services, "%s depends on unknown %s" % (name, dep)
            c = cond.get("condition")
            d = services[dep]
            if c == "service_healthy":
                assert "healthcheck" in d and not _health_disabled(d), \
                    "%s waits for %s to be healthy, which has no health check" % (name, dep)
            elif c == "service_completed_successfully":
                assert str(d.get("restart", "no")) == "no", \
                    "%s waits for %s to complete, but it restarts" % (name, dep)
            else:
                assert c == "service_started", (name, dep, c)
        for port in s.get("ports", []):
            ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert ip == "127.0.0.1", "%s publishes %r beyond loopback" % (name, port)

    # Health checks: the engines' own, none for the rest of the image's users.
    for name in built:
        s = services[name]
        cmd = s.get("command") or []
        if cmd and cmd[0] == "mstream":
            port = cmd[cmd.index("--metrics-addr") + 1].split(":")[1]
            test = " ".join(s.get("healthcheck", {}).get("test", []))
            assert "/readyz" in test and ":%s/" % port in test, \
                "engine %s: health check %r does not ask its /readyz on port %s" % (name, test, port)
        else:
            assert _health_disabled(s), \
                "%s (%s) runs from the mstream image without disabling the health check" % (
                    name, cmd[:1])

    # The demo keeps moving.
    prod = services["producer"]["command"]
    assert "--loop" in prod, "the producer replays the trace once and stops: %r" % prod
    days = float(_arg(services["tracegen"]["command"], "--days"))
    factor = float(_arg(prod, "--speed-factor"))
    assert days * 86400 / factor >= 60, \
        "one pass of %g days at --speed-factor %g lasts %.1f s" % (days, factor, days * 86400 / factor)
    feed = services["feeder"]["command"]
    assert "--loop" in feed and float(_arg(feed, "--rate")) > 0 and int(_arg(feed, "--keep-files")) > 0, \
        "the feeder must loop at a --rate and keep a bounded number of files: %r" % feed

    # Kafka for tools on the host.
    env = services["kafka"]["environment"]
    listeners = dict(l.split("://") for l in env["KAFKA_LISTENERS"].split(","))
    adv = dict(l.split("://") for l in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protos = dict(l.split(":") for l in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    host = [n for n, a in adv.items() if a.split(":")[0] in ("127.0.0.1", "localhost")]
    assert len(host) == 1, "no listener advertised for the host: %r" % adv
    hport = adv[host[0]].split(":")[1]
    assert listeners.get(host[0], "").endswith(":" + hport) and host[0] in protos, \
        (listeners, protos)
    published = {(p.get("host_ip"), str(p.get("published")), str(p.get("target")))
                 if isinstance(p, dict) else tuple(str(p).split("/")[0].split(":"))
                 for p in services["kafka"].get("ports", [])}
    assert ("127.0.0.1", hport, hport) in published, \
        "kafka does not publish 127.0.0.1:%s: %r" % (hport, published)

    # Bind mounts: repository paths that exist.
    mounts = {}
    for name, s in services.items():
        for v in s.get("volumes", []):
            if isinstance(v, dict) and v.get("type") == "bind":
                src, dst = v["source"], v["target"]
            elif isinstance(v, str) and v.startswith(("/", ".")):
                src, dst = v.split(":")[0], v.split(":")[1]
            else:
                continue
            assert os.path.exists(src), "%s mounts %s, which does not exist" % (name, src)
            mounts[os.path.relpath(os.path.realpath(src), ROOT)] = (name, dst)
    assert mounts.get("prometheus/prometheus.yml", (None,))[0] == "prometheus", mounts
    assert mounts.get("grafana/provisioning", (None,))[0] == "grafana", mounts
    assert mounts.get("grafana/dashboards", (None,))[0] == "grafana", mounts
    assert mounts["grafana/provisioning"][1] == "/etc/grafana/provisioning", mounts
    prom_dir = os.path.dirname(mounts["prometheus/prometheus.yml"][1])
    with open(dashlib.PROM_CONFIG, encoding="utf-8") as f:
        rules = dashlib.rule_files(f.read())
    assert rules, "prometheus.yml loads no rule files"
    for rf in rules:
        rel = os.path.relpath(os.path.join(os.path.dirname(dashlib.PROM_CONFIG), rf), ROOT)
        assert mounts.get(rel) == ("prometheus", os.path.join(prom_dir, rf)), \
            "rule file %s is not mounted at %s: %r" % (rel, os.path.join(prom_dir, rf), mounts)
    prov_dir = os.path.join(ROOT, "grafana", "provisioning", "dashboards")
    paths = []
    for fn in os.listdir(prov_dir):
        with open(os.path.join(prov_dir, fn), encoding="utf-8") as f:
            paths += re.findall(r"^\s*path:\s*(\S+)\s*$", f.read(), re.M)
    assert paths == [mounts["grafana/dashboards"][1]], \
        "dashboard provider path %r is not the mount point of grafana/dashboards %r" % (
            paths, mounts["grafana/dashboards"][1])
    with open(dashlib.DS_PROVISIONING, encoding="utf-8") as f:
        url = re.search(r"^\s*url:\s*http://([\w-]+):(\d+)\s*$", f.read(), re.M)
    assert url and url.group(1) in services, "data source url must name a compose service"
    prom_cmd = " ".join(services[url.group(1)].get("command", []))
    assert url.group(2) == "9090" and "/etc/prometheus/prometheus.yml" in prom_cmd, prom_cmd

    # Prometheus scrapes exactly the mstream services, on their --metrics-addr port.
    with open(dashlib.PROM_CONFIG, encoding="utf-8") as f:
        line = [l for l in f if l.rstrip().endswith(dashlib.TARGETS_MARK)][0]
    targets = set(re.findall(r"'([^']+)'", line))
    engines = {n for n, s in services.items() if (s.get("command") or [None])[0] == "mstream"}
    want = set()
    for n in engines:
        cmd = services[n]["command"]
        addr = cmd[cmd.index("--metrics-addr") + 1]
        assert addr.startswith("0.0.0.0:"), "%s must listen on all container addresses" % n
        want.add("%s:%s" % (n, addr.split(":")[1]))
    assert targets == want, "prometheus.yml targets %r, mstream services %r" % (targets, want)

    # Every option a service passes exists in its binary's --help.
    unchecked = []
    helps = {}
    for binary, env in BINARIES.items():
        path = mstest.MSTREAM if env is None else os.environ.get(env)
        if path and os.access(path, os.X_OK):
            helps[binary] = _help_flags(path)[0]
    for name, s in sorted(services.items()):
        cmd = s.get("command") or []
        if not cmd or cmd[0] not in BINARIES:
            continue
        if cmd[0] not in helps:
            unchecked.append("%s: %s binary not given" % (name, cmd[0]))
            continue
        for arg in cmd[1:]:
            if not re.match(r"^--?[A-Za-z]", arg):
                continue
            flag = arg.split("=")[0]
            if flag in helps[cmd[0]]:
                continue
            if cmd[0] == "mstream" and flag in KAFKA_FLAGS and "--kafka" not in helps["mstream"]:
                unchecked.append("%s: %s (the engine does not read Kafka yet)" % (name, flag))
                continue
            raise AssertionError("service %s passes %s, which `%s --help` does not list"
                                 % (name, flag, cmd[0]))
    if unchecked:
        print("  NOT CHECKED against --help:\n    " + "\n    ".join(unchecked))
    print("  docker-compose config -q: ok; %d services, %d volumes" % (len(services),
                                                                      len(cfg["volumes"])))


def test_dockerfile_packages(t):
    del t
    with open(DOCKERFILE, encoding="utf-8") as f:
        text = f.read()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms and all(f.startswith("debian:") for f in froms), froms
    with open(os.path.join(ROOT, "dev.sh"), encoding="utf-8") as f:
        dev = f.read()
    m = re.search(r"^PKGS=\(([^)]*)\)", dev, re.M)
    assert m, "dev.sh has no PKGS=(...)"
    pkgs = set(m.group(1).split())
    build_stage = re.split(r"\nFROM ", "\n" + text)[1]     # the first stage
    installed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", " ".join(
        re.findall(r"apt-get install[^&]*", build_stage.replace("\\\n", " ")))))
    missing = pkgs - installed
    assert not missing, "the Dockerfile's build stage lacks dev.sh packages %s" % sorted(missing)
    assert os.path.exists(os.path.join(ROOT, ".dockerignore"))
    print("  Dockerfile: FROM %s; dev.sh packages %s" % (", ".join(froms), " ".join(sorted(pkgs))))


if __name__ == "__main__":
    mstest.run(globals())
