#!/usr/bin/env python3
"""cocoon's OCI runtime commands, driven the way an engine drives runc.

`oci_runtime.py CASE` with $COCOON (the binary) and $COCOON_KERNEL set.
This script stands in for the containerd shim / conmon: it is a child
subreaper, runs `create` with the container's stdio on files, `start`,
and reaps the VM process to read the container's exit status. Exit 0
when the case passed; otherwise a FAIL line and exit 1.
"""
import array
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

COCOON = os.environ["COCOON"]
CASE = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="cocoon-oci.", dir="/run" if os.path.isdir("/run") else None)
ROOT = os.path.join(TMP, "state")
BUSYBOX = shutil.which("busybox") or "/bin/busybox"

libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: VM processes land here


def fail(msg):
    print(f"FAIL [oci-{CASE}]: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Bundle:
    """A bundle with a busybox root, users root and app (1000), and a
    config.json shaped like the ones docker and podman write."""

    def __init__(self, name, args, **proc):
        self.dir = os.path.join(TMP, name)
        self.rootfs = os.path.join(self.dir, "rootfs")
        os.makedirs(os.path.join(self.rootfs, "bin"))
        os.makedirs(os.path.join(self.rootfs, "etc"))
        shutil.copy(BUSYBOX, os.path.join(self.rootfs, "bin", "busybox"))
        for a in ("sh", "echo", "cat", "id", "hostname", "sleep", "ls", "grep", "pwd",
                  "nproc", "ip", "ping", "touch", "mount", "df", "head", "wc", "stat",
                  "tty", "env", "true"):
            os.symlink("busybox", os.path.join(self.rootfs, "bin", a))
        with open(os.path.join(self.rootfs, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
        with open(os.path.join(self.rootfs, "etc", "group"), "w") as f:
            f.write("root:x:0:\napp:x:1000:\nextra:x:44:app\n")
        process = {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
                   "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/"}
        process.update(proc)
        self.config = {
            "ociVersion": "1.0.2-dev",
            "process": process,
            "root": {"path": "rootfs"},
            "hostname": "oci-test",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": ["ro", "nosuid", "noexec", "nodev"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                 "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                 "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
            ],
            "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                                     {"type": "mount"}]},
        }

    def write(self):
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(self.config, f)
        return self


def rt(*args, log=None):
    """A runtime command that returns (its own output, unlike create)."""
    cmd = [COCOON, "--root", ROOT]
    if log:
        cmd += ["--log", log, "--log-format", "json"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=600)


class Container:
    def __init__(self, cid, bundle, console_socket=None, stdin=None):
        self.id, self.bundle = cid, bundle
        self.out = os.path.join(TMP, cid + ".out")
        self.err = os.path.join(TMP, cid + ".err")
        self.pidfile = os.path.join(TMP, cid + ".pid")
        self.log = os.path.join(TMP, cid + ".log")
        args = ["create", "--bundle", bundle.dir, "--pid-file", self.pidfile]
        if console_socket:
            args += ["--console-socket", console_socket]
        with open(self.out, "w") as o, open(self.err, "w") as e:
            self.create = subprocess.run(
                [COCOON, "--root", ROOT, "--log", self.log, "--log-format", "json",
                 "--systemd-cgroup"] + args + [cid],
                stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=o, stderr=e,
                timeout=600)
        self.pid = int(open(self.pidfile).read()) if self.create.returncode == 0 else None

    def created(self):
        check(self.create.returncode == 0,
              f"create failed ({self.create.returncode}): {self.stderr()}")
        return self

    def state(self):
        r = rt("state", self.id)
        check(r.returncode == 0, f"state failed: {r.stderr}")
        return json.loads(r.stdout)

    def start(self):
        r = rt("start", self.id)
        check(r.returncode == 0, f"start failed: {r.stderr}")

    def wait(self, timeout=300):
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        fail(f"container {self.id} did not exit within {timeout} s")

    def stdout(self):
        return open(self.out).read()

    def stderr(self):
        return open(self.err).read()


def expect_error(r, want):
    """A failed runtime command: status 1, one line naming the fault."""
    check(r.returncode == 1, f"status {r.returncode}, expected 1: {r.stderr}")
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(len(lines) == 1, f"expected one error line, got: {r.stderr!r}")
    check(want in lines[0], f"error lacks {want!r}: {lines[0]}")


def run_to_end(cid, bundle, **kw):
    c = Container(cid, bundle, **kw).created()
    c.start()
    return c, c.wait()


# ---- cases -------------------------------------------------------------------

def case_lifecycle():
    b = Bundle("b", ["sh", "-c",
                     "echo out; echo err >&2; echo FOO=$FOO; pwd; id -u; id -g; id -G; "
                     "hostname; exit 7"],
               env=["PATH=/bin", "FOO=bar baz"], cwd="/work/dir",
               user={"uid": 1000, "gid": 1000, "additionalGids": [44, 1000]})
    cgroup2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    b.config["linux"]["cgroupsPath"] = "/cocoon-test/life"
    b.write()
    c = Container("life", b).created()
    if cgroup2:
        cg = open(f"/proc/{c.pid}/cgroup").read()
        check("0::/cocoon-test/life" in cg, f"the VM process is not in its cgroup: {cg}")
    st = c.state()
    check(st["status"] == "created", f"state after create: {st}")
    check(st["pid"] == c.pid and st["id"] == "life" and st["bundle"] == b.dir, f"state: {st}")
    check(os.path.exists(f"/proc/{c.pid}"), "the VM process is not alive after create")
    check(c.stdout() == "", "the workload ran before start")
    expect_error(rt("create", "--bundle", b.dir, "life"), "already exists")
    c.start()
    check(c.state()["status"] in ("running", "stopped"), "state after start")
    status = c.wait()
    check(status == 7, f"exit status {status}, expected 7; stderr: {c.stderr()}")
    want = "out\nFOO=bar baz\n/work/dir\n1000\n1000\n1000 44\noci-test\n"
    check(c.stdout() == want, f"stdout {c.stdout()!r}, expected {want!r}")
    check(c.stderr() == "err\n", f"stderr {c.stderr()!r}")
    st = c.state()
    check(st["status"] == "stopped" and st["pid"] == 0, f"state after exit: {st}")
    expect_error(rt("start", "life"), "stopped")
    expect_error(rt("kill", "life", "TERM"), "not running")
    r = rt("delete", "life")
    check(r.returncode == 0, f"delete: {r.stderr}")
    check(not os.path.exists(os.path.join(ROOT, "life")), "delete left the state directory")
    check(not os.path.exists("/sys/fs/cgroup/cocoon-test/life"), "delete left the cgroup")
    expect_error(rt("state", "life"), "does not exist")
    r = rt("delete", "--force", "life")
    check(r.returncode == 0, "delete --force of a deleted container must succeed")
    r = rt("list", "--quiet")
    check(r.returncode == 0 and r.stdout == "", f"list: {r.stdout!r} {r.stderr}")
    r = rt("features")
    check(r.returncode == 0 and json.loads(r.stdout)["ociVersionMax"].startswith("1."),
          "features")


def case_mounts():
    engine = os.path.join(TMP, "engine")  # like /var/lib/docker/containers/ID
    os.makedirs(engine)
    with open(os.path.join(engine, "hosts"), "w") as f:
        f.write("10.1.2.3\toci-test\n")
    with open(os.path.join(engine, "resolv.conf"), "w") as f:
        f.write("nameserver 10.9.9.9\n")
    with open(os.path.join(engine, "config.v2.json"), "w") as f:
        f.write("ENGINE-SECRET\n")
    data = os.path.join(TMP, "data")
    ro = os.path.join(TMP, "ro")
    os.makedirs(data)
    os.makedirs(ro)
    with open(os.path.join(ro, "r"), "w") as f:
        f.write("read-only\n")
    script = ("cat /etc/hosts /etc/resolv.conf; ls /etc; echo guest > /data/g; cat /ro/r; "
              "touch /ro/x 2>/dev/null && echo ro-writable; "
              "echo x > /etc/hosts.new 2>/dev/null && echo root-writable; "
              "grep -c ' /scratch tmpfs ' /proc/mounts; "
              "head -c 2000000 /dev/zero > /scratch/f 2>/dev/null || echo tmpfs-full; "
              "grep MemTotal /proc/meminfo; nproc")
    b = Bundle("b", ["sh", "-c", script])
    b.config["mounts"] += [
        {"destination": "/etc/hosts", "type": "bind", "source": engine + "/hosts",
         "options": ["rbind", "rprivate"]},
        {"destination": "/etc/resolv.conf", "type": "bind",
         "source": engine + "/resolv.conf", "options": ["rbind", "rprivate"]},
        {"destination": "/data", "type": "bind", "source": data, "options": ["rbind"]},
        {"destination": "/ro", "type": "bind", "source": ro, "options": ["rbind", "ro"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
         "options": ["size=1m", "mode=1777"]},
    ]
    b.config["root"]["readonly"] = True
    b.config["annotations"] = {"io.cocoon.memory": "200M", "io.cocoon.cpus": "2"}
    b.write()
    c, status = run_to_end("mounts", b)
    out = c.stdout()
    check(status == 0, f"exit {status}; stderr: {c.stderr()}")
    check("10.1.2.3\toci-test" in out and "nameserver 10.9.9.9" in out,
          f"bind-mounted files: {out}")
    check("ENGINE-SECRET" not in out, "a sibling of a bind-mounted file leaked")
    check(open(os.path.join(data, "g")).read() == "guest\n", "write to a rw bind")
    check("read-only" in out and "ro-writable" not in out, f"ro bind: {out}")
    check("root-writable" not in out, "root.readonly root was writable")
    check("\n1\n" in out and "tmpfs-full" in out, f"tmpfs mount with size=1m: {out}")
    mem = int(out.split("MemTotal:")[1].split()[0])
    check(150000 < mem <= 204800, f"io.cocoon.memory 200M: MemTotal {mem} kB")
    check(out.strip().endswith("2"), f"io.cocoon.cpus 2: {out}")
    check(sorted(os.listdir(engine)) == ["config.v2.json", "hosts", "resolv.conf"],
          f"the guest changed the engine directory: {os.listdir(engine)}")
    rt("delete", "mounts")


def recv_fd(sock):
    fds = array.array("i")
    msg, anc, _, _ = sock.recvmsg(256, socket.CMSG_SPACE(fds.itemsize))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[:fds.itemsize])
    return msg.decode(), fds[0]


def case_terminal():
    sock_path = os.path.join(TMP, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    b = Bundle("b", ["sh"], terminal=True, consoleSize={"height": 30, "width": 100}).write()
    expect_error(rt("create", "--bundle", b.dir, "noconsole"), "console-socket")
    c = Container("tty", b, console_socket=sock_path)
    conn, _ = srv.accept()
    name, master = recv_fd(conn)
    c.created()
    check(name.startswith("/dev/pts/"), f"console socket payload {name!r}")
    c.start()
    os.write(master, b"tty; stty size; echo hi-$((6*7)); exit 3\n")
    got = b""
    deadline = time.time() + 300
    while time.time() < deadline and b"hi-42" not in got.replace(b"echo hi-", b""):
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        got += chunk
    status = c.wait()
    check(status == 3, f"exit {status}; got {got!r}")
    check(b"/dev/hvc0" in got or b"/dev/console" in got, f"not a terminal: {got!r}")
    check(b"30 100" in got, f"console size: {got!r}")
    rt("delete", "tty")


def case_signals():
    # Killed before start: the VM process dies of the signal.
    b = Bundle("b", ["sh", "-c", "echo must-not-run"]).write()
    c = Container("early", b).created()
    check(rt("kill", "early", "KILL").returncode == 0, "kill KILL of a created container")
    status = c.wait()
    check(status == -signal.SIGKILL, f"created container killed: status {status}")
    check(c.stdout() == "", "the workload ran")
    rt("delete", "early")
    # TERM and USR1 reach the workload's traps (USR1 is relayed: cocoon
    # uses it itself).
    b2 = Bundle("b2", ["sh", "-c",
                       "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 5' TERM; "
                       "echo ready; while :; do sleep 0.1; done"]).write()
    c = Container("traps", b2).created()
    c.start()
    deadline = time.time() + 300
    while "ready" not in c.stdout() and time.time() < deadline:
        time.sleep(0.2)
    check("ready" in c.stdout(), "the workload did not start")
    check(c.state()["status"] == "running", "state of a running container")
    r = rt("ps", "--format", "json", "traps")
    check(r.returncode == 0 and json.loads(r.stdout) == [c.pid], f"ps: {r.stdout}")
    expect_error(rt("delete", "traps"), "running")
    check(rt("kill", "traps", "SIGUSR1").returncode == 0, "kill USR1")
    while "got-usr1" not in c.stdout() and time.time() < deadline:
        time.sleep(0.2)
    check(rt("kill", "traps").returncode == 0, "kill (TERM)")
    status = c.wait()
    check(status == 5, f"exit {status} after TERM, expected 5; out {c.stdout()!r}")
    check("got-usr1" in c.stdout() and "got-term" in c.stdout(), c.stdout())
    rt("delete", "traps")
    # delete --force of a running container kills it. Before that: TERM
    # to a workload without a handler is dropped, as for runc's container
    # init (docker stop then waits for its SIGKILL).
    b3 = Bundle("b3", ["sh", "-c", "echo ready; exec sleep 1000"]).write()
    c = Container("forced", b3).created()
    c.start()
    while "ready" not in c.stdout() and time.time() < deadline:
        time.sleep(0.2)
    check(rt("kill", "forced", "TERM").returncode == 0, "kill TERM")
    time.sleep(3)
    check(c.state()["status"] == "running", "TERM without a handler stopped the workload")
    r = rt("delete", "--force", "forced")
    check(r.returncode == 0, f"delete --force: {r.stderr}")
    check(c.wait(30) == -signal.SIGKILL, "delete --force did not kill the VM")
    expect_error(rt("state", "forced"), "does not exist")


def case_errors():
    b = Bundle("b", ["true"]).write()
    expect_error(rt("create", "--bundle", b.dir, "bad/id"), "invalid container ID")
    expect_error(rt("create", "--bundle", os.path.join(TMP, "nope"), "x1"), "nope")
    b.config["process"]["args"] = []
    b.write()
    expect_error(rt("create", "--bundle", b.dir, "x2"), "process.args")
    b.config["process"]["args"] = ["true"]
    b.config["annotations"] = {"io.cocoon.memory": "lots"}
    b.write()
    expect_error(rt("create", "--bundle", b.dir, "x3"), "io.cocoon.memory")
    b.config["annotations"] = {}
    b.config["mounts"].append({"destination": "/sock", "type": "bind", "source": "/dev/null",
                               "options": ["rbind"]})
    b.write()
    expect_error(rt("create", "--bundle", b.dir, "x4"), "only directories and regular files")
    with open(os.path.join(b.dir, "config.json"), "w") as f:
        f.write("{not json")
    expect_error(rt("create", "--bundle", b.dir, "x5"), "config.json")
    log = os.path.join(TMP, "err.log")
    r = rt("start", "ghost", log=log)
    expect_error(r, "does not exist")
    entry = json.loads(open(log).read().splitlines()[-1])
    check(entry["level"] == "error" and "ghost" in entry["msg"], f"--log json: {entry}")
    expect_error(rt("kill", "ghost", "NOSUCHSIG"), "not a signal")
    expect_error(rt("exec", "ghost"), "not supported")
    expect_error(rt("--log-format", "xml", "state", "x"), "--log-format")
    check(os.listdir(ROOT) == [], f"failed creates left state behind: {os.listdir(ROOT)}")


def case_hooks():
    out = os.path.join(TMP, "hook")
    b = Bundle("b", ["sh", "-c", "exit 0"])
    b.config["hooks"] = {
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}.prestart"]}],
        "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}.poststart"]}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}.poststop"]}],
    }
    b.write()
    c, status = run_to_end("hooked", b)
    check(status == 0, f"exit {status}")
    st = json.load(open(out + ".prestart"))
    check(st["id"] == "hooked" and st["pid"] == c.pid and st["bundle"] == b.dir,
          f"prestart state {st}")
    check(os.path.exists(f"{out}.poststart"), "poststart did not run")
    check(rt("delete", "hooked").returncode == 0, "delete")
    check(os.path.exists(f"{out}.poststop"), "poststop did not run")
    # A failing prestart hook fails create and leaves nothing behind.
    b.config["hooks"] = {"prestart": [{"path": "/bin/sh",
                                       "args": ["sh", "-c", "echo hook-said-no >&2; exit 3"]}]}
    b.write()
    r = rt("create", "--bundle", b.dir, "nohook")
    expect_error(r, "hook-said-no")
    check(not os.path.exists(os.path.join(ROOT, "nohook")), "failed create left state")


