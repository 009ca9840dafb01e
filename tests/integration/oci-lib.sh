# Container engines started by hand, for tests/integration/oci.sh and
# bench/oci-compare: containerd, dockerd, podman and ctr, each with all its
# state under one temporary directory, calling a reference OCI runtime (runc)
# and the runtime under test side by side.
#
# Outside the rig (on the caller's host), oci_busybox_tar, oci_docker_archive
# and oci_debian_tar make the image tarballs; inside it (as root, where
# /dev/kvm runs guests), oci_enter makes $tmp a fresh tmpfs in a private
# mount namespace, oci_containerd and oci_dockerd start the daemons a case
# needs, and docker, podman, ctr wrap the clients. Set before sourcing:
#   ref, rut     the reference runtime and the runtime under test (paths)
#
# Rig quirks met on the way (tests/rig/README.md):
# - Storage, sockets and fifos must not be on the 9p share (no sockets or
#   fifos there, no overlay upper dir, and every file operation a round
#   trip): everything lives on a tmpfs. containerd's shim sockets and ctr's
#   fifos go to /run/containerd/{s,fifo} whatever the config says; /run is
#   the rig's own tmpfs.
# - The rig's kernel has overlay as a module, not loaded at boot: without
#   it containerd's overlayfs snapshotter fails with "no such device".
# - rig-init mounts cgroup2 on /sys/fs/cgroup with no controllers enabled;
#   runc enables the ones it needs in cgroup.subtree_control itself.
# - The rig has no network: docker runs with --bridge=none --iptables=false
#   and containers with --network none; podman with --network none too, so
#   neither CNI nor netavark is touched.
# - /etc, /var/lib are the host's, over 9p: dockerd's /etc/docker/key.json
#   and anything else an engine writes to fixed paths are caught by tmpfs
#   mounts in the private mount namespace (oci_enter). /etc/containers stays
#   visible: podman import needs its policy.json.
# - Go programs start slowly under emulation: containerd took 2.5-6.5 s to
#   answer, dockerd 7.5-13 s more, each docker/podman run --rm of busybox
#   7-20 s (2-core host shared with other rigs). Each case starts only the
#   engines it uses, once, and runs both runtimes against them.
# - conmon puts its console socket (-t) in /tmp and podman does not pass
#   TMPDIR on; containerd-shim puts its own in $XDG_RUNTIME_DIR: both must
#   not be on 9p, so oci_enter mounts a tmpfs on /tmp and sets the latter.
# - ctr 1.6 never closes a task's stdin at EOF: no stdin test with ctr.

# ms: milliseconds since the epoch.
ms() { echo $(($(date +%s%N) / 1000000)); }

# note TEXT: a progress line on stderr (ctest shows it on failure).
note() { echo "oci: $*" >&2; }

# ---- outside the rig -------------------------------------------------------

# oci_busybox_tar OUT: a root file system tarball from busybox-static:
# /bin/busybox and its applets as symlinks, root and user 1000 (user:user)
# in /etc/passwd and /etc/group, /tmp, /root and /home/user.
oci_busybox_tar() {
	local out=$1 d bb p
	bb=$(command -v busybox) || return 1
	d=$(mktemp -d "${TMPDIR:-/tmp}/oci-bb.XXXXXX") || return 1
	chmod 755 "$d"
	mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home/user,proc,sys,dev}
	chmod 1777 "$d/tmp"
	chmod 700 "$d/root"
	chown 1000:1000 "$d/home/user"
	cp "$bb" "$d/bin/busybox"
	for p in $("$bb" --list-full); do
		[ -e "$d/$p" ] || ln -s /bin/busybox "$d/$p"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n' >"$d/etc/passwd"
	printf 'root:x:0:\nuser:x:1000:\n' >"$d/etc/group"
	tar -C "$d" --numeric-owner -cf "$out" . || { rm -rf "$d"; return 1; }
	rm -rf "$d"
}

# oci_docker_archive ROOTFS_TAR NAME OUT: a docker-archive (what `docker
# save` writes) of one layer with PATH set, for `ctr images import`.
oci_docker_archive() {
	local layer=$1 name=$2 out=$3 d lh ch
	d=$(mktemp -d "${TMPDIR:-/tmp}/oci-arch.XXXXXX") || return 1
	lh=$(sha256sum "$layer" | cut -d' ' -f1)
	mkdir "$d/$lh"
	cp "$layer" "$d/$lh/layer.tar"
	printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$lh" >"$d/config.json"
	ch=$(sha256sum "$d/config.json" | cut -d' ' -f1)
	mv "$d/config.json" "$d/$ch.json"
	printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
		"$ch" "$name" "$lh" >"$d/manifest.json"
	tar -C "$d" -cf "$out" . || { rm -rf "$d"; return 1; }
	rm -rf "$d"
}

