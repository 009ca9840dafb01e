#!/usr/bin/env bash
# Integration cases for booting a real guest: `boot.sh CASE KERNEL_KIND`.
# KERNEL_KIND is vmlinux (PVH entry) or bzImage (64-bit boot protocol).
# Every case runs cocoon through tests/rig/kvm-exec, so it boots natively on
# hardware KVM and inside the emulated host elsewhere, and asserts what a
# user sees: bytes on stdout/stderr and the exit status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${COCOON_BUILD_DIR:-$root/build}
case_name=$1
kind=${2:-vmlinux}
kernel=$build/kernel/$kind
cocoon=$build/cocoon
exec_=$root/tests/rig/kvm-exec
tmp=$(mktemp -d /tmp/cocoon-it.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL [$case_name/$kind]: $*" >&2; exit 1; }

# run ARGS...: runs cocoon, fills $out, $err, $status.
run() {
	"$exec_" "$cocoon" run --kernel "$kernel" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	status=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

expect_status() {
	[ "$status" -eq "$1" ] || fail "exit status $status, expected $1; stderr: $err"
}

expect_err_line() {
	# One clear line naming the thing at fault.
	grep -q -- "$1" "$tmp/err" || fail "stderr lacks '$1': $err"
	[ "$(grep -c . "$tmp/err")" -eq 1 ] || fail "expected one error line, got: $err"
}

[ -x "$cocoon" ] || fail "$cocoon is not built"
[ -r "$kernel" ] || fail "$kernel is not built (cmake --build build --target kernel)"

case $case_name in
echo)
	run -- echo "hello, cocoon" 'two  spaces' "tab	x"
	expect_status 0
	printf 'hello, cocoon two  spaces tab\tx\n' | cmp -s - "$tmp/out" ||
		fail "stdout not byte-exact: $(od -c "$tmp/out" | head)"
	;;
exit7)
	run -- sh -c 'echo hello; exit 7'
	expect_status 7
	[ "$out" = hello ] || fail "stdout '$out'"
	;;
not-found)
	run -- /no/such/command
	expect_status 127
	grep -q '/no/such/command' "$tmp/out" || fail "no message naming the command: $out"
	run -- no-such-command
	expect_status 127
	;;
not-executable)
	run -- /etc
	expect_status 126
	;;
sigkill)
	run -- sh -c 'kill -KILL $$'
	expect_status 137
	;;
env-cwd)
	run -e GREETING=hi -w /tmp/work -- sh -c 'echo "$GREETING $(pwd) $HOME"'
	expect_status 0
	[ "$out" = "hi /tmp/work /root" ] || fail "stdout '$out'"
	;;
timings)
	run --timings -- true
	expect_status 0
	for phase in first_kvm_run init_start workload_exec workload_exit cocoon_exit; do
		v=$(sed -n "s/.*$phase=\(-\{0,1\}[0-9]*\).*/\1/p" "$tmp/err")
		[ -n "$v" ] && [ "$v" -gt 0 ] || fail "phase $phase missing or not positive: $err"
	done
	;;
smp)
	run --cpus 4 -- sh -c 'nproc; grep -c ^processor /proc/cpuinfo'
	expect_status 0
	[ "$out" = "$(printf '4\n4')" ] || fail "a 4-vCPU guest sees: $out"
	;;
guest-dies)
	# No init: the kernel panics, panic=-1 reboots, reboot=t triple-faults.
	run --kernel-append "rdinit=/no/such/init" -- true
	expect_status 125
	expect_err_line "before reporting an exit status; run with --console"
	;;
watchdog)
	# An init that never reaches guest-init's first mark: the boot watchdog
	# must end the run with a clear line instead of hanging.
	run --boot-timeout 2 --kernel-append "rdinit=/bin/sleep -- 100000" -- true
	expect_status 125
	expect_err_line "the guest made no progress in 2 s"
	;;
missing-kernel)
	"$exec_" "$cocoon" run --kernel "$tmp/nope" -- true >"$tmp/out" 2>"$tmp/err"
	status=$?; err=$(cat "$tmp/err")
	expect_status 125
	expect_err_line "kernel $tmp/nope: No such file"
	;;
garbage-kernel)
	head -c 100000 /dev/urandom >"$tmp/garbage"
	"$exec_" "$cocoon" run --kernel "$tmp/garbage" -- true >"$tmp/out" 2>"$tmp/err"
	status=$?; err=$(cat "$tmp/err")
	expect_status 125
	expect_err_line "kernel $tmp/garbage: not a kernel"
	head -c 3000 "$kernel" >"$tmp/truncated"
	"$exec_" "$cocoon" run --kernel "$tmp/truncated" -- true >"$tmp/out" 2>"$tmp/err"
	status=$?; err=$(cat "$tmp/err")
	expect_status 125
	expect_err_line "kernel $tmp/truncated: .*truncated\|kernel $tmp/truncated: .*past the end"
	;;
memory-too-small)
	run --memory 1 -- true
	expect_status 125
	expect_err_line "--memory 1: must be between"
	;;
kvm-unreadable)
	# A KVM device node the caller may not open: as an unprivileged user.
	# (The kernel is copied where that user may read it.)
	mknod -m 600 "$tmp/kvm" c 10 232
	cp "$kernel" "$tmp/vmlinux"
	chmod 755 "$tmp"
	chmod 644 "$tmp/vmlinux"
	COCOON_KVM_DEVICE=$tmp/kvm "$exec_" setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$cocoon" run --kernel "$tmp/vmlinux" -- true >"$tmp/out" 2>"$tmp/err"
	status=$?; err=$(cat "$tmp/err")
	expect_status 125
	expect_err_line "$tmp/kvm: permission denied"
	# Not a KVM device at all.
	COCOON_KVM_DEVICE=/dev/null "$exec_" "$cocoon" run --kernel "$kernel" -- true >"$tmp/out" 2>"$tmp/err"
	status=$?; err=$(cat "$tmp/err")
	expect_status 125
	expect_err_line "/dev/null is not a KVM device"
	# Missing.
	COCOON_KVM_DEVICE=$tmp/absent "$exec_" "$cocoon" run --kernel "$kernel" -- true >"$tmp/out" 2>"$tmp/err"
	status=$?; err=$(cat "$tmp/err")
	expect_status 125
	expect_err_line "$tmp/absent does not exist"
	;;
*)
	fail "unknown case"
	;;
esac
echo "PASS [$case_name/$kind]"
