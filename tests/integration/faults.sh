#!/usr/bin/env bash
# Integration cases for faults and data safety: `faults.sh CASE`.
#
# A disk whose backing fails (EIO from device-mapper's error target, ENOSPC
# from a full tmpfs), cocoon killed or signalled in the middle of writes,
# broken root images, a kernel file replaced under a running VM, and
# invalid command lines. Cases that boot re-run themselves through
# tests/rig/kvm-exec (natively on hardware KVM, inside the emulated host
# elsewhere) so that host-side actions (device-mapper tables, a small
# tmpfs, signals, replacing files) happen on the same host as cocoon. Files
# live under /dev/shm: inside the rig, / is a 9p share.
set -u
case_name=$1
inner=${2:-}
. "$(dirname "$0")/lib.sh"
# bad-input boots nothing (every command line must fail while parsing).
[ "$case_name" = bad-input ] || rig_reexec

rig_scratch faults
dm_name=
loopdev=
mounted=
extra_cleanup() {
	[ -z "$dm_name" ] || dmsetup remove "$dm_name" 2>/dev/null
	[ -z "$loopdev" ] || losetup -d "$loopdev" 2>/dev/null
	[ -z "$mounted" ] || umount "$mounted"
}
run() { run_box "$@"; }

# The VMM must end by itself, not by a crash: a signal status (128+N) that
# the workload did not ask for, or an assertion/sanitizer report.
no_crash() {
	[ "$status" -lt 128 ] || fail "cocoon died with status $status; stderr: $err"
	! grep -qi 'sanitizer\|assert\|segmentation\|core dumped' "$tmp/err" ||
		fail "cocoon crashed: $err"
}

# bg_cocoon ARGS...: cocoon in the background; $pid; output in $tmp/out, $tmp/err.
bg_cocoon() {
	"$cocoon" run --kernel "$kernel" --rootfs "$testbox" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null &
	pid=$!
	pids+=("$pid")
}

# wait_out PATTERN: until the guest printed PATTERN (up to 120 s).
wait_out() {
	for _ in $(seq 1200); do
		grep -q -- "$1" "$tmp/out" && return 0
		kill -0 "$pid" 2>/dev/null || fail "cocoon exited before '$1': $(cat "$tmp/out" "$tmp/err")"
		sleep 0.1
	done
	fail "no '$1' from the guest: $(cat "$tmp/out" "$tmp/err")"
}

# wait_status: reap the background cocoon into $status, $out, $err.
wait_status() {
	wait "$pid"
	status=$?
	out=$(cat "$tmp/out")
	err=$(tr -d '\0' <"$tmp/err")
}

# fill FILE SIZE CHAR: SIZE bytes of CHAR.
fill() {
	head -c "$2" /dev/zero | tr '\0' "$3" >"$1"
}

