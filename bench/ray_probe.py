"""What a local Ray cluster does on this machine, with every setting that keeps it
private.

Starts `ray.init` with usage statistics off (RAY_USAGE_STATS_ENABLED=0),
include_dashboard=False, log_to_driver=False and _node_ip_address="127.0.0.1", two CPUs
and two actors, then records which node address Ray used, which sockets its processes
listen on (address and process name, from `ss -ltnp`), how many processes it started,
and whether it wrote a token into ~/.ray; shuts Ray down and checks that its processes
are gone. Writes nbs/data/ray_probe.json, which the chapter "Asynchronous training"
reads to explain why it uses Dask. Needs `pip install ray` (not a dependency of
dnc_lit). A measurement, not a test.

Usage: python bench/ray_probe.py [--out nbs/data/ray_probe.json]
"""
import os
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
import argparse, datetime, json, platform, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def descendants(pid):
    "PIDs of all processes below `pid` (from ps)."
    rows = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True,
                          text=True)
    children = {}
    for line in rows.stdout.split("\n"):
        if line.strip() and line.split()[2] != "ps":      # not the ps of this very call
            p, pp = map(int, line.split()[:2])
            children.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []): out.append(c); todo.append(c)
    return out


def listening(pids):
    "The TCP sockets that the processes `pids` listen on: [{address, port, process}]."
    out = []
    ss = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    for line in ss.splitlines():
        m = re.search(r'users:\(\("([^"]+)",pid=(\d+)', line)
        if not m or int(m.group(2)) not in pids: continue
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        out.append({"address": address, "port": int(port), "process": m.group(1)})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out",
                    default=os.path.join(ROOT, "nbs", "data", "ray_probe.json"))
    a = ap.parse_args()
    import ray
    token = os.path.expanduser("~/.ray/auth_token")
    had_token = os.path.exists(token)
    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False, _node_ip_address="127.0.0.1")
    init_s = time.perf_counter() - t

    @ray.remote
    class Probe:
        def pid(self): return os.getpid()

    actors = [Probe.remote() for _ in range(2)]
    ray.get([x.pid.remote() for x in actors])
    node_ip = ray.util.get_node_ip_address()
    pids = set(descendants(os.getpid())) | {os.getpid()}
    socks = listening(pids)
    procs = len(descendants(os.getpid()))
    ray.shutdown()
    time.sleep(2)
    rec = dict(what="a local Ray cluster with every privacy setting of ray.init",
               command="python bench/ray_probe.py",
               recorded=f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"
                        " UTC",
               machine=f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}",
               ray_version=ray.__version__,
               settings=dict(RAY_USAGE_STATS_ENABLED="0", include_dashboard=False,
                             log_to_driver=False, _node_ip_address="127.0.0.1",
                             num_cpus=2),
               node_ip_address_asked="127.0.0.1", node_ip_address_used=node_ip,
               listening=socks, processes=procs, init_seconds=round(init_s, 2),
               wrote_token=(not had_token) and os.path.exists(token),
               token_present=os.path.exists(token),
               processes_left_after_shutdown=len(descendants(os.getpid())))
    with open(a.out, "w") as f: json.dump(rec, f, indent=1)
    print(json.dumps({k: v for k, v in rec.items() if k != "listening"}, indent=1))
    print(f"{len(socks)} listening sockets:", sorted({s['address'] for s in socks}))


if __name__ == "__main__":
    sys.exit(main())
