#!/usr/bin/env bash
# Integration cases for cocoon as an OCI runtime under real engines:
# `oci.sh CASE`, CASE one of docker-run docker-debian docker-detach
# docker-tty podman-run ctr-run.
#
# Each case starts the engines it needs by hand (tests/integration/oci-lib.sh:
# containerd, dockerd, podman, ctr, all state on a tmpfs) and runs the same
# containers on the reference runtime (REF_RUNTIME, default runc) and on
# the runtime under test (RUNTIME, default build/cocoon), asserting the
# same stdout and exit status from both, and the expected ones. Engines call
# the runtime themselves, so the whole case re-runs itself inside the rig
# (tests/rig/kvm-exec; natively where /dev/kvm works), as root, in a mount
# namespace of its own. `RUNTIME=runc` checks the harness itself.
#
# Knobs: RUNTIME, REF_RUNTIME; OCI_ARGV_LOG=DIR logs every runtime argv and
# config.json there; OCI_STORAGE=overlay|vfs (docker's and podman's storage
# driver, overlay by default); KEEP=1 keeps the tmpfs and
# the engines (until the rig exits). Exit 77 (skip) when an engine or the
# Debian root (docker-debian) is missing.
set -u
case_name=$1
inner=${2:-}
. "$(dirname "$0")/lib.sh"
. "$here/oci-lib.sh"

