#!/usr/bin/env bash
# Integration cases for the VMM's own sandbox (vmm/sandbox.h,
# docs/security.md): `sandbox.sh CASE`.
#
# Each case re-runs itself through tests/rig/kvm-exec and looks at the
# running cocoon process from the host side: /proc/PID/status of every
# thread, /proc/PID/root, its cgroup. Temporary files live under /dev/shm
# (inside the rig, / is 9p).
set -u
case_name=$1
inner=${2:-}
. "$(dirname "$0")/lib.sh"
rig_reexec

rig_scratch sb
dev_mounted=
extra_cleanup() {
	[ -z "$dev_mounted" ] || umount "$dev_mounted"
}
run() { run_box "$@"; }

# start ARGS...: cocoon in the background running `echo ready; sleep 600`;
# returns once the workload printed ready. Sets $pid.
start() {
	: >"$tmp/bg.out"
	"$cocoon" run --kernel "$kernel" --rootfs "$testbox" "$@" -- \
		sh -c 'echo ready; exec sleep 600' >"$tmp/bg.out" 2>"$tmp/bg.err" </dev/null &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 1 600); do
		grep -q ready "$tmp/bg.out" && return 0
		kill -0 "$pid" 2>/dev/null || fail "cocoon $* exited early: $(cat "$tmp/bg.err")"
		sleep 0.2
	done
	fail "cocoon $*: the workload did not start: $(cat "$tmp/bg.err")"
}

