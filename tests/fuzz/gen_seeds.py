#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the fuzz targets vcon, vrng, cli and pio into
tests/fuzz/corpus/<target>/ (their input formats are described at the top of
tests/fuzz/fuzz_<target>.c). Run it after changing a format; the seeds are
committed.  usage: tests/fuzz/gen_seeds.py"""
import os
import struct

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


class Ram:
    """Guest memory with split virtqueues laid out as the harnesses expect."""

    def __init__(self, size):
        self.b = bytearray(size)
        self.avail_idx = {}

    def put(self, addr, data):
        self.b[addr:addr + len(data)] = data

    def desc(self, table, i, addr, length, flags=0, nxt=0):
        self.put(table + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def publish(self, avail, head):
        n = self.avail_idx.get(avail, 0)
        self.put(avail + 4 + 2 * n, struct.pack("<H", head))
        self.avail_idx[avail] = n + 1
        self.put(avail + 2, struct.pack("<H", n + 1))


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(data))


# ---- vrng: byte 0 options, byte 1 queue size, then guest memory --------------
def vrng():
    AVAIL, DESC = 0x0000, 0x1000

    def seed(opt, build):
        ram = Ram(0x10000)
        build(ram)
        return bytes([opt, 3]) + bytes(ram.b).rstrip(b"\0")

    def one(r):
        r.desc(DESC, 0, 0x8000, 64, F_WRITE)
        r.publish(AVAIL, 0)

    def mixed(r):
        r.desc(DESC, 0, 0x8000, 0x7fff, F_WRITE)          # above the cap
        r.publish(AVAIL, 0)
        r.desc(DESC, 1, 0x9000, 16, 0)                     # driver-readable
        r.publish(AVAIL, 1)
        r.desc(DESC, 2, 0xa000, 8, F_WRITE | F_NEXT, 3)   # two writable parts
        r.desc(DESC, 3, 0xa100, 8, F_WRITE)
        r.publish(AVAIL, 2)
        r.desc(DESC, 4, 0xb000, 8, F_WRITE | F_NEXT, 4)   # a loop
        r.publish(AVAIL, 4)
        r.desc(DESC, 5, 0x1fff0, 64, F_WRITE)             # past RAM's end
        r.publish(AVAIL, 5)

    def indirect(r):
        r.desc(DESC, 0, 0x2000, 32, F_INDIRECT)
        r.desc(0x2000, 0, 0x8000, 32, F_WRITE | F_NEXT, 1)
        r.desc(0x2000, 1, 0x8100, 32, F_WRITE)
        r.publish(AVAIL, 0)
        r.desc(DESC, 1, 0x2100, 24, F_INDIRECT)           # not a multiple of 16
        r.publish(AVAIL, 1)

    write("vrng", "one-request", seed(0x00, one))
    write("vrng", "mixed-hostile", seed(0x02, mixed))
    write("vrng", "indirect", seed(0x01, indirect))
    write("vrng", "ratelimit-reset", seed(0x0c, mixed))


# ---- vcon: opt, data qsize, ctrl qsize, fill (LE16), memory, host input ------
def vcon():
    def q(n):  # avail, used, desc of queue n
        return n * 0x1000, n * 0x1000 + 0x200, n * 0x1000 + 0x800

    def rxq(p):
        return 0 if p == 0 else 2 * p + 2

    def txq(p):
        return rxq(p) + 1

    class Con(Ram):
        def __init__(self):
            super().__init__(0x10000)
            self.next = {}
            self.buf = 0xc000

        def chain(self, qn, parts):
            avail, _, table = q(qn)
            head = self.next.get(qn, 0)
            for i, (addr, length, flags) in enumerate(parts):
                last = i == len(parts) - 1
                self.desc(table, head + i, addr, length,
                          flags | (0 if last else F_NEXT), head + i + 1)
            self.next[qn] = head + len(parts)
            self.publish(avail, head)

        def out(self, qn, data):
            addr = self.buf
            self.put(addr, data)
            self.buf += (len(data) + 15) & ~15
            self.chain(qn, [(addr, len(data), 0)])

        def inbuf(self, qn, length):
            addr = self.buf
            self.buf += (length + 15) & ~15
            self.chain(qn, [(addr, length, F_WRITE)])

    def ctl(port, event, value):
        return struct.pack("<IHH", port, event, value)

    DEVICE_READY, PORT_READY, PORT_OPEN, RESIZE = 0, 3, 6, 5

    def handshake():
        c = Con()
        for _ in range(12):
            c.inbuf(2, 64)
        c.out(3, ctl(0, DEVICE_READY, 1))
        for p in range(5):
            c.out(3, ctl(p, PORT_READY, 1))
        for p in (0, 1, 4):
            c.out(3, ctl(p, PORT_OPEN, 1))
        c.out(txq(2), b"hello from stdout\n")
        c.out(txq(3), b"and stderr\n")
        c.out(txq(0), b"console\r\n")
        c.inbuf(rxq(1), 256)
        c.inbuf(rxq(0), 256)
        c.inbuf(rxq(4), 64)
        return c

    def seed(opt, c, host=b""):
        mem = bytes(c.b).rstrip(b"\0")
        return bytes([opt, 3, 4]) + struct.pack("<H", len(mem)) + mem + host

    write("vcon", "handshake-pipes", seed(0x23, handshake(), b"input line\n"))
    write("vcon", "tty-signal-reset", seed(0xd3, handshake(), b"ls\r"))
    write("vcon", "drain-devnull", seed(0x03, handshake()))

    c = Con()
    for _ in range(4):
        c.inbuf(2, 4)                                  # too small for a message
    c.out(3, ctl(0, DEVICE_READY, 1))
    c.out(3, ctl(99, PORT_READY, 1))                   # no such port
    c.out(3, ctl(2, 42, 1))                            # unknown event
    c.out(3, b"\x00\x00")                              # short message
    c.out(3, ctl(0, RESIZE, 7))                        # device-to-driver event
    c.chain(3, [(0xf000, 8, F_WRITE)])                 # wrong direction
    c.chain(txq(2), [(0xf100, 0x100000, 0)])           # larger than RAM
    c.chain(txq(3), [(0x1fff0, 64, 0)])                # past RAM's end
    c.chain(rxq(1), [(0xf200, 16, 0)])                 # readable receive buffer
    write("vcon", "hostile-control", seed(0x27, c, b"x" * 100))

    c = Con()
    c.out(1, b"single port\n")
    c.inbuf(0, 32)
    write("vcon", "single-port", seed(0x10, c, b"typed\n"))


# ---- cli: argv split on NUL --------------------------------------------------
def cli():
    def seed(name, *args):
        write("cli", name, b"\0".join(a.encode() for a in args))

    seed("common", "-e", "A=1", "-e", "HOME", "-w", "/srv", "-u", "1000:100", "-t", "-i",
         "--memory", "512M", "--cpus", "2", "--hostname", "box", "--", "sh", "-c", "echo hi")
    seed("devices", "--disk", "/x.img:ro,iops=100,bw=1M", "--disk", "/y.img",
         "--volume", "/a:/b:ro", "-p", "127.0.0.1:8080:80", "--net", "tap:tap0,ip=10.0.0.2/24",
         "--dns", "1.1.1.1", "--vsock-uds", "/tmp/v.sock", "--vsock-cid", "7",
         "--rng", "bw=1M", "true")
    seed("env-files", "--env-file", "env", "--env-file", "bad.env", "--env-file", "none", "env")
    seed("mounts-limits", "--tmpfs", "/tmp:size=64m,noexec,mode=1777", "--ulimit",
         "nofile=1024:2048", "--read-only", "--group-add", "7", "--security-opt",
         "no-new-privileges", "--stop-timeout", "3", "--entrypoint", "", "busybox:latest")
    seed("boot", "--kernel", "vmlinux", "--kernel-append", "quiet", "--console",
         "--console-log", "c.log", "--boot-timeout", "5", "--timings", "--log-level", "debug",
         "--rootfs", "r.erofs", "--rootfs-rw", "--rootfs-dir", "d")
    seed("bad-values", "--memory", "12Q", "--cpus", "0", "-p", "99999:1", "--memory")
    seed("regress-cluster", "-tZi", "sh")
    write("cli", "regress-newline", b"--\x08\n\x08\n")


# ---- pio: records (op, arg[, data]) -------------------------------------------
def pio():
    def rd(off, size=1):
        return bytes([0 | ({1: 0, 2: 1, 4: 2, 8: 3}[size] << 2), off])

    def wr(off, val, size=1):
        return bytes([1 | ({1: 0, 2: 1, 4: 2, 8: 3}[size] << 2), off]) + \
            val.to_bytes(size, "little")

    def gwr(off, val, size):
        return bytes([0x82 | ({1: 0, 2: 1, 4: 2, 8: 3}[size] << 2), off]) + \
            val.to_bytes(size, "little")

    def host(data):
        return bytes([3, len(data)]) + data

    write("pio", "baud-and-text", wr(3, 0x80) + wr(0, 1) + wr(1, 0) + wr(3, 0x03) +
          wr(0, ord("h")) + wr(0, ord("i")) + rd(5) + rd(2) + wr(1, 0x02) + rd(2))
    write("pio", "loopback", wr(4, 0x10) + wr(0, 0x41) + rd(5) + rd(0) + rd(6) + wr(4, 0))
    write("pio", "rx-overflow", wr(1, 0x0f) + host(bytes(range(20))) + rd(2) +
          b"".join(rd(0) for _ in range(17)) + rd(5) + wr(2, 0x07) + rd(2))
    write("pio", "odd-sizes", rd(0, 2) + wr(0, 0x4142, 2) + rd(9) + wr(12, 1) + rd(7, 8))
    write("pio", "guestctl", gwr(0, 0, 4) + gwr(1, 1, 1) + gwr(1, 3, 1) + gwr(1, 9, 1) +
          gwr(0, 300, 4) + gwr(0, 7, 2) + bytes([0x0a, 0]))


vrng()
vcon()
cli()
pio()
