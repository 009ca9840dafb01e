/* SPDX-License-Identifier: MIT */
/*
 * The contract between the cocoon VMM and guest-init (PID 1 in the guest).
 * Both sides include this one header, so the numbers cannot drift apart.
 *
 * I/O ports (x86 PIO; cocoon's machine has nothing else at 0x600-0x60f. Under
 * QEMU's pc/q35 the BIOS puts ACPI PM registers there: use microvm,acpi=off):
 *   COCOON_PORT_EXIT   32-bit write: the workload's final status, already in
 *                      `docker run` form (0-255: exit code, 126 not executable,
 *                      127 not found, 128+N killed by signal N, 125 init
 *                      itself failed). The VMM stops the VM at once: guest-init
 *                      syncs filesystems *before* writing here.
 *   COCOON_PORT_TIMER  8-bit write: a boot-timer mark (enum cocoon_mark). The
 *                      VMM records the host monotonic clock on arrival.
 *
 * Job spec: the VMM appends a second cpio archive to the initramfs holding
 * COCOON_SPEC_PATH. The file is a sequence of records, each a NUL-terminated
 * key followed by a NUL-terminated value:
 *   "version" "1"          first record, required
 *   "arg"     <string>     argv[0], argv[1], ... in order (at least one)
 *   "env"     "KEY=VALUE"  repeated; the workload's whole environment
 *   "cwd"     "/path"      working directory (default "/")
 *   "hostname" <string>    optional
 *   "root"    "/dev/vda"   optional: the block device holding the container's
 *                          root filesystem (erofs or ext4, probed in that
 *                          order); absent: the workload runs in the initramfs,
 *                          which has no userland
 *   "root_fs" <tag>        optional, instead of "root": the root filesystem is
 *                          the virtio-fs share with this tag (a host
 *                          directory); read-only under a tmpfs overlay, or
 *                          the share itself with root_rw
 *   "volume"  "TAG:MODE:DIR"  repeated, at most COCOON_MAX_VOLUMES: mount the
 *                          virtio-fs share TAG (no ':' in it) at DIR (absolute,
 *                          in the container's root; created when missing),
 *                          MODE "ro" or "rw"
 *   "root_rw" "1"          optional: mount the root device read-write (ext4),
 *                          with no overlay (default: read-only + tmpfs overlay,
 *                          writes vanish at exit); guest-init remounts it
 *                          read-only at exit so the image is left clean
 *   "user"    <string>     optional: USER[:GROUP] as docker -u takes it, each a
 *                          name or a number; names resolve in the root's
 *                          /etc/passwd and /etc/group (guest-init/passwd.h).
 *                          guest-init sets HOME from the user's passwd entry
 *                          when "env" has no HOME, and replaces HOME=/root
 *                          for a user other than root
 *   "rlimit"  "NAME=SOFT:HARD"  repeated; NAME as in RLIMIT_NAME without the
 *                          prefix, lower case ("nofile"); "unlimited" allowed
 *   "tty"     "1"          optional: the workload gets a terminal (-t)
 *   "stdin"   "1"          optional: keep stdin open (-i); otherwise /dev/null
 *   "net_addr" "A.B.C.D/P" optional: the guest's IPv4 address on eth0 (the
 *                          virtio-net device); guest-init brings eth0 up
 *                          with it. lo is always brought up
 *   "net_gw"  "A.B.C.D"    optional (needs net_addr): the default route
 *   "dns"     "A.B.C.D"    repeated, at most 3: nameservers; guest-init
 *                          writes them to the root's /etc/resolv.conf
 *   "root_ro" "1"          optional: the root (root or root_fs) read-only:
 *                          every write to it fails with EROFS (docker
 *                          --read-only, OCI root.readonly). Not with root_rw.
 *                          guest-init still builds the overlay, creates the
 *                          mount points and /etc files in it, and remounts
 *                          "/" read-only (MS_REMOUNT|MS_BIND|MS_RDONLY) once
 *                          every mount is made, as runc does; /tmp is then
 *                          the image's (read-only) directory, not a tmpfs
 *   "etc_files" "0"        optional: do not write /etc/hostname, /etc/hosts
 *                          and /etc/resolv.conf into the root (an OCI engine
 *                          mounts its own). Default "1". The hostname is set
 *                          (sethostname) either way
 *   "groups"  "G1,G2,..."  optional: the workload's supplementary groups are
 *                          exactly these gids (OCI additionalGids) instead of
 *                          the ones "user" resolves to; "" means none.
 *                          Decimal, 0-2147483647, at most COCOON_MAX_GROUPS
 *   "group_add" "G1,..."   optional, same syntax, not empty: gids added to
 *                          the supplementary groups ("groups" when given,
 *                          else those "user" resolves to, else none), as
 *                          docker run --group-add does
 *   "no_new_privs" "1"     optional: prctl(PR_SET_NO_NEW_PRIVS) in the
 *                          workload before execve
 *   "signal_init" "1"      optional: forwarded signals go to the workload
 *                          alone (not its process group) and follow the
 *                          kernel's rule for a PID namespace's init, which
 *                          is what the workload is under runc: a signal it
 *                          has no handler for is dropped, except SIGKILL
 *                          and SIGSTOP (so `docker stop` of a shell without
 *                          a trap waits for the engine's SIGKILL, as with
 *                          runc)
 *   "mount"   <fields>     repeated, at most COCOON_MAX_MOUNTS: an OCI mount,
 *                          made in order after the root, the /etc files and
 *                          the volumes. Five fields separated by
 *                          COCOON_SPEC_SEP (0x1f, so paths may hold ':'),
 *                          none holding it:
 *       "share" SEP TAG SEP SUBPATH SEP FLAGS SEP DEST
 *                          bind SUBPATH (relative, no ".." component; ""
 *                          for the share's root) of the virtio-fs share TAG
 *                          (COCOON_VOLUME_TAG + a volume's index, whether or
 *                          not that volume has a "volume" record) onto DEST. SUBPATH may be a file: DEST is then
 *                          created as an empty file, else as a directory
 *                          (with its parents) when missing
 *       "fs" SEP FSTYPE SEP DATA SEP FLAGS SEP DEST
 *                          mount(FSTYPE, DEST, FSTYPE, FLAGS, DATA) (DATA
 *                          "" for none: tmpfs, proc, sysfs, devpts,
 *                          mqueue...), creating DEST like mkdir -p. An "fs"
 *                          mount on /dev itself is skipped: guest-init's
 *                          devtmpfs stays, with the devices the VM has. One
 *                          on /dev/shm or /dev/pts replaces guest-init's own.
 *                          One of a filesystem that is a single superblock
 *                          already mounted there (sysfs on /sys: EBUSY) gets
 *                          FLAGS applied to that mount instead.
 *                          FLAGS: lower-case hex of MS_* bits, only those of
 *                          COCOON_MOUNT_FLAGS; a bind takes the mount-level
 *                          ones (rdonly, nosuid, nodev, noexec, atime).
 *                          DEST is absolute, in the container's root
 * Unknown keys are ignored so that an older init can boot a newer spec.
 * The file is at most COCOON_SPEC_MAX bytes.
 *
 * Workload stdio: a multiport virtio-console (virtio 1.2, 5.3). Port 0 is
 * the console port (/dev/hvc0): with "tty" it is the workload's terminal.
 * The other ports are named (VIRTIO_CONSOLE_PORT_NAME) and appear in the
 * guest as /dev/vportNpM with /sys/class/virtio-ports/vportNpM/name:
 *   COCOON_PORT_STDIN    host -> guest; the host closing it means EOF
 *   COCOON_PORT_STDOUT   guest -> host, to cocoon's stdout, byte-exact
 *   COCOON_PORT_STDERR   guest -> host, to cocoon's stderr
 *   COCOON_PORT_CONTROL  host -> guest lines: "signal N\n" asks guest-init to
 *                        forward signal N to the workload
 * guest-init's own messages ("cocoon-init: ...") go to COCOON_PORT_STDERR.
 * What guest-init relies on from the host side of the console:
 *   - each port's PORT_OPEN precedes its PORT_NAME: guest-init takes a port
 *     as ready once its name shows in sysfs, and the guest driver makes
 *     reads of a port the host has not opened return EOF (and writes block);
 *   - all named ports appear within a few seconds of boot (guest-init waits
 *     up to 3 s, then fails with 125);
 *   - on the exit write the VMM still writes out every buffer the guest has
 *     already queued on the stdout/stderr transmit queues: a guest write()
 *     to a port returns once the buffer is queued and the host notified,
 *     not when the host has consumed it (drivers/char/virtio_console.c
 *     port_fops_write), and a port has no fsync. (hvc0 writes wait for
 *     the host.)
 * When the guest has no virtio console at all, the second 16550 UART,
 * /dev/ttyS1 in raw mode, carries stdout and stderr merged (no stdin, no
 * terminal). ttyS0 is the kernel console.
 */
