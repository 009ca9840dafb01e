#!/usr/bin/env bash
# Integration cases for booting a real guest: `boot.sh CASE KERNEL_KIND`.
# KERNEL_KIND is vmlinux (PVH entry) or bzImage (64-bit boot protocol).
# Every case runs cocoon through tests/rig/kvm-exec, so it boots natively on
# hardware KVM and inside the emulated host elsewhere, and asserts what a
# user sees: bytes on stdout/stderr and the exit status.
set -u
case_name=$1
kind=${2:-vmlinux}
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/cocoon-it.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# run ARGS...: runs cocoon, fills $out, $err, $status.
run() {
	"$exec_" "$cocoon" run --kernel "$kernel" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	status=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
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
	grep -q '/no/such/command' "$tmp/err" || fail "no message naming the command: $err"
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
memory-high)
	# Above 3 GiB RAM continues past the MMIO hole, at 4 GiB.
	run --memory 5G -- sh -c 'grep MemTotal /proc/meminfo'
	expect_status 0
	kb=$(echo "$out" | awk '{print $2}')
	[ "$kb" -gt 4800000 ] && [ "$kb" -le 5242880 ] || fail "MemTotal $kb kB for a 5G guest"
	;;
hugepages)
	# --hugepages: guest RAM from 2 MiB hugetlb pages. Without reserved
	# pages (a fresh rig has none): one line and 125 before booting. With
	# them the guest runs, and its RAM was reserved from the pool while
	# it ran (HugePages_Rsvd + in use, read in the middle of the run).
	run --hugepages -- true
	expect_status 125
	expect_err_line "--hugepages: cannot reserve 64 huge pages of 2 MiB"
	"$exec_" sh -c 'echo 80 >/proc/sys/vm/nr_hugepages
		"$1" run --kernel "$2" --hugepages -- sh -c "echo ready; sleep 4" &
		sleep 3
		awk "/HugePages_(Total|Free|Rsvd)/ {print \$1, \$2}" /proc/meminfo
		wait $!' sh "$cocoon" "$kernel" >"$tmp/out" 2>"$tmp/err"
	status=$?
	out=$(cat "$tmp/out")
	expect_status 0
	echo "$out" | grep -qx ready || fail "the guest did not run: $out"
	total=$(echo "$out" | awk '/Total/ {print $2}')
	free=$(echo "$out" | awk '/Free/ {print $2}')
	rsvd=$(echo "$out" | awk '/Rsvd/ {print $2}')
	[ "$total" = 80 ] && [ $((total - free + rsvd)) -ge 64 ] ||
		fail "64 pages not taken from the pool: $out"
	run --hugepages --memory 129M -- true
	expect_status 125
	expect_err_line "--hugepages: --memory must be a multiple of 2M"
	;;
console-log)
	# The kernel console is hidden by default and kept by --console-log.
	run --console-log "$tmp/console.txt" -- sh -c 'echo visible'
	expect_status 0
	[ "$out" = visible ] || fail "stdout '$out'"
	grep -q "Linux version" "$tmp/console.txt" || fail "no kernel log in --console-log file"
	grep -q "Linux version" "$tmp/out" "$tmp/err" && fail "kernel log leaked into stdout/stderr"
	run --console -- true
	expect_status 0
	grep -q "Linux version" "$tmp/err" || fail "--console did not show the kernel log on stderr"
	grep -q "Linux version" "$tmp/out" && fail "--console wrote to stdout"
	;;
guest-dies)
	# No init: the kernel panics, panic=-1 reboots, reboot=t triple-faults.
	run --kernel-append "rdinit=/no/such/init" -- true
	expect_status 125
	expect_err_line "before reporting an exit status; run with --console"
	;;