case $case_name in
eio)
	# 4 MiB on a loop device behind a device-mapper table whose second MiB
	# is the `error` target: every read and write there fails with EIO on
	# the host. The guest must see I/O errors there, good ranges must still
	# read and write, and cocoon must exit with the workload's status. Both
	# host I/O paths: io_uring (default) and the thread pool.
	command -v dmsetup >/dev/null || skip "dmsetup is not installed"
	modprobe loop 2>/dev/null
	modprobe dm_mod 2>/dev/null
	fill "$tmp/backing" 4194304 g
	loopdev=$(losetup --find --show "$tmp/backing") || skip "no loop device"
	dm_name=cocoon-eio-$$
	printf '0 2048 linear %s 0\n2048 2048 error\n4096 4096 linear %s 4096\n' \
		"$loopdev" "$loopdev" | dmsetup create --noudevsync "$dm_name" ||
		skip "device-mapper is unavailable"
	dmsetup mknodes "$dm_name" 2>/dev/null
	dev=/dev/mapper/$dm_name
	[ -b "$dev" ] || fail "$dev is not a block device"
	# Block 256 (4 KiB blocks) is the first of the error MiB; 600 and 700
	# are in the good range behind it. The device has a write cache
	# (VIRTIO_BLK_F_FLUSH): a write may be acknowledged before the host
	# wrote it back, and its loss must then fail the flush, so the bad
	# write is checked with its fsync.
	script='
		dd if=/dev/vdb of=/dev/null bs=4096 skip=256 count=1 iflag=direct && echo bad-read-ok || echo bad-read-failed
		dd if=/dev/zero of=/dev/vdb bs=4096 seek=300 count=1 oflag=direct conv=notrunc,fsync && echo bad-write-ok || echo bad-write-failed
		dd if=/dev/vdb bs=4096 skip=600 count=1 iflag=direct 2>/dev/null | head -c 4; echo
		head -c 4096 /dev/zero | tr "\0" W | dd of=/dev/vdb bs=4096 seek=700 count=1 iflag=fullblock oflag=direct conv=notrunc,fsync 2>/dev/null && echo good-write-ok
		exit 5'
	for mode in uring threads; do
		kind=$mode
		[ "$mode" = threads ] && export COCOON_BLK_AIO=threads
		run --disk "$dev" -- sh -c "$script"
		unset COCOON_BLK_AIO
		no_crash
		expect_status 5
		[ "$(printf '%s\n' "$out" | tr '\n' ' ')" = \
			"bad-read-failed bad-write-failed gggg good-write-ok " ] ||
			fail "guest saw: $out"
		# dd's messages are the workload's stderr, on cocoon's.
		[ "$(grep -c 'dd: .*\(I/O\|Input/output\) error' "$tmp/err")" -eq 2 ] ||
			fail "not two I/O errors from dd: $err"
		[ "$(dd if="$tmp/backing" bs=4096 skip=700 count=1 2>/dev/null | tr -d W | wc -c)" -eq 0 ] ||
			fail "the good-range write is not in the backing file"
		fill "$tmp/backing-block" 4096 g
		dd if="$tmp/backing" bs=4096 skip=700 count=1 2>/dev/null | tr W g |
			cmp -s - "$tmp/backing-block" || fail "wrong bytes at block 700"
		# Restore block 700 for the second pass.
		dd if="$tmp/backing-block" of="$tmp/backing" bs=4096 seek=700 conv=notrunc 2>/dev/null
	done
	;;
enospc)
	# A sparse 8 MiB --disk on a 1 MiB tmpfs: the first writes fit, then
	# the host runs out of space. The guest must see I/O errors (not a
	# silent success whose data is gone), the VMM lives, and the status is
	# the workload's. What was written before is in the file.
	mkdir "$tmp/small"
	mount -t tmpfs -o size=1M tmpfs "$tmp/small" || skip "cannot mount a tmpfs"
	mounted=$tmp/small
	truncate -s 8M "$tmp/small/disk.img"
	run --disk "$tmp/small/disk.img" -- sh -c '
		head -c 65536 /dev/zero | tr "\0" A | dd of=/dev/vdb bs=65536 count=1 iflag=fullblock oflag=direct conv=notrunc,fsync 2>/dev/null && echo small-ok
		head -c 4194304 /dev/zero | tr "\0" B | dd of=/dev/vdb bs=65536 seek=16 iflag=fullblock oflag=direct conv=notrunc,fsync 2>&1; echo dd=$?
		head -c 4194304 /dev/zero | tr "\0" C | dd of=/dev/vdb bs=65536 seek=80 conv=notrunc 2>&1; sync; echo sync=$?
		exit 4'
	no_crash
	expect_status 4
	printf '%s\n' "$out" | grep -qx small-ok || fail "the first write failed: $out"
	printf '%s\n' "$out" | grep -qx 'dd=1' || fail "the direct write past the free space did not fail: $out"
	printf '%s\n' "$out" | grep -q 'dd: .*\(I/O error\|Input/output error\|No space\)' || fail "no I/O error from dd: $out"
	printf '%s\n' "$out" | grep -qx 'sync=[1-9]' ||
		printf '%s\n' "$out" | grep -q 'dd: .*\(I/O error\|Input/output error\|No space\)' ||
		fail "the buffered write's loss went unreported: $out"
	[ "$(head -c 65536 "$tmp/small/disk.img" | tr -d A | wc -c)" -eq 0 ] ||
		fail "the first write is not in the host file"
	[ "$(stat -c %s "$tmp/small/disk.img")" -eq 8388608 ] || fail "the image changed size"
	;;
