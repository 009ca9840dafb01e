#!/usr/bin/env bash
# Integration cases for talking to the guest: `net.sh CASE`.
#
# vsock (hybrid: Unix sockets on the host), virtio-net on a tap, published
# ports, and rate limits. Each case needs the host-side peers (socat, curl,
# iperf3) on the same host as cocoon, so the whole case re-runs itself
# through tests/rig/kvm-exec (natively on hardware KVM, inside the emulated
# host elsewhere), in a network namespace of its own (unshare -n): taps,
# addresses and ports never touch the machine's real network. Sockets live
# under /dev/shm, because the rig's 9p share cannot hold them.
set -u
case_name=$1
inner=${2:-}
. "$(dirname "$0")/lib.sh"
if [ "$inner" != --inner ]; then
	for t in socat curl unshare ip; do
		command -v "$t" >/dev/null || skip "$t is not installed (scripts/setup)"
	done
fi
rig_reexec unshare -n --

# ---- from here on: on a host whose /dev/kvm works, in our own netns ----
ip link set lo up || fail "cannot bring lo up in the test's network namespace"
rig_scratch net

# start_vm OUT_PREFIX ARGS...: cocoon in the background; $vm is its pid.
start_vm() {
	local p=$1
	shift
	"$cocoon" run --kernel "$kernel" --rootfs "$testbox" "$@" \
		>"$tmp/$p.out" 2>"$tmp/$p.err" </dev/null &
	vm=$!
	pids+=("$vm")
}