watchdog)
	# An init that never reaches guest-init's first mark: the boot watchdog
	# must end the run with a clear line instead of hanging. The initramfs
	# has no userland, so: no rdinit, and busybox's sleep as init from the
	# root image.
	run --boot-timeout 2 --kernel-append \
		"rdinit=/none root=/dev/vda rootfstype=erofs ro init=/bin/sleep -- 100000" -- true
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
disk-rw)
	# Bytes a guest writes to a read-write --disk and syncs are in the host
	# file after cocoon exits; the rest of the image is untouched. The root
	# filesystem is /dev/vda, so the first --disk is /dev/vdb; its serial
	# (GET_ID) is the file name.
	head -c 4194304 /dev/zero | tr '\0' z >"$tmp/disk.img"
	yes cocoon-disk | head -c 1048576 >"$tmp/want"
	run --disk "$tmp/disk.img" -- sh -c \
		'cat /sys/block/vdb/serial; echo; yes cocoon-disk | head -c 1048576 | dd of=/dev/vdb bs=65536 seek=16 conv=notrunc,fsync 2>/dev/null && echo written'
	expect_status 0
	[ "$(printf '%s\n' "$out" | tr '\n' ' ')" = "disk.img written " ] || fail "stdout '$out'"
	dd if="$tmp/disk.img" bs=65536 skip=16 count=16 2>/dev/null | cmp -s - "$tmp/want" ||
		fail "the written bytes are not in the host file"
	[ "$(head -c 1048576 "$tmp/disk.img" | tr -d z | wc -c)" -eq 0 ] &&
		[ "$(tail -c 2097152 "$tmp/disk.img" | tr -d z | wc -c)" -eq 0 ] ||
		fail "bytes outside the written range changed"
	[ "$(stat -c %s "$tmp/disk.img")" -eq 4194304 ] || fail "the image changed size"
	;;
disk-ro)
	# A read-only disk reads, and refuses writes: the guest sees it
	# read-only and the write fails; the host file is unchanged.
	head -c 1048576 /dev/zero | tr '\0' r >"$tmp/ro.img"
	cp "$tmp/ro.img" "$tmp/orig.img"
	run --disk "$tmp/ro.img:ro" -- sh -c \
		'cat /sys/block/vdb/ro; head -c 4 /dev/vdb; echo; dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=notrunc,fsync oflag=direct'
	[ "$status" -ne 0 ] || fail "the write succeeded: $out"
	[ "$(printf '%s\n' "$out" | head -n 2 | tr '\n' ' ')" = "1 rrrr " ] ||
		fail "stdout '$out'"
	# The workload's stderr reaches cocoon's stdout or stderr, depending on
	# the console in use.
	printf '%s\n%s\n' "$out" "$err" |
		grep -qi 'dd: .*\(not permitted\|read-only\|I/O error\|permission denied\)' ||
		fail "no write error in: $out $err"
	cmp -s "$tmp/ro.img" "$tmp/orig.img" || fail "the read-only image changed"
	;;
disk-missing)
	run --disk "$tmp/absent.img" -- true
	expect_status 125
	expect_err_line "^cocoon: --disk $tmp/absent.img: No such file or directory$"
	;;