sigkill-flush)
	# The guest writes numbered 512-byte records, each followed by an
	# fsync (a FLUSH to the device), and prints the number once the fsync
	# returned. cocoon is SIGKILLed mid-way: every record the guest
	# reported must be in the host file. (Lines still in transit on the
	# console only make the check weaker.)
	truncate -s 8M "$tmp/disk.img"
	bg_cocoon --disk "$tmp/disk.img" -- sh -c '
		i=1
		while [ $i -lt 16000 ]; do
			{ printf "rec%08d" $i; head -c 501 /dev/zero; } |
				dd of=/dev/vdb bs=512 count=1 seek=$i iflag=fullblock conv=notrunc,fsync 2>/dev/null || exit 9
			echo $i
			i=$((i + 1))
		done'
	wait_out '^40$'
	kill -KILL "$pid"
	wait_status
	[ "$status" -eq 137 ] || fail "status $status after SIGKILL"
	# Complete lines only: a last line without its newline is dropped.
	if [ -n "$(tail -c 1 "$tmp/out")" ]; then
		sed '$d' "$tmp/out" >"$tmp/done"
	else
		cp "$tmp/out" "$tmp/done"
	fi
	n=0
	while read -r i; do
		[ -n "$i" ] || continue
		got=$(dd if="$tmp/disk.img" bs=512 skip="$i" count=1 2>/dev/null | head -c 11)
		[ "$got" = "$(printf 'rec%08d' "$i")" ] || fail "record $i was reported flushed but the host file has '$got'"
		n=$((n + 1))
	done <"$tmp/done"
	[ "$n" -ge 40 ] || fail "only $n records checked"
	echo "sigkill-flush: $n flushed records checked"
	;;
sigterm-flush)
	# SIGTERM, SIGINT and SIGHUP to cocoon while the workload has written
	# a file on an ext4 --disk without syncing: the signal reaches the
	# workload, which dies of it; guest-init syncs before powering off, so
	# the data is in the host file; cocoon exits 128+N (README, signals).
	command -v mkfs.ext4 >/dev/null && command -v debugfs >/dev/null ||
		skip "e2fsprogs is not installed"
	for sig in TERM INT HUP; do
		kind=$sig
		rm -f "$tmp/disk.img"
		truncate -s 32M "$tmp/disk.img"
		mkfs.ext4 -q -F "$tmp/disk.img" || fail "mkfs.ext4"
		# env: a background job of a script starts with SIGINT ignored.
		env --default-signal=INT "$cocoon" run --kernel "$kernel" --rootfs "$testbox" \
			--disk "$tmp/disk.img" -- sh -c '
			mkdir -p /mnt && mount -t ext4 /dev/vdb /mnt || exit 9
			yes "unsynced data for '"$sig"'" | head -c 1048576 >/mnt/data
			echo ready; sleep 1000 & wait' >"$tmp/out" 2>"$tmp/err" </dev/null &
		pid=$!
		pids+=("$pid")
		wait_out ready
		kill -"$sig" "$pid"
		wait_status
		case $sig in TERM) want=143 ;; INT) want=130 ;; HUP) want=129 ;; esac
		expect_status "$want"
		debugfs -R "cat /data" "$tmp/disk.img" >"$tmp/data" 2>/dev/null
		yes "unsynced data for $sig" | head -c 1048576 | cmp -s - "$tmp/data" ||
			fail "SIG$sig: the unsynced file is not in the host image ($(wc -c <"$tmp/data") bytes)"
		e2fsck -fn "$tmp/disk.img" >"$tmp/fsck" 2>&1 || fail "SIG$sig: the file system is not clean: $(cat "$tmp/fsck")"
	done
	;;