# wait_for FILE TEXT SECS: until FILE holds TEXT (the guest said it is ready).
wait_for() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$vm" 2>/dev/null || fail "cocoon exited early: $(cat "$tmp"/*.err)"
		sleep 0.1
	done
	fail "guest never printed '$2' ($1): $(cat "$1" "$tmp"/*.err 2>/dev/null)"
}

# stop_vm: SIGTERM to cocoon, which forwards it to the workload (143).
stop_vm() {
	local st
	kill -TERM "$vm"
	wait "$vm"
	st=$?
	[ "$st" -eq 143 ] || fail "cocoon exited $st after SIGTERM: $(cat "$tmp"/*.err)"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# vsock_call SOCK PORT IN OUT: host-initiated connection through cocoon's
# socket: "CONNECT PORT", then IN; OUT gets the "OK n" line and the reply.
vsock_call() {
	{ printf 'CONNECT %s\n' "$2"; cat "$3"; } |
		socat -t 120 -T 300 - "UNIX-CONNECT:$1" >"$4"
}

# The body of a reply after the "OK <port>" line.
reply_body() { tail -c +"$(($(head -n1 "$1" | wc -c) + 1))" "$1"; }

case $case_name in
vsock-echo)
	# Host -> guest: 100 MB through an echo server in the guest, then the
	# guest connecting to a host listener, both checked by sha256.
	head -c 100000000 /dev/urandom >"$tmp/in"
	# The echo is cat: socat's own PIPE can block writing to itself.
	socat "UNIX-LISTEN:$tmp/v.sock_6000,fork" EXEC:cat &
	pids+=("$!")
	start_vm vm --vsock-uds "$tmp/v.sock" -- sh -c '
		vsock-tool listen 5000 echo &
		head -c 20000000 /dev/urandom >/tmp/x
		sleep 1
		a=$(vsock-tool connect 2 6000 </tmp/x | sha256sum)
		b=$(sha256sum </tmp/x)
		[ "$a" = "$b" ] && echo guest-to-host-ok || echo "guest-to-host-bad $a $b"
		while :; do sleep 1; done'
	wait_for "$tmp/vm.out" "listening 5000" 300
	vsock_call "$tmp/v.sock" 5000 "$tmp/in" "$tmp/reply" || fail "socat failed"
	head -n1 "$tmp/reply" | grep -Eq '^OK [0-9]+$' ||
		fail "no OK line: $(head -c 80 "$tmp/reply" | od -c | head -3)"
	reply_body "$tmp/reply" >"$tmp/body"
	[ "$(sha "$tmp/body")" = "$(sha "$tmp/in")" ] ||
		fail "100 MB echo differs: $(stat -c %s "$tmp/body") bytes back"
	wait_for "$tmp/vm.out" "guest-to-host-" 300
	grep -q guest-to-host-ok "$tmp/vm.out" || fail "guest -> host: $(cat "$tmp/vm.out")"
	stop_vm
	;;
vsock-many)
	# 50 connections at once, each with its own bytes.
	start_vm vm --vsock-uds "$tmp/v.sock" -- sh -c \
		'vsock-tool listen 5000 echo & while :; do sleep 1; done'
	wait_for "$tmp/vm.out" "listening 5000" 300
	for i in $(seq 1 50); do
		head -c 200000 /dev/urandom >"$tmp/in.$i"
		vsock_call "$tmp/v.sock" 5000 "$tmp/in.$i" "$tmp/reply.$i" &
		conns+=("$!")
	done
	for i in $(seq 1 50); do
		wait "${conns[$((i - 1))]}" || fail "connection $i: socat failed"
	done
	for i in $(seq 1 50); do
		reply_body "$tmp/reply.$i" >"$tmp/body.$i"
		cmp -s "$tmp/body.$i" "$tmp/in.$i" ||
			fail "connection $i: echo differs ($(stat -c %s "$tmp/body.$i") bytes)"
	done
	stop_vm
	;;
vsock-refused)
	# Nobody listens on 7000 in the guest: the host's connection is closed
	# without an OK; a guest connecting to a host port nobody serves fails.
	start_vm vm --vsock-uds "$tmp/v.sock" -- sh -c '
		vsock-tool connect 2 7001 </dev/null; echo "connect-status $?"
		echo ready; while :; do sleep 1; done'
	wait_for "$tmp/vm.out" ready 300
	grep -q 'connect-status 1' "$tmp/vm.out" || fail "guest connect: $(cat "$tmp/vm.out")"
	printf 'x' >"$tmp/in"
	vsock_call "$tmp/v.sock" 7000 "$tmp/in" "$tmp/reply"
	[ ! -s "$tmp/reply" ] || fail "refused connect answered: $(head -c 40 "$tmp/reply")"
	# Garbage instead of CONNECT: closed too, and the VM carries on.
	printf 'HELLO\n' | socat -t 10 - "UNIX-CONNECT:$tmp/v.sock" >"$tmp/reply2"
	[ ! -s "$tmp/reply2" ] || fail "garbage answered: $(head -c 40 "$tmp/reply2")"
	kill -0 "$vm" || fail "cocoon died"
	stop_vm
	;;
vsock-stall)
	# The guest accepts and never reads: the host's writes must block, and
	# cocoon's memory must not grow with what the host tries to send.
	start_vm vm --vsock-uds "$tmp/v.sock" -- sh -c \
		'vsock-tool listen 5000 hold & while :; do sleep 1; done'
	wait_for "$tmp/vm.out" "listening 5000" 300
	rss() { awk '/^VmRSS/ { print $2 }' "/proc/$vm/status"; }
	before=$(rss)
	{ printf 'CONNECT 5000\n'; head -c 300000000 /dev/zero; } |
		socat -b 65536 - "UNIX-CONNECT:$tmp/v.sock" >"$tmp/reply" 2>/dev/null &
	writer=$!
	pids+=("$writer")
	sleep 20
	after=$(rss)
	kill -0 "$writer" 2>/dev/null || fail "the writer finished: 300 MB were absorbed"
	grep -Eq '^OK [0-9]+' "$tmp/reply" || fail "no OK line"
	grow=$((after - before))
	echo "cocoon RSS before ${before} KiB, after 20 s of a stalled writer ${after} KiB"
	[ "$grow" -lt 16384 ] || fail "cocoon grew by $grow KiB while the guest did not read"
	stop_vm
	;;
net-http)
	# busybox httpd in the guest, fetched over the tap directly and through
	# a published port on the host's loopback.
	head -c 5242880 /dev/urandom >"$tmp/blob"  # whole sectors: disks end at the last one
	start_vm vm --net tap,ip=10.77.0.2/24 -p 127.0.0.1:18080:80 --disk "$tmp/blob:ro" \
		-- sh -c 'mkdir /tmp/www; echo hello-from-guest >/tmp/www/index.html
		cat /dev/vdb >/tmp/www/blob
		ip -4 addr show eth0; cat /etc/resolv.conf
		httpd -p 80 -h /tmp/www && echo serving; while :; do sleep 1; done'
	wait_for "$tmp/vm.out" serving 300
	grep -q 'inet 10.77.0.2/24' "$tmp/vm.out" || fail "eth0 address: $(cat "$tmp/vm.out")"
	body=$(curl -sS --max-time 60 http://10.77.0.2/index.html) || fail "curl over the tap failed"
	[ "$body" = hello-from-guest ] || fail "over the tap: '$body'"
	body=$(curl -sS --max-time 60 http://127.0.0.1:18080/index.html) || fail "curl -p failed"
	[ "$body" = hello-from-guest ] || fail "through -p: '$body'"
	curl -sS --max-time 120 -o "$tmp/got" http://127.0.0.1:18080/blob || fail "curl blob"
	[ "$(sha "$tmp/got")" = "$(sha "$tmp/blob")" ] || fail "5 MB through -p differs"
	# The published port belongs to cocoon: a second one cannot take it.
	"$cocoon" run --kernel "$kernel" --rootfs "$testbox" -p 127.0.0.1:18080:80 -- true \
		>/dev/null 2>"$tmp/err2"
	st=$?
	[ "$st" -eq 125 ] || fail "second -p 18080: status $st"
	grep -q '18080.*in use' "$tmp/err2" || fail "second -p 18080: $(cat "$tmp/err2")"
	stop_vm
	# The created tap is gone with cocoon.
	! ip -o link show | grep -q 'cocoon[0-9]' || fail "tap left behind: $(ip -o link show)"
	;;
net-config)
	# Addresses picked by cocoon, nameservers and /etc/hosts in the guest,
	# the default route to the host end of the tap.
	start_vm vm --net tap --dns 192.0.2.53 --hostname web -- sh -c '
		ip -4 addr show eth0; ip route; cat /etc/resolv.conf /etc/hosts
		ping -c 1 -W 30 "$(ip route | sed -n "s/^default via \([0-9.]*\).*/\1/p")" >/dev/null &&
		echo ping-ok; echo done; while :; do sleep 1; done'
	wait_for "$tmp/vm.out" '^done' 300
	out=$(cat "$tmp/vm.out")
	grep -q 'inet 10.200.0.2/30' <<<"$out" || fail "picked address: $out"
	grep -q 'default via 10.200.0.1' <<<"$out" || fail "default route: $out"
	grep -q '^nameserver 192.0.2.53$' <<<"$out" || fail "resolv.conf: $out"
	grep -Eq '^10\.200\.0\.2[[:space:]]+web$' <<<"$out" || fail "/etc/hosts: $out"
	grep -q ping-ok <<<"$out" || fail "guest cannot reach the host end: $out"
	ip -4 addr | grep -q 'inet 10.200.0.1/30' || fail "host end: $(ip -4 addr)"
	# A second VM at the same time gets the next block.
	start_vm vm2 --net tap -- sh -c 'ip -4 addr show eth0; echo done; while :; do sleep 1; done'
	vm1=${pids[0]}
	wait_for "$tmp/vm2.out" '^done' 300
	grep -q 'inet 10.200.0.6/30' "$tmp/vm2.out" || fail "second VM: $(cat "$tmp/vm2.out")"
	stop_vm
	vm=$vm1
	stop_vm
	# An existing tap (a user's, say on a bridge): used as it is, and left
	# in place afterwards.
	ip tuntap add mytap0 mode tap || fail "cannot make a tap"
	ip addr add 10.88.0.1/24 dev mytap0 && ip link set mytap0 up || fail "tap set-up"
	start_vm vm3 --net tap:mytap0,ip=10.88.0.5/24,gw=10.88.0.1 -- sh -c '
		ping -c 1 -W 30 10.88.0.1 >/dev/null && echo ping-ok; echo done
		while :; do sleep 1; done'
	wait_for "$tmp/vm3.out" '^done' 300
	grep -q ping-ok "$tmp/vm3.out" || fail "existing tap: $(cat "$tmp/vm3.out")"
	stop_vm
	ip -o link show mytap0 >/dev/null 2>&1 || fail "cocoon removed a tap it did not create"
	;;
net-errors)
	# Bad network options: one line naming the thing at fault, status 125.
	expect_error 'nosuchtap0' --net tap:nosuchtap0
	expect_error 'use tap or tap:NAME' --net bridge
	expect_error 'ip=300.1.1.1' --net tap,ip=300.1.1.1/24
	expect_error 'mac=' --net tap,mac=01:00:00:00:00:01
	expect_error 'only tcp' -p 53:53/udp
	expect_error 'bw=fast' --net tap,bw=fast
	expect_error 'vsock-cid' --vsock-cid 2 --vsock-uds "$tmp/v.sock"
	mkdir "$tmp/dir"
	expect_error "$tmp/dir" --vsock-uds "$tmp/dir"
	;;
