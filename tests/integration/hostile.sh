#!/usr/bin/env bash
# Integration cases for a hostile guest: `hostile.sh CASE`.
#
# The guest runs tests/guest-tools/hostile.c, which takes a virtio device
# away from the guest kernel and drives it by hand through /dev/mem,
# breaking one rule per case (descriptor loops, addresses outside RAM,
# wrapped lengths, avail index jumps, bad queues, queue registers after
# DRIVER_OK, odd register widths, reset during I/O, kick floods), or throws
# garbage at the serial and control ports, or floods the console. The guest
# checks each answer itself and exits with the number of failed cases; here
# we check what the host sees: cocoon alive to the end and exiting with the
# workload's status, no crash or sanitizer report, the other devices still
# working (the workload's output still arrives), and cocoon's peak RSS
# (VmHWM, sampled while it runs) within guest RAM plus a fixed margin.
#
# Rings and buffers live in 2 MiB of guest RAM that the kernel is told to
# leave alone (memmap=2M$0x6000000, inside the default 128 MiB). Each case
# runs wholly inside the rig (natively on hardware KVM), in a network
# namespace of its own for the tap, with its files under /dev/shm.
set -u
case_name=$1
inner=${2:-}
. "$(dirname "$0")/lib.sh"
if [ "$inner" != --inner ]; then
	command -v unshare >/dev/null || skip "unshare is not installed (scripts/setup)"
fi
rig_reexec unshare -n --

ip link set lo up 2>/dev/null
rig_scratch hostile

mem_mib=128
# shellcheck disable=SC2016 # a literal $, for the kernel
reserve='memmap=2M$0x6000000'
# Peak RSS allowed: all of guest RAM (a memfd the guest may touch entirely)
# plus 64 MiB for cocoon itself. These runs peak at 17-34 MiB in all: the
# RAM the guest touched, code, the kernel and initramfs images, device
# pools (blk's 256 requests, vsock and console buffers). The rest is room for what a hostile guest could grow if a cap were
# missing, which would then exceed it by far (every guest-sized allocation
# has a fixed cap, DESIGN rule 6).
limit_kb=$(((mem_mib + 64) * 1024))

# run_vm OUT ARGS...: cocoon in the background, its VmHWM sampled until it
# exits; sets status, hwm_kb, out (stdout) and err (stderr). stdout goes to
# $tmp/OUT.out unless $stdout_to names another file (a fifo).
run_vm() {
	local p=$1 vm h
	shift
	# HOSTILE_VM_ARGS: extra options, e.g. --no-sandbox for a build with
	# sanitizers (whose run-time makes calls the sandbox does not allow).
	# shellcheck disable=SC2086
	"$cocoon" run --kernel "$kernel" --rootfs "$testbox" --memory "${mem_mib}M" \
		--kernel-append "$reserve ${append:-}" ${HOSTILE_VM_ARGS:-} "$@" \
		>"${stdout_to:-$tmp/$p.out}" 2>"$tmp/$p.err" </dev/null &
	vm=$!
	pids+=("$vm")
	hwm_kb=0
	while kill -0 "$vm" 2>/dev/null; do
		h=$(awk '/^VmHWM:/ { print $2 }' "/proc/$vm/status" 2>/dev/null)
		[ -n "$h" ] && hwm_kb=$h
		sleep 0.2
	done
	wait "$vm"
	status=$?
	out=$(cat "$tmp/$p.out" 2>/dev/null)
	err=$(cat "$tmp/$p.err")
}

# The host's view of a run: no crash, no sanitizer report, memory bounded.
expect_sane() {
	if grep -Eiq 'sanitizer|runtime error|segmentation|core dumped|assert|abort|double free' \
		"$tmp/$1.err"; then
		fail "cocoon's stderr shows a crash: $(head -c 2000 "$tmp/$1.err")"
	fi
	[ "$hwm_kb" -gt 0 ] || fail "could not sample cocoon's VmHWM"
	[ "$hwm_kb" -le "$limit_kb" ] ||
		fail "cocoon's peak RSS $((hwm_kb / 1024)) MiB is above $((limit_kb / 1024)) MiB"
	echo "$case_name: peak RSS $((hwm_kb / 1024)) MiB (limit $((limit_kb / 1024)) MiB)"
}