bad-images)
	# What boot.sh (missing-rootfs, garbage-kernel, disk-missing) and
	# image.sh (hostile) do not cover. Detectable before boot: status 125
	# and one line naming the file. Only the guest can tell (an image that
	# is not erofs or ext4): guest-init says so and cocoon exits 125,
	# without a crash.
	run --rootfs "$tmp/absent.erofs" -- true
	expect_status 125
	expect_err_line "^cocoon: --rootfs $tmp/absent.erofs: No such file or directory$"
	mkdir "$tmp/adir"
	run --rootfs "$tmp/adir" -- true
	expect_status 125
	expect_err_line "^cocoon: --rootfs $tmp/adir: not a regular file or block device$"
	run --disk "$tmp/adir" -- true
	expect_status 125
	expect_err_line "^cocoon: --disk $tmp/adir: Is a directory$"
	# Unreadable to the user running cocoon.
	cp "$testbox" "$tmp/secret.erofs"
	chmod 600 "$tmp/secret.erofs"
	cp "$kernel" "$tmp/vmlinux"
	cp "$testbox" "$tmp/box.erofs"
	chmod 755 "$tmp"
	chmod 644 "$tmp/vmlinux" "$tmp/box.erofs"
	# A KVM node that user may open (on a tmpfs of its own: /dev/shm is
	# nodev), so that only the image is out of reach.
	mkdir -m 755 "$tmp/dev"
	mount -t tmpfs -o mode=755 tmpfs "$tmp/dev" || skip "cannot mount a tmpfs"
	mounted=$tmp/dev
	mknod -m 666 "$tmp/dev/kvm" c 10 232
	# The sandbox needs root; where cocoon has one, run this without it.
	nosb=()
	"$cocoon" run --no-sandbox --bogus 2>&1 | grep -q -- --bogus && nosb=(--no-sandbox)
	for opt in --rootfs --disk; do
		if [ $opt = --rootfs ]; then args=(--rootfs "$tmp/secret.erofs"); else
			args=(--rootfs "$tmp/box.erofs" --disk "$tmp/secret.erofs"); fi
		COCOON_KVM_DEVICE=$tmp/dev/kvm setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$cocoon" run "${nosb[@]}" --kernel "$tmp/vmlinux" "${args[@]}" -- true \
			>"$tmp/out" 2>"$tmp/err" </dev/null
		status=$?; err=$(cat "$tmp/err")
		expect_status 125
		expect_err_line "^cocoon: $opt $tmp/secret.erofs: Permission denied$"
	done
	# Truncated, corrupt (random bytes over the superblock) and empty images.
	head -c 3000 "$testbox" >"$tmp/trunc.erofs"
	cp "$testbox" "$tmp/corrupt.erofs"
	head -c 128 /dev/urandom | dd of="$tmp/corrupt.erofs" bs=1 seek=1024 conv=notrunc 2>/dev/null
	: >"$tmp/empty.erofs"
	for img in trunc corrupt empty; do
		kind=$img
		run --rootfs "$tmp/$img.erofs" -- echo booted
		no_crash
		expect_status 125
		[ -z "$out" ] || fail "the workload ran: $out"
		expect_err_line "^cocoon-init: \(mount root\|the root image is neither erofs nor ext4\).*/dev/vda"
	done
	kind=
	;;
kernel-replaced)
	# The kernel file of a running VM is replaced, by a rename over it and
	# by truncating it in place: the VM must go on unaffected (a kernel
	# mapped MAP_PRIVATE from the file would die of SIGBUS on truncation),
	# and the next run with the replaced file boots (a good kernel renamed
	# over) or fails with one clear line (the truncated file).
	for how in rename truncate; do
		kind=$how
		cp "$kernel" "$tmp/k"
		"$cocoon" run --kernel "$tmp/k" --rootfs "$testbox" -- sh -c \
			'echo ready; i=0; while [ $i -lt 30 ]; do i=$((i+1)); cat /bin/busybox >/dev/null; done; echo alive; exit 6' \
			>"$tmp/out" 2>"$tmp/err" </dev/null &
		pid=$!
		pids+=("$pid")
		wait_out ready
		if [ "$how" = rename ]; then
			cp "$build/kernel/bzImage" "$tmp/k.new"
			mv -f "$tmp/k.new" "$tmp/k"
		else
			truncate -s 0 "$tmp/k"
		fi
		wait_status
		no_crash
		expect_status 6
		[ "$out" = "ready
alive" ] || fail "stdout '$out'"
		run --kernel "$tmp/k" -- echo second
		if [ "$how" = rename ]; then
			expect_status 0
			[ "$out" = second ] || fail "second run: stdout '$out'"
		else
			expect_status 125
			expect_err_line "kernel $tmp/k: "
		fi
	done
	;;
bad-input)
	# Invalid `cocoon run` command lines: each fails with status 125 and
	# one stderr line naming the option, before anything is created: a
	# --console-log given first must not appear. Nothing here boots.
	watch=$tmp/watch
	mkdir "$watch"
	n=0
	while IFS='|' read -r want args; do
		[ -n "$want" ] || continue
		eval "set -- $args"
		"$cocoon" run --kernel "$kernel" --rootfs "$testbox" --console-log "$watch/console.log" \
			"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
		status=$?
		err=$(cat "$tmp/err")
		[ "$status" -eq 125 ] || fail "run $args: status $status, expected 125; stderr: $err"
		[ "$(grep -c . "$tmp/err")" -eq 1 ] || fail "run $args: not one line: $err"
		grep -q -- "$want" "$tmp/err" || fail "run $args: stderr lacks '$want': $err"
		[ -z "$(ls -A "$watch")" ] || fail "run $args: created $(ls -A "$watch")"
		[ ! -s "$tmp/out" ] || fail "run $args: wrote to stdout: $(cat "$tmp/out")"
		n=$((n + 1))
	done <<'EOF'
