#!/usr/bin/env bash
# Integration cases for virtio-fs: `fs.sh CASE`.
#
# Host directories shared with the guest (-v, --rootfs-dir): real workloads
# on them, and a hostile guest trying to get out. Each case re-runs itself
# through tests/rig/kvm-exec (natively on hardware KVM, inside the emulated
# host elsewhere) so that host-side actions (swapping a directory for a
# symlink, removing the share) happen on the same host as cocoon. Shares
# live under /dev/shm: inside the rig, / is a 9p share, which is not the
# file system a user would share.
set -u
case_name=$1
inner=${2:-}
. "$(dirname "$0")/lib.sh"
rig_reexec

rig_scratch fs
share=$tmp/share
secret=$tmp/secret # outside the share: the guest must never see it
mkdir -p "$share" "$secret"
echo "TOP-SECRET-$RANDOM$RANDOM" >"$secret/file"
secret_text=$(cat "$secret/file")
loop_mounted=
extra_cleanup() {
	[ -z "$loop_mounted" ] || umount "$loop_mounted"
}
run() { run_box "$@"; }
no_secret() {
	! grep -q "$secret_text" "$tmp/out" "$tmp/err" || fail "the guest read a host file outside the share"
}

case $case_name in
workload)
	# A tree made on the host, unpacked by the guest into the share, must
	# equal the host copy; then a script of renames, links, symlinks; then
	# modes, times and xattrs set in the guest, read on the host.
	mkdir -p "$tmp/src"
	for d in $(seq 1 20); do
		mkdir -p "$tmp/src/d$d/sub"
		for f in $(seq 1 50); do
			head -c $((f * 97 + d)) /dev/urandom >"$tmp/src/d$d/f$f"
		done
		ln -s "f1" "$tmp/src/d$d/link"
		chmod 750 "$tmp/src/d$d/sub"
	done
	head -c 8000000 /dev/urandom >"$tmp/src/big"
	# user.* xattrs need a file system that keeps them: tmpfs only does
	# since Linux 6.6, so the share is an ext4 image on a loop device.
	modprobe loop 2>/dev/null || true
	modprobe ext4 2>/dev/null || true
	truncate -s 128M "$tmp/ext4.img"
	mkfs.ext4 -q "$tmp/ext4.img" && mount -o loop "$tmp/ext4.img" "$share" ||
		fail "cannot mount an ext4 image for the share"
	loop_mounted=$share
	tar -C "$tmp/src" -cf "$share/tree.tar" .
	run -v "$share:/data" -- sh -c '
		mkdir /data/out && tar -C /data/out -xf /data/tree.tar || exit 3
		cd /data && mkdir w && echo one >w/a && mv w/a w/b && ln w/b w/c &&
		ln -s b w/s && echo two >>w/c && mv w w2 && readlink w2/s &&
		cat w2/b && rm w2/c && ls w2 | tr "\n" " " && echo || exit 4
		echo hi >m && chmod 604 m && touch -d "2021-02-03 04:05:06" m &&
		fs-tool setxattr m user.cocoon hello && fs-tool getxattr m user.cocoon'
	expect_status 0
	diff -r "$tmp/src" "$share/out" >"$tmp/diff" 2>&1 || fail "unpacked tree differs: $(head -5 "$tmp/diff")"
	[ "$out" = "b
one
two
b s 
hello" ] || fail "guest script: '$out'"
	[ "$(stat -c %a "$share/m")" = 604 ] || fail "mode $(stat -c %a "$share/m")"
	[ "$(date -u -r "$share/m" +%Y-%m-%dT%H:%M:%S)" = 2021-02-03T04:05:06 ] ||
		fail "mtime $(date -u -r "$share/m")"
	x=$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.cocoon").decode())' "$share/m") ||
		fail "no xattr on the host"
	[ "$x" = hello ] || fail "xattr '$x'"
	[ ! -e "$share/w2/c" ] && [ "$(cat "$share/w2/b")" = "one
two" ] || fail "rename/link results on the host"
	;;
ownership)
	# Pass-through ownership: what a guest user creates belongs to that
	# uid on the host; the guest sees the host's owners.
	chown 1234:1234 "$share"
	echo host >"$share/hostfile"
	chown 4321:4321 "$share/hostfile"
	run -v "$share:/data" -u 1234:1234 -- sh -c 'echo guest >/data/mine; stat -c "%u:%g" /data/hostfile'
	expect_status 0
	[ "$out" = "4321:4321" ] || fail "guest sees '$out'"
	[ "$(stat -c %u:%g "$share/mine")" = 1234:1234 ] || fail "host owner $(stat -c %u:%g "$share/mine")"
	;;
read-only)
	# :ro: the guest's mount is read-only, and even a guest that remounts
	# it read-write cannot change anything on the host.
	echo original >"$share/f"
	run -v "$share:/data:ro" -- sh -c '
		echo x >/data/f 2>/dev/null && echo wrote-ro
		mount -o remount,rw /data && echo remounted
		echo x >/data/f 2>/dev/null && echo wrote-after-remount
		touch /data/new 2>/dev/null && echo created
		rm /data/f 2>/dev/null && echo removed
		chmod 777 /data/f 2>/dev/null && echo chmodded
		mkdir /data/dir 2>/dev/null && echo mkdired
		cat /data/f'
	expect_status 0
	for bad in wrote-ro wrote-after-remount created removed chmodded mkdired; do
		! grep -qx "$bad" <<<"$out" || fail "the guest $bad on a :ro share: $out"
	done
	[ "$(cat "$share/f")" = original ] || fail "host file changed"
	[ "$(stat -c %a "$share/f")" != 777 ] || fail "host mode changed"
	[ "$(ls "$share")" = f ] || fail "host dir changed: $(ls "$share")"
	;;