def sh(cmd):
    subprocess.run(["sh", "-c", cmd], check=True)


def case_net():
    # What CNI or libnetwork leaves: a named netns holding eth0 (a veth)
    # with an address and a default route; the peer is on "the host".
    ns = "cocoon-oci-" + str(os.getpid())
    sh(f"ip netns add {ns}")
    try:
        sh(f"ip link add veth-h{os.getpid() % 10000} type veth peer name eth0 netns {ns}")
        host_if = f"veth-h{os.getpid() % 10000}"
        sh(f"ip addr add 10.77.0.1/24 dev {host_if} && ip link set {host_if} up")
        sh(f"ip -n {ns} addr add 10.77.0.2/24 dev eth0 && ip -n {ns} link set eth0 up && "
           f"ip -n {ns} link set lo up && ip -n {ns} route add default via 10.77.0.1")
        b = Bundle("b", ["sh", "-c", "ip -4 addr show eth0 | grep -o 'inet [0-9./]*'; "
                         "ip route | grep default; ping -c 1 -W 5 10.77.0.1 >/dev/null && "
                         "echo pinged; echo ready; sleep 1000"])
        b.config["linux"]["namespaces"].append(
            {"type": "network", "path": f"/run/netns/{ns}"})
        b.write()
        c = Container("net", b).created()
        c.start()
        deadline = time.time() + 300
        while "ready" not in c.stdout() and time.time() < deadline:
            time.sleep(0.2)
        out = c.stdout()
        check("inet 10.77.0.2/24" in out, f"guest address: {out!r} {c.stderr()!r}")
        check("default via 10.77.0.1" in out, f"guest route: {out!r}")
        check("pinged" in out, f"guest -> host ping: {out!r}")
        r = subprocess.run([BUSYBOX, "ping", "-c", "1", "-W", "10", "10.77.0.2"],
                           capture_output=True)
        check(r.returncode == 0, "host -> guest ping")
        check(rt("kill", "net", "KILL").returncode == 0, "kill")
        c.wait()
        rt("delete", "net")
    finally:
        subprocess.run(["ip", "netns", "del", ns])


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}

if __name__ == "__main__":
    try:
        if CASE not in CASES:
            fail(f"unknown case; cases: {' '.join(CASES)}")
        CASES[CASE]()
        print(f"PASS [oci-{CASE}]")
    finally:
        # Kill what a failed case left running, then forget it.
        for cid in os.listdir(ROOT) if os.path.isdir(ROOT) else []:
            rt("delete", "--force", cid)
        shutil.rmtree(TMP, ignore_errors=True)