user)
	# -u as docker resolves it in the image's /etc/passwd and /etc/group;
	# HOME follows the user; -w and -e still apply.
	run -u user -w /home/user/sub -e GREETING=hi -- sh -c 'id; pwd; env | sort'
	expect_status 0
	[ "$out" = "uid=1000(user) gid=1000(user) groups=100(users)
/home/user/sub
GREETING=hi
HOME=/home/user
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PWD=/home/user/sub
SHLVL=1" ] || fail "stdout '$out'"
	run -u 1000:100 -- sh -c 'id; echo $HOME'
	expect_status 0
	[ "$out" = "uid=1000(user) gid=100(users)
/home/user" ] || fail "stdout '$out'"
	run -u nobody -- id
	expect_status 0
	[ "$out" = "uid=65534(nobody) gid=65534(nogroup)" ] || fail "stdout '$out'"
	# A uid without an entry: gid 0, HOME /.
	run -u 4242 -- sh -c 'id; echo $HOME'
	expect_status 0
	[ "$out" = "uid=4242 gid=0(root)
/" ] || fail "stdout '$out'"
	run -u nosuch -- true
	expect_status 125
	expect_err_line "unable to find user nosuch: no matching entries in passwd file"
	;;
hostname)
	run --hostname box1 -- sh -c 'hostname; cat /etc/hostname; grep localhost /etc/hosts'
	expect_status 0
	[ "$out" = "box1
box1
127.0.0.1	localhost box1
::1	localhost ip6-localhost ip6-loopback" ] || fail "stdout '$out'"
	;;
overlay)
	# The image is read-only under a tmpfs overlay: writes anywhere work,
	# and are gone in the next run; the image file never changes.
	image=$build/images/busybox.erofs
	sum=$(sha256sum <"$image")
	run -- sh -c 'stat -c %A /; echo new >/etc/new && mkdir /newdir && rm /bin/ls && echo x >>/etc/passwd && cat /etc/new'
	expect_status 0
	[ "$out" = "drwxr-xr-x
new" ] || fail "stdout '$out'"
	run -- sh -c 'for f in /etc/new /newdir; do test -e $f && echo "$f survived"; done
		test -e /bin/ls || echo "ls gone"; echo $(grep -c "^x$" /etc/passwd)'
	expect_status 0
	[ "$out" = 0 ] || fail "writes of the first run are visible: $out"
	[ "$(sha256sum <"$image")" = "$sum" ] || fail "the image changed"
	# Not a filesystem at all: one line saying so.
	head -c 1048576 /dev/urandom >"$tmp/garbage.img"
	run --rootfs "$tmp/garbage.img" -- true
	expect_status 125
	expect_err_line "the root image is neither erofs nor ext4: /dev/vda"
	;;
rootfs-rw)
	# --rootfs-rw: an ext4 image used directly; a write persists in the
	# host file, and the image is left clean, so a later read-only run
	# (overlay) mounts it and sees the write, and its own writes vanish.
	mkdir -p "$tmp/root/bin" "$tmp/root/etc"
	cp /bin/busybox "$tmp/root/bin/busybox"
	for a in sh cat echo grep; do ln -s busybox "$tmp/root/bin/$a"; done
	mkfs.ext4 -q -d "$tmp/root" "$tmp/rw.img" 16M >/dev/null || fail "mkfs.ext4"
	run --rootfs "$tmp/rw.img" --rootfs-rw -- sh -c 'echo persisted >/data && grep " / " /proc/mounts'
	expect_status 0
	[ "$out" = "/dev/vda / ext4 rw,relatime 0 0" ] || fail "stdout '$out'"
	[ "$(debugfs -R 'cat /data' "$tmp/rw.img" 2>/dev/null)" = persisted ] ||
		fail "the write did not reach the host file"
	e2fsck -fn "$tmp/rw.img" >"$tmp/fsck" 2>&1 || fail "image not clean: $(cat "$tmp/fsck")"
	run --rootfs "$tmp/rw.img" -- sh -c 'cat /data; echo changed >/data'
	expect_status 0
	[ "$out" = persisted ] || fail "stdout '$out'"
	[ "$(debugfs -R 'cat /data' "$tmp/rw.img" 2>/dev/null)" = persisted ] ||
		fail "a read-only run changed the image"
	# erofs cannot be written: a clear refusal.
	run --rootfs "$build/images/busybox.erofs" --rootfs-rw -- true
	expect_status 125
	expect_err_line "erofs, which is read-only"
	;;
read-only)
	# --read-only: a write to the root fails with EROFS, and the status is
	# the workload's; /tmp too (docker's), unless a --tmpfs covers it. The
	# /etc files and mount points were made before the root was sealed.
	run --read-only --hostname ro1 -- sh -c 'grep " / " /proc/mounts | cut -d" " -f4 | cut -d, -f1
		grep ro1 /etc/hosts | cut -f2; echo x >/etc/new; exit $?'
	expect_status 1
	[ "$out" = "ro
localhost ro1" ] || fail "stdout '$out'"
	grep -q "/etc/new: Read-only file system" "$tmp/err" || fail "stderr '$err'"
	run --read-only -- sh -c 'touch /tmp/x'
	expect_status 1
	grep -q "Read-only file system" "$tmp/err" || fail "/tmp was writable: $err"
	run --read-only --tmpfs /tmp --tmpfs /new/dir -- sh -c 'touch /tmp/x /new/dir/y && echo ok'
	expect_status 0
	[ "$out" = ok ] || fail "stdout '$out' $err"
	run --read-only --rootfs-rw -- true
	expect_status 125
	expect_err_line "^cocoon: --read-only and --rootfs-rw: give one$"
	;;
tmpfs)
	# --tmpfs DIR:size=1m: a 1 MiB tmpfs, docker's default flags; writing
	# more fails. One on /dev/shm replaces guest-init's own.
	run --tmpfs /data:size=1m --tmpfs /dev/shm:size=2m,mode=1770,exec -- sh -c '
		grep -E " /data | /dev/shm " /proc/mounts
		df -k /data | tail -n 1 | awk "{print \$2}"
		dd if=/dev/zero of=/data/f bs=1024 count=2048 2>/dev/null || echo "dd failed"
		stat -c %a /dev/shm'
	expect_status 0
	[ "$out" = "tmpfs /data tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev,relatime,size=2048k,mode=1770 0 0
1024
dd failed
1770" ] || fail "stdout '$out'"
	# A bad option reaches the guest's mount(2): one line naming the mount.
	run --tmpfs /data:size=1m,nr_inodes=x -- true
	expect_status 125
	expect_err_line "mount a filesystem: /data: Invalid argument"
	;;
group-add)
	# --group-add adds to the user's groups (docker's); a gid the user
	# already has is not repeated; as root, to none.
	run -u user --group-add 4242 --group-add 100 -- id -G
	expect_status 0
	[ "$out" = "1000 100 4242" ] || fail "stdout '$out'"
	run --group-add 4242 -- sh -c 'id -G; grep ^Groups: /proc/self/status'
	expect_status 0
	[ "$out" = "0 4242
Groups:	4242 " ] || fail "stdout '$out'"
	;;
no-new-privs)
	run --security-opt no-new-privileges -- grep NoNewPrivs /proc/self/status
	expect_status 0
	[ "$out" = "NoNewPrivs:	1" ] || fail "stdout '$out'"
	run -- grep NoNewPrivs /proc/self/status
	expect_status 0
	[ "$out" = "NoNewPrivs:	0" ] || fail "without the option: '$out'"
	;;
zombies)
	# Orphans are reparented to guest-init, which reaps them while the
	# workload still runs: no zombie is left once they have exited.
	run -- sh -c 'for i in 1 2 3 4 5 6 7 8; do (sleep 0.1 &); done
		for i in $(seq 100); do
			[ "$(grep -l "^Name:.*sleep" /proc/[0-9]*/status 2>/dev/null | wc -l)" -eq 0 ] && break
			sleep 0.1
		done
		grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l'
	expect_status 0
	[ "$out" = 0 ] || fail "zombies left: $out"
	;;