escape)
	# Symlinks made on the host are resolved by the guest, in the guest:
	# absolute, relative with "..", and to a directory.
	ln -s "$secret/file" "$share/abs"
	ln -s "../secret/file" "$share/rel"
	ln -s "$secret" "$share/dirlink"
	mkfifo "$share/fifo"
	mknod "$share/null" c 1 3 2>/dev/null || true
	run -v "$share:/data" -- sh -c '
		cat /data/abs /data/rel /data/dirlink/file /data/../secret/file 2>&1
		cat /data/../../'"$secret"'/file 2>&1
		cd /data && cd .. && cd .. && ls 2>&1 | head -3
		ln -s /etc /data/etclink && cat /data/etclink/hostname >/dev/null && echo guest-etc
		timeout 5 cat /data/fifo; echo "fifo-status $?"
		timeout 5 head -c 4 /data/null; echo "null-status $?"
		mknod /data/mem c 1 1 2>/dev/null && echo made-device
		echo done'
	expect_status 0
	no_secret
	grep -q '^done$' <<<"$out" || fail "guest script did not finish: $out $err"
	grep -q '^guest-etc$' <<<"$out" || fail "a guest symlink to /etc should reach the guest's /etc"
	# A fifo or device node in the share is the guest's own (its kernel
	# serves them, as over NFS): the guest's cat waits on a guest pipe or
	# reads the guest's null device, and the VMM never opens the host's.
	# (A hostile guest that sends FUSE_OPEN for them anyway is refused:
	# tests/unit/test_vfs.c.) Here: the script went on, nothing leaked.
	grep -q '^fifo-status' <<<"$out" && grep -q '^null-status' <<<"$out" ||
		fail "guest stuck on a fifo or device: $out"
	! grep -q made-device <<<"$out" || fail "the guest made a device node in the share"
	[ ! -e "$share/mem" ] || fail "a device node appeared on the host"
	[ -L "$share/etclink" ] && [ "$(readlink "$share/etclink")" = /etc ] ||
		fail "guest symlink not stored as a symlink"
	;;
race)
	# The host swaps a directory of the share for a symlink to the secret,
	# over and over, while the guest keeps reading through it.
	mkdir -p "$share/d"
	echo inside >"$share/d/file"
	(
		while :; do
			mv "$share/d" "$share/d.real" 2>/dev/null
			ln -sfn "$secret" "$share/d" 2>/dev/null
			rm -f "$share/d" 2>/dev/null
			mv "$share/d.real" "$share/d" 2>/dev/null
		done
	) &
	pids+=("$!")
	run -v "$share:/data" -- sh -c '
		i=0; while [ $i -lt 400 ]; do cat /data/d/file 2>/dev/null; i=$((i + 1)); done
		echo done'
	kill -KILL "${pids[0]}"
	wait "${pids[0]}" 2>/dev/null
	expect_status 0
	no_secret
	grep -q '^done$' <<<"$out" || fail "guest did not finish: $err"
	grep -q '^inside$' <<<"$out" || fail "never read the real file: $out"
	;;