net-iperf)
	# iperf3 in the Debian image against iperf3 on the host.
	command -v iperf3 >/dev/null || skip "iperf3 is not installed"
	image=$("$root/images/build-debian-image") || {
		[ $? -eq 77 ] && skip "no Debian image"
		fail "images/build-debian-image failed"
	}
	"$cocoon" run --kernel "$kernel" --rootfs "$image" --memory 256M \
		--net tap,ip=10.77.0.2/24 -- sh -c 'iperf3 -s -1 & sleep 1; echo serving; wait' \
		>"$tmp/vm.out" 2>"$tmp/vm.err" </dev/null &
	vm=$!
	pids+=("$vm")
	wait_for "$tmp/vm.out" serving 300
	sleep 1
	# iperf3 keeps a scratch file per stream in $TMPDIR: not on the rig's 9p.
	TMPDIR=$tmp iperf3 -c 10.77.0.2 -t 3 -J >"$tmp/iperf.json" 2>&1 || fail "iperf3: $(tail -5 "$tmp/iperf.json")"
	grep -q "\"error\"" "$tmp/iperf.json" && fail "iperf3: $(grep "\"error\"" "$tmp/iperf.json")"
	bps=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$tmp/iperf.json")
	echo "iperf3 host -> guest: $((bps / 1000000)) Mbit/s"
	[ "$bps" -gt 0 ] || fail "no throughput"
	wait "$vm"
	st=$?
	[ "$st" -eq 0 ] || fail "cocoon exited $st: $(cat "$tmp/vm.err")"
	;;