ulimit)
	run --ulimit nofile=100:200 --ulimit core=0 -- sh -c 'ulimit -n; ulimit -Hn; ulimit -c'
	expect_status 0
	[ "$out" = "100
200
0" ] || fail "stdout '$out'"
	# Above the kernel's nr_open: refused in the guest, with a reason.
	run --ulimit nofile=100000000 -- true
	expect_status 125
	expect_err_line "setrlimit nofile=100000000: Operation not permitted"
	;;
missing-rootfs)
	# No --rootfs, no $COCOON_ROOTFS, no image next to the binary.
	cp "$cocoon" "$tmp/cocoon"
	env -u COCOON_ROOTFS "$exec_" "$tmp/cocoon" run --kernel "$kernel" -- true >"$tmp/out" 2>"$tmp/err"
	status=$?; err=$(cat "$tmp/err")
	expect_status 125
	expect_err_line "no root filesystem image found: build the default one (cmake --build build --target busybox-image)"
	;;
debian)
	# A real Debian userland (debootstrap minbase, cached; see
	# images/build-debian-image). 77: this machine cannot build it.
	image=$("$root/images/build-debian-image") || {
		rc=$?
		[ "$rc" -eq 77 ] && { echo "SKIP [$case_name/$kind]: no Debian image"; exit 77; }
		fail "images/build-debian-image failed"
	}
	run --rootfs "$image" -u nobody -- sh -c '/usr/bin/perl -e "print qq(hi\n)"; python3 -c "print(6 * 7)"; id -un; . /etc/os-release; echo $ID $VERSION_CODENAME'
	expect_status 0
	[ "$out" = "hi
42
nobody
debian bookworm" ] || fail "stdout '$out'"
	;;
stdio)
	# The workload's stdout and stderr reach cocoon's, separate and
	# byte-exact (the virtio-console ports of guest-init/abi.h).
	"$exec_" "$cocoon" run --kernel "$kernel" -- sh -c \
		'printf "out 1\n"; printf "err 1\n" >&2; printf "out 2"; printf "\001\377\000x\r\n" >&2' \
		>"$tmp/out" 2>"$tmp/err" </dev/null
	status=$?; err=$(tr -d '\0' <"$tmp/err")
	expect_status 0
	printf 'out 1\nout 2' | cmp -s - "$tmp/out" ||
		fail "stdout not byte-exact: $(od -c "$tmp/out" | head)"
	printf 'err 1\n\001\377\000x\r\n' | cmp -s - "$tmp/err" ||
		fail "stderr not byte-exact: $(od -c "$tmp/err" | head)"
	;;
