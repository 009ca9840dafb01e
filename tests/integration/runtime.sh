#!/usr/bin/env bash
# Integration cases for cocoon as an OCI runtime: `runtime.sh CASE`.
#
# oci_runtime.py drives create/start/state/kill/delete the way the
# containerd shim and conmon do (a subreaper that reaps the VM process),
# on bundles it writes. Each case runs wholly inside the rig (or natively
# on hardware KVM); `net` runs in a network namespace of its own.
set -u
case_name=$1
inner=${2:-}
. "$(dirname "$0")/lib.sh"
rig_reexec

export COCOON=$cocoon COCOON_KERNEL=$kernel
# The rig boots without cgroups mounted; engines' hosts have cgroup v2.
if [ "${COCOON_IN_RIG:-}" = 1 ] && ! grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts; then
	mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null || true
fi
if [ "$case_name" = net ]; then
	# The rig's kernel loads modules only when asked by name (its module
	# tree is bound in by rig-mux): veth for the test, the tc pieces
	# hostnet's engine mode uses.
	for m in veth sch_ingress cls_matchall cls_u32 act_mirred; do
		modprobe -q "$m" 2>/dev/null || true
	done
	exec unshare -n python3 "$here/oci_runtime.py" "$case_name"
fi
exec python3 "$here/oci_runtime.py" "$case_name"