stop() {
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# field FILE NAME: the value of "NAME:" in a /proc status file, tabs as spaces.
field() {
	sed -n "s/^$2:[[:space:]]*//p" "$1" | tr '\t' ' ' | tr -s ' '
}

# check_threads PID WANT_UID WANT_GID WANT_CAPS WANT_SECCOMP WANT_NNP: every
# thread of PID.
check_threads() {
	local p=$1 t n=0
	for t in /proc/"$p"/task/*; do
		local s=$t/status name
		name=$(field "$s" Name)
		[ "$(field "$s" Uid)" = "$2 $2 $2 $2" ] || fail "thread $t ($name): Uid $(field "$s" Uid), expected $2"
		[ "$(field "$s" Gid)" = "$3 $3 $3 $3" ] || fail "thread $t ($name): Gid $(field "$s" Gid), expected $3"
		for c in CapInh CapPrm CapEff CapBnd CapAmb; do
			local want=$4
			[ "$c" = CapInh ] || [ "$c" = CapAmb ] && want=0000000000000000
			[ "$(field "$s" $c)" = "$want" ] || fail "thread $t ($name): $c $(field "$s" $c), expected $want"
		done
		[ "$(field "$s" Seccomp)" = "$5" ] || fail "thread $t ($name): Seccomp $(field "$s" Seccomp), expected $5"
		[ "$(field "$s" NoNewPrivs)" = "$6" ] || fail "thread $t ($name): NoNewPrivs $(field "$s" NoNewPrivs), expected $6"
		n=$((n + 1))
	done
	# main, the event loop and at least one vCPU
	[ "$n" -ge 3 ] || fail "only $n threads in $p"
}

nobody_uid=$(id -u nobody 2>/dev/null || echo 65534)
nobody_gid=$(id -g nobody 2>/dev/null || echo 65534)

case $case_name in
forbidden)
	# One forbidden call in each kind of thread kills the whole process
	# with SIGSYS (status 128+31) and one line naming the call and thread.
	mkdir -p "$tmp/share"
	for kind in vcpu evloop main vfs; do
		extra=()
		name=$kind
		[ "$kind" = evloop ] && name=event-loop
		[ "$kind" = vfs ] && { extra=(-v "$tmp/share:/mnt"); name=virtio-fs; }
		COCOON_SANDBOX_SELFTEST=$kind run "${extra[@]}" -- sh -c 'echo should-not-run; sleep 5'
		expect_status 159
		want="cocoon: sandbox: forbidden system call ptrace (nr 101) in the $name thread; the VM is stopped"
		grep -qxF "$want" "$tmp/err" || fail "$kind: stderr lacks '$want': $err"
		[ "$(grep -c . "$tmp/err")" -eq 1 ] || fail "$kind: expected one line, got: $err"
	done
	# The same hook with the sandbox off does nothing.
	COCOON_SANDBOX_SELFTEST=vcpu run --no-sandbox -- sh -c 'exit 3'
	expect_status 3
	;;
identity)
	# Default: the host's nobody, no capabilities anywhere, no_new_privs,
	# a filter on every thread.
	start --cpus 2
	check_threads "$pid" "$nobody_uid" "$nobody_gid" 0000000000000000 2 1
	stop
	# --uid/--gid, as numbers and names.
	start --uid 4321 --gid 1234
	check_threads "$pid" 4321 1234 0000000000000000 2 1
	stop
	start --uid nobody --gid "$(getent group "$nobody_gid" | cut -d: -f1)"
	check_threads "$pid" "$nobody_uid" "$nobody_gid" 0000000000000000 2 1
	stop
	# With a share the file server stays root with exactly the file
	# capabilities (CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID).
	mkdir -p "$tmp/share"
	start -v "$tmp/share:/mnt"
	check_threads "$pid" 0 0 000000000000001f 2 1
	stop
	# The namespaces differ from the host's (PID: for children, of the
	# main thread).
	start
	for ns in mnt ipc uts; do
		[ "$(readlink /proc/$pid/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ] ||
			fail "cocoon shares the host's $ns namespace"
	done
	[ "$(readlink /proc/$pid/ns/pid_for_children)" != "$(readlink /proc/self/ns/pid_for_children)" ] ||
		fail "cocoon's children would share the host's PID namespace"
	# rlimits: no core files, open files capped.
	grep -q "^Max core file size *0 *0 " /proc/$pid/limits || fail "core limit: $(grep core /proc/$pid/limits)"
	nofile=$(awk '/^Max open files/ {print $4 "=" $5}' /proc/$pid/limits)
	[ "${nofile%=*}" = "${nofile#*=}" ] || fail "open files: soft and hard differ: $nofile"
	stop
	;;
unprivileged)
	# Not root (a kvm-group user): the sandbox makes a user namespace of
	# its own for the mount/IPC/UTS/PID namespaces and the empty root, and
	# keeps the caller's ids (already unprivileged); --uid is refused.
	chmod 755 "$tmp"
	cp "$kernel" "$tmp/vmlinux"
	cp "$testbox" "$tmp/box.erofs"
	chmod 644 "$tmp/vmlinux" "$tmp/box.erofs"
	mkdir -m 777 "$tmp/home"
	# A KVM node of our own that nobody's group may open (a kvm group's
	# part), on a tmpfs that allows device nodes; the host's /dev/kvm is
	# left as it is.
	mkdir "$tmp/dev"
	mount -t tmpfs -o mode=755 tmpfs "$tmp/dev" || fail "cannot mount a tmpfs"
	dev_mounted=$tmp/dev
	mknod -m 660 "$tmp/dev/kvm" c 10 232
	chgrp 65534 "$tmp/dev/kvm"
	export COCOON_KVM_DEVICE=$tmp/dev/kvm
	: >"$tmp/bg.out"
	COCOON_HOME=$tmp/home setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$cocoon" run --kernel "$tmp/vmlinux" --rootfs "$tmp/box.erofs" -- \
		sh -c 'echo ready; exec sleep 600' >"$tmp/bg.out" 2>"$tmp/bg.err" </dev/null &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 1 600); do
		grep -q ready "$tmp/bg.out" && break
		kill -0 "$pid" 2>/dev/null || fail "cocoon as nobody exited early: $(cat "$tmp/bg.err")"
		sleep 0.2
	done
	grep -q ready "$tmp/bg.out" || fail "cocoon as nobody: no workload: $(cat "$tmp/bg.err")"
	check_threads "$pid" 65534 65534 0000000000000000 2 1
	[ "$(readlink /proc/$pid/ns/user)" != "$(readlink /proc/self/ns/user)" ] ||
		fail "no user namespace of its own"
	entries=$(ls -A /proc/$pid/root/ 2>&1)
	[ -z "$entries" ] || fail "cocoon's root is not empty: $entries"
	stop
	COCOON_HOME=$tmp/home setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$cocoon" run --uid 1000 --kernel "$tmp/vmlinux" --rootfs "$tmp/box.erofs" -- true \
		>"$tmp/out" 2>"$tmp/err" </dev/null
	status=$?
	err=$(cat "$tmp/err")
	expect_status 125
	expect_err_line "--uid/--gid: only root can switch to other ids"
	;;
filesystem)
	# The VMM's root is an empty read-only tmpfs: no /etc, no /dev, no
	# host file; its mount table has the root alone.
	echo "HOST-ONLY" >"$tmp/host-file"
	start
	entries=$(ls -A /proc/$pid/root/ 2>&1)
	[ -z "$entries" ] || fail "cocoon's root is not empty: $entries"
	[ ! -e /proc/$pid/root/etc/passwd ] || fail "cocoon sees the host's /etc"
	[ ! -e /proc/$pid/root$tmp/host-file ] || fail "cocoon sees $tmp"
	lines=$(grep -c . /proc/$pid/mountinfo)
	[ "$lines" -eq 1 ] || fail "cocoon sees $lines mounts: $(cat /proc/$pid/mountinfo)"
	grep -q " / / ro,.* - tmpfs " /proc/$pid/mountinfo || fail "root not a read-only tmpfs: $(cat /proc/$pid/mountinfo)"
	stop
	# With --vsock-uds, its directory (only) is there: the path to it and
	# what is in it (guest connections reach PATH_port by name; the
	# vsock-* cases of net.sh run with the sandbox on).
	mkdir -p "$tmp/vs"
	start --vsock-uds "$tmp/vs/sock"
	entries=$(cd /proc/$pid/root && find . -mindepth 1 | sort | tr '\n' ' ')
	for e in $entries; do
		case "$e" in
		./dev | ./dev/shm | ./dev/shm/"$(basename "$tmp")" | ./dev/shm/"$(basename "$tmp")"/vs | \
			./dev/shm/"$(basename "$tmp")"/vs/*) ;;
		*) fail "unexpected entry in cocoon's root: $e (all: $entries)" ;;
		esac
	done
	[ ! -e "/proc/$pid/root$tmp/host-file" ] || fail "cocoon sees files beside the vsock directory"
	stop
	;;
no-sandbox)
	start --no-sandbox
	grep -q "^cocoon: WARNING: the sandbox is off (--no-sandbox)" "$tmp/bg.err" ||
		fail "no warning: $(cat "$tmp/bg.err")"
	check_threads "$pid" 0 0 "$(field /proc/self/status CapEff)" 0 0
	[ -e /proc/$pid/root/etc ] || fail "--no-sandbox: the host's root should be in view"
	stop
	;;
cgroup)
	[ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] || skip "no cgroup v2 at /sys/fs/cgroup"
	start --cgroup cpu=0.5,memory=256M
	cg=/sys/fs/cgroup/cocoon-$pid
	[ -d "$cg" ] || fail "no $cg"
	[ "$(cat "$cg/memory.max")" = 268435456 ] || fail "memory.max $(cat "$cg/memory.max")"
	[ "$(cat "$cg/cpu.max")" = "50000 100000" ] || fail "cpu.max $(cat "$cg/cpu.max")"
	grep -qx "$pid" "$cg/cgroup.procs" || fail "cocoon is not in $cg: $(cat "$cg/cgroup.procs")"
	grep -q "^0::/cocoon-$pid\$" /proc/$pid/cgroup || fail "/proc/$pid/cgroup: $(cat /proc/$pid/cgroup)"
	# The VM's memory is charged there.
	[ "$(cat "$cg/memory.current")" -gt $((8 << 20)) ] || fail "memory.current $(cat "$cg/memory.current")"
	stop
	# Removed once cocoon is gone, even killed.
	for _ in $(seq 1 100); do [ -d "$cg" ] || break; sleep 0.1; done
	[ ! -d "$cg" ] || fail "$cg still there after cocoon was killed"
	# And after a normal exit.
	run --cgroup memory=128M -- sh -c 'exit 4'
	expect_status 4
	sleep 1
	ls -d /sys/fs/cgroup/cocoon-* 2>/dev/null && fail "a cocoon cgroup was left behind"
	;;
errors)
	expect_error "--uid no-such-user-here: not a number nor a user name" --uid no-such-user-here
	expect_error "--gid no-such-group-here: not a number nor a group name" --gid no-such-group-here
	expect_error "--uid 4294967295" --uid 4294967295
	expect_error "--cgroup: cpu=0: give a number of CPUs" --cgroup cpu=0
	expect_error "--cgroup: cpu=x: give a number of CPUs" --cgroup cpu=x
	expect_error "--cgroup: memory=1k: give a size of at least 4M" --cgroup memory=1k
	expect_error "--cgroup: swap=1: unknown" --cgroup swap=1
	expect_error "--cgroup: give cpu=N and/or memory=SIZE" --cgroup ""
	mkdir -p "$tmp/share"
	expect_error "--uid/--gid: not with virtio-fs shares" --uid 1000 -v "$tmp/share:/mnt"
	;;
*)
	fail "unknown case"
	;;
esac
echo "PASS [$case_name]"