ratelimit)
	# 4 MiB from a disk limited to 1 MiB/s (burst 64 KiB) takes about 4 s of
	# guest time; the same read unlimited, in the same run, takes far less.
	# The bytes must arrive intact either way: throttling defers, never drops.
	head -c 4194304 /dev/urandom >"$tmp/disk"
	want=$(sha "$tmp/disk")
	read_disk() {
		"$cocoon" run --kernel "$kernel" --rootfs "$testbox" --disk "$@" -- sh -c '
			read a _ </proc/uptime
			s=$(dd if=/dev/vdb bs=65536 2>/dev/null | sha256sum | cut -d" " -f1)
			read b _ </proc/uptime
			echo "$s $a $b"' 2>"$tmp/err" </dev/null
	}
	free=$(read_disk "$tmp/disk:ro") || fail "unlimited run: $(cat "$tmp/err")"
	slow=$(read_disk "$tmp/disk:ro,bw=1M,bw-burst=64K") || fail "limited run: $(cat "$tmp/err")"
	set -- $free
	[ "$1" = "$want" ] || fail "unlimited read: wrong bytes"
	t_free=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", b - a }')
	set -- $slow
	[ "$1" = "$want" ] || fail "limited read: wrong bytes"
	t_slow=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", b - a }')
	echo "4 MiB: unlimited ${t_free} s, bw=1M ${t_slow} s"
	awk -v s="$t_slow" 'BEGIN { exit !(s >= 3.5 && s <= 6.5) }' ||
		fail "limited read took ${t_slow} s, expected about 4"
	awk -v s="$t_slow" -v f="$t_free" 'BEGIN { exit !(f < s / 2) }' ||
		fail "unlimited read took ${t_free} s, not much faster than ${t_slow} s"
	# The network limiter: 2 MiB through a 1 MiB/s tap takes about 2 s.
	head -c 2097152 /dev/urandom >"$tmp/blob"
	start_vm vm --net tap,ip=10.77.0.2/24,bw=1M,bw-burst=64K --disk "$tmp/blob:ro" \
		-- sh -c 'mkdir /tmp/www; cat /dev/vdb >/tmp/www/blob
		httpd -p 80 -h /tmp/www && echo serving; while :; do sleep 1; done'
	wait_for "$tmp/vm.out" serving 300
	t=$(curl -sS --max-time 120 -o "$tmp/got" -w '%{time_total}' http://10.77.0.2/blob) ||
		fail "curl through the limited tap"
	[ "$(sha "$tmp/got")" = "$(sha "$tmp/blob")" ] || fail "limited tap: wrong bytes"
	echo "2 MiB over a bw=1M tap: ${t} s"
	awk -v s="$t" 'BEGIN { exit !(s >= 1.5 && s <= 8) }' ||
		fail "2 MiB over a 1 MiB/s tap took ${t} s, expected about 2"
	stop_vm
	;;
*)
	fail "unknown case"
	;;
esac
exit 0