--memory|--memory 12Q -- true
--memory|--memory 1 -- true
--memory|--memory 99999999G -- true
--memory|--memory -- true
--memory|--memory
--cpus|--cpus 0 -- true
--cpus|--cpus 33 -- true
--cpus|--cpus two -- true
--cpus|--cpus '' -- true
--boot-timeout|--boot-timeout -1 -- true
--boot-timeout|--boot-timeout x -- true
--stop-timeout|--stop-timeout soon -- true
--log-level|--log-level loud -- true
--vsock-cid|--vsock-cid 2 -- true
--vsock-cid|--vsock-cid 4294967296 -- true
-p|-p 99999:80 -- true
-p|-p 80 -- true
-p|-p 0:80 -- true
-p|-p 8080:80:90 -- true
-p|-p 300.1.1.1:80:80 -- true
-p: |--publish x:y -- true
--dns|--dns not-an-ip -- true
--dns|--dns 1.1.1.1 --dns 1.1.1.2 --dns 1.1.1.3 --dns 1.1.1.4 -- true
--net|--net bogus -- true
--disk|--disk '' -- true
--disk|--disk /x.img,iops=abc -- true
--disk|--disk /x.img,bw=-1 -- true
--disk|--disk /x.img,colour=blue -- true
--disk|--disk 1 --disk 2 --disk 3 --disk 4 --disk 5 --disk 6 --disk 7 --disk 8 --disk 9 -- true
-v |--volume /only -- true
-v |--volume relative:/x -- true
-v |--volume /a:/b:rx -- true
-v |--volume /a:/1 --volume /a:/2 --volume /a:/3 --volume /a:/4 --volume /a:/5 --volume /a:/6 --volume /a:/7 --volume /a:/8 --volume /a:/9 -- true
--tmpfs|--tmpfs relative -- true
--ulimit|--ulimit nofile -- true
--ulimit|--ulimit bogus=1 -- true
--ulimit|--ulimit nofile=2:1 -- true
--rng|--rng speed=1 -- true
--group-add|--group-add staff -- true
--security-opt|--security-opt seccomp=none -- true
--env-file|--env-file /nonexistent/env -- true
-e|-e =x -- true
--rootfs-dir|--rootfs-dir /tmp --rootfs /x -- true
--read-only|--read-only --rootfs-rw -- true
--bogus|--bogus -- true
-Z|-Z -- true
--kernel|--kernel
EOF
	echo "bad-input: $n command lines refused"
	# The OCI runtime's create with broken input (oci_runtime.py's errors
	# case covers a missing bundle, bad IDs and an existing container):
	# status 1, one line, no state left under --root.
	state=$tmp/state
	mkdir -p "$state" "$tmp/bundle/rootfs"
	for cfg in '{' '{"ociVersion":"1.0.2"}' '{"ociVersion":"1.0.2","process":{"args":[]},"root":{"path":"rootfs"}}' \
		'{"ociVersion":"1.0.2","process":{"args":["true"],"cwd":"relative"},"root":{"path":"rootfs"}}' \
		'{"ociVersion":"1.0.2","process":{"args":["true"],"cwd":"/"},"root":{"path":"rootfs"},"linux":{"resources":{"memory":{"limit":"lots"}}}}'; do
		printf '%s' "$cfg" >"$tmp/bundle/config.json"
		"$cocoon" --root "$state" create --bundle "$tmp/bundle" c1 >"$tmp/out" 2>"$tmp/err" </dev/null
		status=$?
		err=$(cat "$tmp/err")
		[ "$status" -eq 1 ] || fail "create with $cfg: status $status; stderr: $err"
		[ "$(grep -c . "$tmp/err")" -eq 1 ] && grep -q "^cocoon: config.json: " "$tmp/err" ||
			fail "create with $cfg: not one line naming config.json: $err"
		[ -z "$(ls -A "$state")" ] || fail "create with $cfg: left $(ls -A "$state")"
	done
	;;
*)
	fail "unknown case"
	;;
esac
echo "PASS [$case_name]"