ref=$(command -v "${REF_RUNTIME:-runc}") || ref=${REF_RUNTIME:-runc}
rut=${RUNTIME:-$cocoon}
case $rut in */*) ;; *) rut=$(command -v "$rut") || rut=$RUNTIME ;; esac

if [ "$inner" != --inner ]; then
	case $case_name in
	docker-tty) tools="dockerd docker containerd ctr tmux" ;;
	docker-*) tools="dockerd docker containerd ctr" ;;
	podman-*) tools="podman conmon tmux" ;;
	ctr-*) tools="containerd ctr containerd-shim-runc-v2" ;;
	*) fail "no such case" ;;
	esac
	for t in $tools busybox unshare; do
		command -v "$t" >/dev/null || skip "$t is not installed (scripts/setup)"
	done
	[ -x "$ref" ] || skip "no reference runtime $ref"
	[ -x "$rut" ] || fail "runtime under test $rut is not built (RUNTIME=PATH picks another)"
	# The images are made here, natively: the rig reads one tarball over 9p
	# instead of thousands of small files.
	work=$(mktemp -d /tmp/cocoon-oci.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	oci_busybox_tar "$work/busybox.tar" || fail "cannot make the busybox tarball"
	case $case_name in
	docker-debian)
		oci_debian_tar "$work/debian.tar" || {
			rc=$?
			[ "$rc" -eq 77 ] && skip "no Debian root (images/build-debian-image)"
			fail "cannot make the Debian tarball"
		}
		;;
	ctr-*)
		oci_docker_archive "$work/busybox.tar" docker.io/library/bb:1 "$work/bb-archive.tar" ||
			fail "cannot make the docker archive"
		;;
	esac
	if [ -n "${OCI_ARGV_LOG:-}" ]; then
		mkdir -p "$OCI_ARGV_LOG" && OCI_ARGV_LOG=$(cd "$OCI_ARGV_LOG" && pwd) || fail "OCI_ARGV_LOG"
		export OCI_ARGV_LOG
	fi
	OCI_WORK=$work "$exec_" "$0" "$case_name" --inner
	exit $?
fi

# ---- from here on: where /dev/kvm works (the rig), as root, in our own mount namespace ----
[ "$(id -u)" -eq 0 ] || skip "the engines need root"
if [ -z "${OCI_UNSHARED:-}" ]; then
	OCI_UNSHARED=1 exec unshare -m -- "$0" "$case_name" --inner
fi
case_start=$(ms)
oci_enter || fail "cannot set up the engines' tmpfs"
oci_logging_runtimes
note "reference $ref, under test $rut, state in $tmp"

# both NAME FN ARGS...: `FN SIDE ARGS...` for SIDE ref, then rut (stdin
# from $stdin, /dev/null by default); stdout, stderr and status go to
# $tmp/NAME.SIDE.{out,err,st}. Both must give the same stdout and status;
# $out and $status are then the reference's, $err both stderrs.
both() {
	local name=$1 fn=$2 side t0 st
	shift 2
	for side in ref rut; do
		t0=$(ms)
		"$fn" "$side" "$@" >"$tmp/$name.$side.out" 2>"$tmp/$name.$side.err" <"${stdin:-/dev/null}"
		st=$?
		echo "$st" >"$tmp/$name.$side.st"
		note "$name [$side]: status $st in $(($(ms) - t0)) ms"
	done
	out=$(cat "$tmp/$name.ref.out")
	status=$(cat "$tmp/$name.ref.st")
	err="ref: $(cat "$tmp/$name.ref.err") / rut: $(cat "$tmp/$name.rut.err")"
	[ "$status" = "$(cat "$tmp/$name.rut.st")" ] ||
		fail "$name: status $status with $ref, $(cat "$tmp/$name.rut.st") with $rut; stderr $err"
	cmp -s "$tmp/$name.ref.out" "$tmp/$name.rut.out" ||
		fail "$name: stdout '$out' with $ref, '$(cat "$tmp/$name.rut.out")' with $rut; stderr $err"
}

# expect NAME STATUS STDOUT: after `both NAME ...`.
expect() {
	[ "$status" -eq "$2" ] || fail "$1: exit status $status, expected $2; stderr $err"
	[ "$out" = "$3" ] || fail "$1: stdout '$out', expected '$3'; stderr $err"
}

# timed WHAT CMD...: CMD, its time noted.
timed() {
	local what=$1 t0 st
	shift
	t0=$(ms)
	"$@"
	st=$?
	note "$what: status $st in $(($(ms) - t0)) ms"
	return $st
}

# Files a case expects from the stdin test and the -e/-w/-u test.
head -c 100000 /dev/urandom >"$tmp/in"
in_sum="$(sha256sum <"$tmp/in" | cut -d' ' -f1)  -"
busybox_env="bar
/tmp
uid=1000(user) gid=1000(user) groups=1000(user)
/home/user"

# tty_session NAME SIDE CMD...: CMD in a tmux pane (40x120) with a
# terminal; types `echo $((6*7))` and `stty size`, then `exit 3`, and checks
# the pane shows 42, the size and status 3. The pane is $tmp/NAME.SIDE.pane.
tty_session() {
	local name=$1 side=$2 t0 pane=$tmp/$1.$2.pane i
	shift 2
	t0=$(ms)
	{
		printf '%q ' "$@"
		printf '\necho "status=$?" >%q\nsleep 100000\n' "$tmp/$name.$side.st"
	} >"$tmp/$name.$side.sh"
	tmux -S "$tmp/tmux.sock" new-session -d -x 120 -y 40 -s "$name-$side" \
		"bash $tmp/$name.$side.sh" || fail "$name [$side]: tmux failed"
	# pane_wait SECS TEXT: until the pane shows TEXT.
	pane_wait() {
		for ((i = 0; i < $1 * 4; i++)); do
			tmux -S "$tmp/tmux.sock" capture-pane -p -t "$name-$side" >"$pane"
			grep -q -- "$2" "$pane" && return 0
			sleep 0.25
		done
		fail "$name [$side]: no '$2' after $1 s; pane: $(cat "$pane"); processes: $(ps -eo pid,args | grep -v ' \[' | cut -c1-160)"
	}
	pane_wait 300 '^/ #'
	tmux -S "$tmp/tmux.sock" send-keys -t "$name-$side" 'echo $((6*7)); stty size' Enter
	pane_wait 120 '^42'
	tmux -S "$tmp/tmux.sock" send-keys -t "$name-$side" 'exit 3' Enter
	for ((i = 0; i < 1200; i++)); do
		[ -s "$tmp/$name.$side.st" ] && break
		sleep 0.25
	done
	tmux -S "$tmp/tmux.sock" capture-pane -p -t "$name-$side" >"$pane"
	grep -q '^status=3$' "$tmp/$name.$side.st" 2>/dev/null ||
		fail "$name [$side]: $(cat "$tmp/$name.$side.st" 2>/dev/null), expected status=3; pane: $(cat "$pane")"
	grep -q '^40 120' "$pane" || fail "$name [$side]: stty size is not 40 120; pane: $(cat "$pane")"
	note "$name [$side]: done in $(($(ms) - t0)) ms"
	tmux -S "$tmp/tmux.sock" kill-session -t "$name-$side"
}

# The checks every docker/podman case runs on busybox: FN SIDE ARGS... runs
# a container with `--rm`, IMAGE is the busybox image's name.
run_basics() {
	local fn=$1 image=$2
	both hello "$fn" "$image" echo hello
	expect hello 0 hello
	both exit7 "$fn" "$image" sh -c 'echo out; echo err >&2; exit 7'
	expect exit7 7 out
	grep -qx err "$tmp/exit7.rut.err" || fail "exit7: stderr lacks 'err': $err"
	both env "$fn" -e FOO=bar -w /tmp -u 1000 "$image" sh -c 'echo "$FOO"; pwd; id; echo "$HOME"'
	expect env 0 "$busybox_env"
	stdin=$tmp/in both stdin "$fn" -i "$image" sha256sum
	expect stdin 0 "$in_sum"
}

# docker run --rm on runtime SIDE.
drun() {
	local side=$1
	shift
	docker run --rm --network none --runtime "$side" "$@"
}

# docker_logs_have ID TEXT: the container's logs hold TEXT.
docker_logs_have() { docker logs "$1" 2>&1 | grep -q "$2"; }

case $case_name in
docker-run)
	# docker run --rm: output, status 0 and 7, stderr, -e/-w/-u, stdin.
	oci_containerd
	oci_dockerd
	timed "docker import" docker import "$OCI_WORK/busybox.tar" bb:1 >/dev/null || fail "docker import failed"
	run_basics drun bb:1
	;;
docker-debian)
	# The same on the Debian root: bash, coreutils, python3, a user by name.
	oci_containerd
	oci_dockerd
	timed "docker import" docker import "$OCI_WORK/debian.tar" deb:1 >/dev/null || fail "docker import failed"
	both hello drun deb:1 bash -c 'echo "hello $(cat /etc/debian_version | cut -d. -f1)"; exit 7'
	expect hello 7 "hello 12"
	both env drun -e FOO=bar -w /srv -u nobody deb:1 \
		bash -c 'echo "$FOO"; pwd; id -un; python3 -c "print(6 * 7)"'
	expect env 0 "bar
/srv
nobody
42"
	stdin=$tmp/in both stdin drun -i deb:1 sha256sum
	expect stdin 0 "$in_sum"
	;;
docker-detach)
	# run -d, then docker stop (SIGTERM, trapped: 43), a container ending on
	# its own (5), docker kill (137); status from docker wait and inspect.
	oci_containerd
	oci_dockerd
	timed "docker import" docker import "$OCI_WORK/busybox.tar" bb:1 >/dev/null || fail "docker import failed"
	for side in ref rut; do
		t0=$(ms)
		cid=$(docker run -d --network none --runtime "$side" bb:1 \
			sh -c 'trap "echo got-term; exit 43" TERM; echo started; while :; do sleep 1; done') ||
			fail "[$side] docker run -d failed"
		wait_until 300 "[$side] the container's 'started'" docker_logs_have "$cid" started
		docker stop -t 120 "$cid" >/dev/null || fail "[$side] docker stop failed"
		st=$(docker wait "$cid")
		[ "$st" = 43 ] || fail "[$side] docker wait after stop: '$st', expected 43"
		st=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$cid")
		[ "$st" = "exited 43" ] || fail "[$side] inspect: '$st', expected 'exited 43'"
		[ "$(docker logs "$cid" 2>&1)" = "started
got-term" ] || fail "[$side] logs: $(docker logs "$cid" 2>&1)"
		docker rm "$cid" >/dev/null || fail "[$side] docker rm failed"
		note "[$side] run -d, stop, wait, rm: $(($(ms) - t0)) ms"

		t0=$(ms)
		cid=$(docker run -d --network none --runtime "$side" bb:1 sh -c 'sleep 1; exit 5') ||
			fail "[$side] docker run -d failed"
		st=$(docker wait "$cid")
		[ "$st" = 5 ] || fail "[$side] docker wait: '$st', expected 5"
		docker rm "$cid" >/dev/null || fail "[$side] docker rm failed"

		cid=$(docker run -d --network none --runtime "$side" bb:1 sleep 100000) ||
			fail "[$side] docker run -d failed"
		docker kill "$cid" >/dev/null || fail "[$side] docker kill failed"
		st=$(docker wait "$cid")
		[ "$st" = 137 ] || fail "[$side] docker wait after kill: '$st', expected 137"
		docker rm "$cid" >/dev/null || fail "[$side] docker rm failed"
		note "[$side] exit 5 and kill: $(($(ms) - t0)) ms"
	done
	[ -z "$(docker ps -aq)" ] || fail "containers left: $(docker ps -a)"
	;;
docker-tty)
	# docker run -it in a tmux pane: type a line, exit 3.
	oci_containerd
	oci_dockerd
	timed "docker import" docker import "$OCI_WORK/busybox.tar" bb:1 >/dev/null || fail "docker import failed"
	for side in ref rut; do
		tty_session tty "$side" docker -H "unix://$tmp/docker.sock" run -it --rm \
			--network none --runtime "$side" bb:1 sh
	done
	;;
podman-run)
	# run --rm (as docker-run), then -d/stop/wait/rm, then -it in tmux.
	timed "podman import" podman "$ref" import --quiet "$OCI_WORK/busybox.tar" localhost/bb:1 >/dev/null ||
		fail "podman import failed"
	prun() {
		local side=$1
		shift
		podman "${!side}" run --rm --network none "$@"
	}
	run_basics prun localhost/bb:1
	for side in ref rut; do
		rt=${!side}
		t0=$(ms)
		cid=$(podman "$rt" run -d --network none localhost/bb:1 \
			sh -c 'trap "echo got-term; exit 43" TERM; echo started; while :; do sleep 1; done') ||
			fail "[$side] podman run -d failed"
		podman_logs_have() { podman "$rt" logs "$1" 2>&1 | grep -q "$2"; }
		wait_until 300 "[$side] the container's 'started'" podman_logs_have "$cid" started
		podman "$rt" stop -t 120 "$cid" >/dev/null || fail "[$side] podman stop failed"
		st=$(podman "$rt" wait "$cid")
		[ "$st" = 43 ] || fail "[$side] podman wait after stop: '$st', expected 43"
		st=$(podman "$rt" inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$cid")
		[ "$st" = "exited 43" ] || fail "[$side] inspect: '$st', expected 'exited 43'"
		podman "$rt" rm "$cid" >/dev/null || fail "[$side] podman rm failed"
		note "[$side] run -d, stop, wait, rm: $(($(ms) - t0)) ms"
		tty_session tty "$side" command podman "${podman_global[@]}" --runtime "$rt" \
			run -it --rm --network none localhost/bb:1 sh
	done
	[ -z "$(podman "$ref" ps -aq)" ] || fail "containers left: $(podman "$ref" ps -a)"
	;;
ctr-run)
	# ctr run --rm through containerd-shim-runc-v2 with --runc-binary: status,
	# stderr, --env, --cwd.
	oci_containerd
	timed "ctr images import" ctr images import "$OCI_WORK/bb-archive.tar" >/dev/null || fail "ctr images import failed"
	n=0
	# cr SIDE [CTR-OPTIONS...] -- CMD...: a fresh container id each time.
	cr() {
		local side=$1 opts=()
		shift
		while [ "$1" != -- ]; do
			opts+=("$1")
			shift
		done
		shift
		n=$((n + 1))
		ctr run --rm --runtime io.containerd.runc.v2 --runc-binary "${!side}" "${opts[@]}" \
			docker.io/library/bb:1 "c$n-$side" "$@"
	}
	both exit7 cr -- sh -c 'echo out; echo err >&2; exit 7'
	expect exit7 7 out
	both env cr --env FOO=bar --cwd /tmp -- sh -c 'echo "$FOO"; pwd; id -u'
	expect env 0 "bar
/tmp
0"
	# No stdin case: ctr 1.6 never closes the task's stdin at EOF (it hangs).
	[ -z "$(ctr containers ls -q)" ] || fail "containers left: $(ctr containers ls)"
	;;
*)
	fail "no such case"
	;;
esac
note "case done in $(($(ms) - case_start)) ms"
exit 0