# oci_debian_tar OUT: the cached Debian root (images/build-debian-image) as
# a tarball, cached next to it. Status 77 where it cannot be built.
oci_debian_tar() {
	local image dir rc
	image=$("$root/images/build-debian-image") || {
		rc=$?
		return "$rc"
	}
	dir=$(dirname "$image")
	if [ ! -s "$dir/oci-rootfs.tar" ]; then
		tar -C "$dir/root" --numeric-owner -cf "$dir/oci-rootfs.tar.$$" . || return 1
		mv "$dir/oci-rootfs.tar.$$" "$dir/oci-rootfs.tar"
	fi
	ln -sf "$dir/oci-rootfs.tar" "$1"
}

# ---- inside the rig --------------------------------------------------------

oci_pids=()

# oci_enter: $tmp becomes a fresh tmpfs (the caller runs us under
# `unshare -m`, so every mount here vanishes with the namespace), and the
# fixed host paths the engines write to are shadowed by tmpfs.
oci_enter() {
	mount --make-rprivate / || return 1
	tmp=$(mktemp -d /run/oci.XXXXXX) || return 1
	# tmpfs defaults to half the rig's memory: tight for vfs copies of Debian.
	mount -t tmpfs -o mode=0755,size=75% oci "$tmp" || return 1
	local p
	for p in /etc/docker /var/lib/docker /var/lib/containerd /var/lib/containers \
		/var/lib/cni; do
		[ -d "$p" ] && mount -t tmpfs -o mode=0755 shadow "$p"
	done
	# Cgroup v2: rig-init mounts it; elsewhere it may be missing.
	[ -e /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 cgroup2 /sys/fs/cgroup || return 1
	# /tmp too: conmon makes its console socket (-t) there, and podman does
	# not pass TMPDIR on. $OCI_WORK (the images, under the host's /tmp) stays
	# reachable as $tmp/work.
	if [ -n "${OCI_WORK:-}" ]; then
		mkdir "$tmp/work" && mount --bind "$OCI_WORK" "$tmp/work" || return 1
		OCI_WORK=$tmp/work
	fi
	if [ -n "${OCI_ARGV_LOG:-}" ]; then
		mkdir -p "$OCI_ARGV_LOG" "$tmp/argv-log" &&
			mount --bind "$OCI_ARGV_LOG" "$tmp/argv-log" || return 1
		OCI_ARGV_LOG=$tmp/argv-log
	fi
	# The tree under test and its build may live in /tmp (a fresh clone in
	# CI): keep them at their own paths across the shadowing.
	local keep=() k i=0
	for k in "${root:-}" "${build:-}"; do
		case $k in /tmp/*) [ -d "$k" ] && keep+=("$k") ;; esac
	done
	for k in "${keep[@]}"; do
		mkdir "$tmp/keep$i" && mount --bind "$k" "$tmp/keep$i" || return 1
		i=$((i + 1))
	done
	mount -t tmpfs -o mode=1777 tmp /tmp || return 1
	i=0
	for k in "${keep[@]}"; do
		mkdir -p "$k" && mount --bind "$tmp/keep$i" "$k" || return 1
		i=$((i + 1))
	done
	export XDG_RUNTIME_DIR=$tmp/xdg TMUX_TMPDIR=$tmp DOCKER_CONFIG=$tmp/docker-cli TMPDIR=/tmp
	mkdir -p "$XDG_RUNTIME_DIR" "$DOCKER_CONFIG"
	# podman reads DOCKER_CONFIG too, and fails when the file is missing.
	echo '{}' >"$DOCKER_CONFIG/config.json"
	# The rig loads only the modules it boots with; containerd's overlayfs
	# snapshotter (and docker's overlay2) need overlay.
	grep -qw overlay /proc/filesystems || oci_load_overlay || return 1
	# Storage: overlay by default (OCI_STORAGE=vfs for plain copies). With
	# vfs every container is a full copy of its image: docker run on the
	# Debian root took 25-36 s in the rig, against 11-15 s with overlay2.
	case ${OCI_STORAGE:-overlay} in
	overlay) docker_storage=overlay2 podman_storage=overlay ;;
	vfs) docker_storage=vfs podman_storage=vfs ;;
	*) echo "OCI_STORAGE is overlay or vfs" >&2; return 1 ;;
	esac
	podman_global=(--root "$tmp/podman/root" --runroot "$tmp/podman/run"
		--tmpdir "$tmp/podman/tmp" --network-config-dir "$tmp/podman/net"
		--storage-driver "$podman_storage" --cgroup-manager cgroupfs --events-backend file)
	trap oci_cleanup EXIT
}

# The rig has its modules tree as /lib/modules/VERSION, or under
# /run/rig-modroot when the host has no /lib/modules (then only kmod's
# modprobe finds it, through MODPROBE_OPTIONS; busybox's does not).
oci_load_overlay() {
	local d ko
	modprobe overlay 2>/dev/null && return 0
	for d in /lib/modules/$(uname -r) /run/rig-modroot/lib/modules/$(uname -r); do
		ko=$(find "$d" -name 'overlay.ko*' -print -quit 2>/dev/null)
		[ -n "$ko" ] && busybox insmod "$ko" && return 0
	done
	echo "cannot load the overlay module" >&2
	return 1
}

oci_cleanup() {
	local p
	[ -n "${KEEP:-}" ] && { note "KEEP: $tmp kept, engines left running"; return; }
	# Best effort throughout: under `set -e` (bench/oci-compare) a failing
	# kill of a process already gone would become the script's status.
	tmux -S "$tmp/tmux.sock" kill-server 2>/dev/null || true
	# dockerd first (it stops its containers through containerd), then the rest.
	for p in "${oci_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	umount -R "$tmp" 2>/dev/null || true
	rmdir "$tmp" 2>/dev/null || true
}

# oci_logging_runtimes: with OCI_ARGV_LOG=DIR, $ref and $rut become wrapper
# scripts that append each argv (one line, shell-quoted, after "ref(runc)[PID]"
# or "rut(NAME)[PID]") to DIR/argv.log and keep the config.json of every
# `create`/`run` as DIR/config-N.json (its environment, working directory
# and open fds as DIR/env-N.txt), then exec the real runtime.
oci_logging_runtimes() {
	[ -n "${OCI_ARGV_LOG:-}" ] || return 0
	mkdir -p "$OCI_ARGV_LOG"
	local v w
	for v in ref rut; do
		w=$tmp/log-$v
		cat >"$w" <<-EOF
			#!/bin/bash
			log=$OCI_ARGV_LOG
			real=${!v}
			side=$v
		EOF
		cat >>"$w" <<-'EOF'
			{ printf '%s(%s)[%s]' "$side" "$(basename "$real")" "$$"; printf ' %q' "$@"; printf '\n'; } >>"$log/argv.log"
			bundle=. prev=
			for a in "$@"; do
				case $prev in --bundle | -b) bundle=$a ;; esac
				case $a in --bundle=*) bundle=${a#--bundle=} ;; esac
				prev=$a
			done
			for a in "$@"; do
				case $a in create | run)
					n=$(ls "$log" | grep -c '^config-')
					cp "$bundle/config.json" "$log/config-$n.json" 2>/dev/null
					fds=$(ls -l /proc/$$/fd)
					{ env; echo "cwd=$PWD"; echo "$fds"; } >"$log/env-$n.txt"
					echo "  (bundle $bundle: config-$n.json, env-$n.txt)" >>"$log/argv.log"
					break ;;
				esac
			done
			exec "$real" "$@"
		EOF
		chmod +x "$w"
		printf -v "$v" %s "$w"
	done
}

# wait_until SECS WHAT CMD...: poll CMD until it succeeds.
wait_until() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 4; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.25
	done
	fail "$what not ready after $secs s"
}

# oci_containerd: containerd with its own config, root, state and socket
# ($tmp/containerd.sock); the CRI plugin (slow to start, unused) is off.
oci_containerd() {
	local t0
	t0=$(ms)
	mkdir -p "$tmp/containerd"
	cat >"$tmp/containerd/config.toml" <<-EOF
		version = 2
		root = "$tmp/containerd/root"
		state = "$tmp/containerd/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
		  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
		  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
		  "io.containerd.internal.v1.tracing"]
		[grpc]
		  address = "$tmp/containerd.sock"
		[ttrpc]
		  address = "$tmp/containerd.sock.ttrpc"
		[debug]
		  address = "$tmp/containerd-debug.sock"
		[plugins."io.containerd.monitor.v1.cgroups"]
		  no_prometheus = true
	EOF
	containerd --config "$tmp/containerd/config.toml" --log-level warn \
		>"$tmp/containerd.log" 2>&1 </dev/null &
	oci_pids=("$!" "${oci_pids[@]}")
	wait_until 120 "containerd ($(tail -3 "$tmp/containerd.log"))" \
		ctr --address "$tmp/containerd.sock" version
	note "containerd up in $(($(ms) - t0)) ms"
}

# docker ARGS...: the client, against our daemon.
docker() { command docker -H "unix://$tmp/docker.sock" "$@"; }

# oci_dockerd: dockerd on our containerd, runtimes "ref" ($ref) and "rut"
# ($rut).
oci_dockerd() {
	local t0
	t0=$(ms)
	echo '{}' >"$tmp/daemon.json"
	dockerd --config-file "$tmp/daemon.json" --data-root "$tmp/docker" \
		--exec-root "$tmp/docker-exec" --pidfile "$tmp/docker.pid" \
		-H "unix://$tmp/docker.sock" --containerd "$tmp/containerd.sock" \
		--storage-driver "$docker_storage" --iptables=false --ip-masq=false \
		--bridge=none --userland-proxy=false --log-level warn \
		--add-runtime "ref=$ref" --add-runtime "rut=$rut" \
		>"$tmp/dockerd.log" 2>&1 </dev/null &
	oci_pids=("$!" "${oci_pids[@]}")
	wait_until 180 "dockerd ($(tail -3 "$tmp/dockerd.log"))" docker version
	note "dockerd up in $(($(ms) - t0)) ms"
}

# podman RUNTIME ARGS...: podman with all its state under $tmp, on RUNTIME.
podman() {
	local rt=$1
	shift
	command podman "${podman_global[@]}" --runtime "$rt" "$@"
}

# ctr ARGS...: against our containerd, in namespace "oci".
ctr() { command ctr --address "$tmp/containerd.sock" --namespace oci "$@"; }