#ifndef COCOON_GUEST_ABI_H
#define COCOON_GUEST_ABI_H

#define COCOON_PORT_EXIT 0x600
#define COCOON_PORT_TIMER 0x601

enum cocoon_mark {
	COCOON_MARK_INIT_START = 1,    /* first instruction of guest-init's main */
	COCOON_MARK_WORKLOAD_EXEC = 2, /* in the child, just before execve */
	COCOON_MARK_WORKLOAD_EXIT = 3, /* the workload has been reaped */
};

#define COCOON_PORT_STDIN "cocoon.stdin"
#define COCOON_PORT_STDOUT "cocoon.stdout"
#define COCOON_PORT_STDERR "cocoon.stderr"
#define COCOON_PORT_CONTROL "cocoon.control"

#define COCOON_SPEC_PATH "/cocoon/spec"
#define COCOON_SPEC_MAX (1u << 20)
#define COCOON_SPEC_VERSION "1"
#define COCOON_MAX_VOLUMES 16
#define COCOON_ROOT_TAG "cocoon-root"  /* the virtio-fs tag of --rootfs-dir */
#define COCOON_VOLUME_TAG "cocoon-vol" /* + the volume's index: cocoon-vol0 */
#define COCOON_MAX_MOUNTS 64
#define COCOON_MAX_GROUPS 256 /* gids in one "groups" or "group_add" record */
#define COCOON_SPEC_SEP '\x1f'  /* between the fields of a "mount" record */
/* The MS_* flags (<sys/mount.h>) a "mount" record may carry. Propagation
 * flags have no meaning in a guest whose mounts have no peers. */
#define COCOON_MOUNT_FLAGS                                                             \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC |  \
	 MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_LAZYTIME)

/* Status codes guest-init reports for its own failures (docker semantics). */
#define COCOON_STATUS_INIT_FAILED 125
#define COCOON_STATUS_NOT_EXECUTABLE 126
#define COCOON_STATUS_NOT_FOUND 127

#endif