stdout-10mb)
	# 10 MB of every byte value, made by a deterministic generator in the
	# guest; the guest's sha256 (on stderr) matches what arrived.
	"$exec_" "$cocoon" run --kernel "$kernel" -- sh -c '
		i=0; b=
		while [ $i -lt 256 ]; do b="$b$(printf "\\%03o" $i)"; i=$((i+1)); done
		printf "$b" >/tmp/b
		i=0; while [ $i -lt 8 ]; do cat /tmp/b /tmp/b >/tmp/b2; mv /tmp/b2 /tmp/b; i=$((i+1)); done
		i=0; while [ $i -lt 153 ]; do cat /tmp/b; i=$((i+1)); done >/tmp/x
		sha256sum </tmp/x >&2
		cat /tmp/x' >"$tmp/out" 2>"$tmp/err" </dev/null
	status=$?; err=$(cat "$tmp/err")
	expect_status 0
	size=$(stat -c %s "$tmp/out")
	[ "$size" -eq 10027008 ] || fail "stdout has $size bytes, expected 10027008"
	sum=$(sha256sum <"$tmp/out" | cut -d' ' -f1)
	[ "$err" = "$sum  -" ] || fail "sha256 on the host $sum, in the guest: $err"
	;;
stdin)
	# -i: piped input arrives intact; the guest sees its end.
	head -c 3000000 /dev/urandom >"$tmp/in"
	want=$(sha256sum <"$tmp/in" | cut -d' ' -f1)
	"$exec_" "$cocoon" run --kernel "$kernel" -i -- sh -c 'sha256sum; echo end' \
		<"$tmp/in" >"$tmp/out" 2>"$tmp/err"
	status=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
	expect_status 0
	[ "$out" = "$want  -
end" ] || fail "stdout '$out', expected $want"
	# Without -i the workload's stdin is at its end at once.
	"$exec_" "$cocoon" run --kernel "$kernel" -- sh -c 'wc -c; echo end' \
		<"$tmp/in" >"$tmp/out" 2>"$tmp/err"
	status=$?; out=$(tr -d ' ' <"$tmp/out"); err=$(cat "$tmp/err")
	expect_status 0
	[ "$out" = "0
end" ] || fail "without -i: stdout '$out'"
	;;
sigterm)
	# SIGTERM to cocoon reaches the workload; its own status counts.
	"$exec_" bash -c '
		"$1" run --kernel "$2" -- sh -c \
			"trap \"echo got TERM; exit 3\" TERM; echo ready; sleep 1000 & wait" \
			>"$3/out" 2>"$3/err" </dev/null &
		pid=$!
		for i in $(seq 900); do grep -q ready "$3/out" && break; sleep 0.1; done
		kill -TERM $pid
		wait $pid
		echo $? >"$3/status"' _ "$cocoon" "$kernel" "$tmp"
	status=$(cat "$tmp/status"); out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
	expect_status 3
	[ "$out" = "ready
got TERM" ] || fail "stdout '$out'"
	;;
sigint-twice)
	# A workload that survives SIGINT: the second ^C stops the VM, 128+2.
	# (env: a background job of a script starts with SIGINT ignored.)
	"$exec_" bash -c '
		env --default-signal=INT "$1" run --kernel "$2" -- sh -c \
			"trap \"echo got INT\" INT; echo ready; while :; do sleep 1; done" \
			>"$3/out" 2>"$3/err" </dev/null &
		pid=$!
		for i in $(seq 900); do grep -q ready "$3/out" && break; sleep 0.1; done
		kill -INT $pid
		for i in $(seq 300); do grep -q "got INT" "$3/out" && break; sleep 0.1; done
		kill -INT $pid
		wait $pid
		echo $? >"$3/status"' _ "$cocoon" "$kernel" "$tmp"
	status=$(cat "$tmp/status"); out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
	expect_status 130
	[ "$out" = "ready
got INT" ] || fail "stdout '$out'"
	;;
stop-timeout)
	# A workload that ignores SIGTERM is stopped --stop-timeout later, 128+15.
	"$exec_" bash -c '
		"$1" run --kernel "$2" --stop-timeout 2 -- sh -c \
			"trap \"\" TERM; echo ready; while :; do sleep 1; done" \
			>"$3/out" 2>"$3/err" </dev/null &
		pid=$!
		for i in $(seq 900); do grep -q ready "$3/out" && break; sleep 0.1; done
		t0=$(date +%s%N)
		kill -TERM $pid
		wait $pid
		echo $? >"$3/status"
		echo $((($(date +%s%N) - t0) / 1000000)) >"$3/ms"' _ "$cocoon" "$kernel" "$tmp"
	status=$(cat "$tmp/status"); err=$(cat "$tmp/err"); ms=$(cat "$tmp/ms")
	expect_status 143
	[ "$ms" -ge 1900 ] && [ "$ms" -lt 30000 ] || fail "stopped after $ms ms, expected about 2000"
	;;
tty)
	# -t: the workload's stdin and stdout are a terminal (hvc0), also when
	# cocoon's own stdin is not one. The guest terminal writes \r\n.
	run -t -- sh -c '[ -t 0 ] && [ -t 1 ] && echo tty'
	expect_status 0
	[ "$(printf '%s' "$out" | tr -d '\r')" = tty ] || fail "stdout '$out'"
	;;
stdout-closed)
	# cocoon's stdout reader goes away: the output is dropped, the
	# workload runs on and its status counts.
	"$exec_" "$cocoon" run --kernel "$kernel" -- sh -c \
		'head -c 3000000 /dev/zero; echo still running >&2; exit 4' \
		2>"$tmp/err" </dev/null | head -c 10 >"$tmp/out"
	status=${PIPESTATUS[0]}; err=$(cat "$tmp/err")
	expect_status 4
	[ "$err" = "still running" ] || fail "stderr '$err'"
	[ "$(stat -c %s "$tmp/out")" -eq 10 ] || fail "head got $(stat -c %s "$tmp/out") bytes"
	;;
rng)
	# virtio-rng is the guest's hardware RNG.
	run -- sh -c 'cat /sys/devices/virtual/misc/hw_random/rng_current
		head -c 64 /dev/hwrng | od -A n -t x1 | wc -w'
	expect_status 0
	out=$(printf '%s' "$out" | tr -d ' ')
	case $out in virtio*"
64") ;; *) fail "stdout '$out'" ;; esac
	;;
*)
	fail "unknown case"
	;;
esac
echo "PASS [$case_name/$kind]"