fd-exhaustion)
	# The guest opens far more files than the server may hold: some opens
	# fail with an error, the VMM lives on, and the share still works.
	run -v "$share:/data" --ulimit nofile=200000:200000 -- sh -c '
		fs-tool openmany /data 20000
		ls /data | wc -l; echo after >/data/after && cat /data/after'
	expect_status 0
	grep -Eq '^opened [0-9]+ failed [1-9][0-9]* ' <<<"$out" ||
		fail "no open was refused: $out ($err)"
	grep -q '^after$' <<<"$out" || fail "the share broke after exhaustion: $out $err"
	;;
removed)
	# The shared directory disappears on the host while the guest uses it.
	mkdir -p "$share/sub"
	echo x >"$share/sub/f"
	"$cocoon" run --kernel "$kernel" --rootfs "$testbox" -v "$share:/data" -- sh -c '
		cat /data/sub/f; echo ready
		i=0
		while [ $i -lt 120 ]; do
			cat /data/sub/f >/dev/null 2>&1 || { echo gone; break; }
			sleep 0.5; i=$((i + 1))
		done
		cat /data/sub/f 2>/dev/null || echo read-error
		touch /data/new 2>/dev/null || echo write-error
		echo done' >"$tmp/out" 2>"$tmp/err" </dev/null &
	vm=$!
	pids+=("$vm")
	for _ in $(seq 600); do grep -q ready "$tmp/out" && break; sleep 0.5; done
	grep -q ready "$tmp/out" || fail "guest never got ready: $(cat "$tmp/err")"
	rm -rf "$share"
	wait "$vm"
	status=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
	expect_status 0
	grep -q '^gone$' <<<"$out" && grep -q '^read-error$' <<<"$out" &&
		grep -q '^done$' <<<"$out" || fail "guest: $out"
	;;
rootfs-dir)
	# A directory as the root filesystem: overlay over it by default
	# (writes vanish, the directory is untouched), the directory itself
	# with --rootfs-rw.
	mkdir -p "$tmp/root"
	(cd "$tmp/root" && mkdir -p bin etc tmp proc sys dev && cp /bin/busybox bin/ &&
		ln -s busybox bin/sh && ln -s busybox bin/cat && ln -s busybox bin/echo &&
		echo 'root:x:0:0:root:/root:/bin/sh' >etc/passwd && echo dir-root >etc/marker)
	"$cocoon" run --kernel "$kernel" --rootfs-dir "$tmp/root" -- sh -c \
		'cat /etc/marker; echo changed >/etc/marker; cat /etc/marker' >"$tmp/out" 2>"$tmp/err"
	status=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
	expect_status 0
	[ "$out" = "dir-root
changed" ] || fail "overlay root: '$out'"
	[ "$(cat "$tmp/root/etc/marker")" = dir-root ] || fail "the overlay wrote through to the host"
	"$cocoon" run --kernel "$kernel" --rootfs-dir "$tmp/root" --rootfs-rw -- sh -c \
		'echo persisted >/etc/marker' >"$tmp/out" 2>"$tmp/err"
	status=$?
	err=$(cat "$tmp/err")
	expect_status 0
	[ "$(cat "$tmp/root/etc/marker")" = persisted ] || fail "--rootfs-rw did not write through"
	;;
errors)
	# Bad shares: one line naming the thing at fault, status 125.
	expect_error "$tmp/nope" -v "$tmp/nope:/data"
	echo f >"$tmp/plain"
	expect_error "$tmp/plain" -v "$tmp/plain:/data"
	expect_error "must be an absolute path" -v "relative:/data"
	expect_error "cannot mount over the guest's root" -v "$share:/"
	expect_error "--rootfs-dir and --rootfs" --rootfs-dir "$tmp/root"
	"$cocoon" run --kernel "$kernel" --rootfs-dir "$tmp/nope" -- true >/dev/null 2>"$tmp/err"
	st=$?
	[ "$st" -eq 125 ] && grep -q -- "--rootfs-dir $tmp/nope" "$tmp/err" ||
		fail "--rootfs-dir of a missing directory: $st $(cat "$tmp/err")"
	;;
*)
	fail "unknown case"
	;;
esac
exit 0