# A device case: hostile's verdict is its exit status (failed cases); the
# workload then says it is still alive on stdout, through the console.
# Every case line must be "ok", and there must be enough of them.
device_case() {
	local dev=$1 where n
	shift
	run_vm vm --log-level debug "$@" -- sh -c "hostile $dev; st=\$?; echo alive-after-hostile; exit \$st"
	expect_sane vm
	where=$tmp/vm.out
	[ "$dev" = console ] && where=$tmp/vm.err
	grep -E "^(\[ *[0-9.]+\] )?case " "$where" | grep -v ': ok (' | head -20 >&2
	[ "$status" -eq 0 ] || fail "hostile $dev: status $status (failed cases), stderr: $(grep -v 'cocoon: guest:' "$tmp/vm.err" | tail -20)"
	n=$(grep -cE "case [a-z0-9-]+ $dev: ok \(" "$where")
	[ "$n" -eq 45 ] || fail "hostile $dev: $n cases passed, expected 45: $(tail -20 "$where")"
	# (The console's own attack leaves the guest without its driver.)
	[ "$dev" = console ] || grep -q alive-after-hostile "$tmp/vm.out" ||
		fail "no output after the attack: $out"
	echo "$case_name: $n cases ok"
}

case $case_name in
blk)
	# The second disk is the target; its first sector carries a mark the
	# guest reads back after every case. The root disk must keep working.
	{ printf 'HOSTILE-DISK\n'; head -c 4096 /dev/zero; } >"$tmp/disk.img"
	truncate -s 1M "$tmp/disk.img"
	device_case blk --disk "$tmp/disk.img"
	;;
rng)
	device_case rng
	;;
console)
	# The console carries stdout: the case lines go to the kernel log
	# (--console, without printk's rate limit for /dev/kmsg), the verdict
	# is the exit status. Each well-formed request the guest makes by hand
	# writes a line to port 0, which is cocoon's stdout.
	append=printk.devkmsg=on device_case console --console
	n=$(grep -c '^hostile-console-tx$' "$tmp/vm.out")
	[ "$n" -ge 44 ] || fail "only $n hand-made console writes reached stdout"
	;;
vsock)
	# A well-formed request is a connection to a host port with no
	# listener: the device answers RST.
	device_case vsock --vsock-uds "$tmp/v.sock"
	;;
net)
	command -v ip >/dev/null || skip "ip is not installed (scripts/setup)"
	device_case net --net tap
	;;
fs)
	mkdir "$tmp/share"
	echo kept >"$tmp/share/file"
	device_case fs -v "$tmp/share:/mnt"
	[ "$(cat "$tmp/share/file")" = kept ] || fail "the shared directory changed"
	;;
ports)
	# Serial and control-port garbage: the VM keeps running, the workload's
	# exit status still arrives through the exit port.
	run_vm vm --log-level debug -- sh -c 'hostile ports; st=$?; echo alive-after-ports; exit $st'
	expect_sane vm
	[ "$status" -eq 0 ] || fail "hostile ports: status $status: $out"
	grep -q alive-after-ports "$tmp/vm.out" || fail "no output after the attack: $out"
	[ "$(grep -c ': ok (' "$tmp/vm.out")" -eq 3 ] || fail "port cases: $out"
	echo "$out"
	;;
exit-garbage)
	# A status above 255 on the exit port is a broken init: 125.
	run_vm vm -- hostile exit-garbage
	expect_sane vm
	[ "$status" -eq 125 ] || fail "status $status after a bad exit status, expected 125: $err"
	;;
flood)
	# 64 MiB of output into a reader that sleeps for 10 s first: cocoon
	# must push back on the guest, not buffer, and lose nothing.
	bytes=$((64 << 20))
	mkfifo "$tmp/fifo"
	{ sleep 10; cat; } <"$tmp/fifo" >"$tmp/flood.out" &
	reader=$!
	pids+=("$reader")
	stdout_to=$tmp/fifo run_vm vm -- hostile flood-console "$bytes"
	wait "$reader"
	expect_sane vm
	[ "$status" -eq 0 ] || fail "flood-console: status $status: $err"
	got=$(stat -c %s "$tmp/flood.out")
	[ "$got" -eq "$bytes" ] || fail "flood: $got bytes arrived, expected $bytes"
	lines=$(sort -u "$tmp/flood.out" | wc -l)
	[ "$lines" -eq 1 ] || fail "flood: $lines distinct lines, the bytes were mangled"
	;;
*)
	fail "unknown case"
	;;
esac
echo "PASS [$case_name]"
