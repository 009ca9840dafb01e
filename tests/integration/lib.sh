# Shared by the integration scripts (boot.sh, image.sh, net.sh, fs.sh):
# where things are, and the assertions every case uses. Source it after
# setting case_name; it sets here, root, build, kernel, cocoon, exec_.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${COCOON_BUILD_DIR:-$root/build}
kernel=$build/kernel/${kind:-vmlinux}
cocoon=$build/cocoon
exec_=$root/tests/rig/kvm-exec

fail() { echo "FAIL [$case_name${kind:+/$kind}]: $*" >&2; exit 1; }
skip() { echo "SKIP [$case_name]: $*"; exit 77; }

# After a run that filled $status, $out and $err.
expect_status() {
	[ "$status" -eq "$1" ] || fail "exit status $status, expected $1; stderr: $err"
}

# One clear line on stderr ($tmp/err) naming the thing at fault.
expect_err_line() {
	grep -q -- "$1" "$tmp/err" || fail "stderr lacks '$1': $err"
	[ "$(grep -c . "$tmp/err")" -eq 1 ] || fail "expected one error line, got: $err"
}

# expect_error WANT ARGS...: `cocoon run ARGS -- true` on the test image
# ($testbox) must fail before booting: status 125 and one line with WANT.
expect_error() {
	local want=$1 st
	shift
	"$cocoon" run --kernel "$kernel" --rootfs "$testbox" "$@" -- true >/dev/null 2>"$tmp/err"
	st=$?
	[ "$st" -eq 125 ] || fail "$*: status $st, expected 125"
	grep -q -- "$want" "$tmp/err" || fail "$*: stderr lacks '$want': $(cat "$tmp/err")"
	[ "$(grep -c . "$tmp/err")" -eq 1 ] || fail "$*: not one line: $(cat "$tmp/err")"
}

# For cases whose host-side peers must share a host with cocoon (net.sh,
# fs.sh): unless already there (second argument --inner), check the build
# and re-run this script as `PREFIX... $0 CASE --inner` through the rig
# wrapper. Sets testbox, the test image those cases boot.
testbox=$build/tests/testbox.erofs
rig_reexec() {
	[ "${inner:-}" = --inner ] && return 0
	[ -x "$cocoon" ] || fail "$cocoon is not built"
	[ -r "$kernel" ] || fail "$kernel is not built"
	[ -r "$testbox" ] || fail "$testbox is not built"
	exec "$exec_" "$@" "$0" "$case_name" --inner
}

# For scripts that run inside the rig (or natively): rig_scratch NAME makes
# $tmp in /dev/shm (the rig's / is 9p: no fifos or sockets) and, at exit,
# kills the pids in $pids, runs the function `extra_cleanup` when the
# script defines one, and removes $tmp.
rig_scratch() {
	tmp=$(mktemp -d "/dev/shm/cocoon-$1.XXXXXX")
	pids=()
	trap rig_cleanup EXIT
}
rig_cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if declare -F extra_cleanup >/dev/null; then extra_cleanup; fi
	rm -rf "$tmp"
}

# run ARGS...: cocoon in the foreground on the test image; $out, $err
# (NUL bytes dropped), $status.
run_box() {
	"$cocoon" run --kernel "$kernel" --rootfs "$testbox" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	status=$?
	out=$(cat "$tmp/out")
	err=$(tr -d '\0' <"$tmp/err")
}
