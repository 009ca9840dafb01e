#!/usr/bin/env bash
# Integration cases for the image store: `image.sh CASE`.
# Images are built with Debian's umoci (an OCI layout, three layers: the
# busybox userland, a layer that deletes files and replaces a directory, and
# a hand-made layer with an opaque whiteout), imported into a temporary
# COCOON_HOME, and booted through tests/rig/kvm-exec. `debian` packs the
# cached Debian root (images/build-debian-image) instead; `pull` goes through
# a loopback docker-registry. Exit 77 (skip) when umoci (for `pull` also
# skopeo, docker-registry) is not installed or the Debian root cannot be built.
set -u
case_name=$1
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d /tmp/cocoon-img.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
export COCOON_HOME=$tmp/home

[ -x "$cocoon" ] || fail "$cocoon is not built"
command -v umoci >/dev/null || { echo "SKIP [$case_name]: umoci not installed (scripts/setup)"; exit 77; }

# import ARGS...: runs `cocoon image import` on the host, fills $out, $err, $status.
import() {
	"$cocoon" image import "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	status=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}


# The store holds no image, no ref and no leftover work directory.
expect_store_empty() {
	[ -z "$(ls -A "$COCOON_HOME/images" 2>/dev/null)" ] || fail "images left: $(ls "$COCOON_HOME/images")"
	[ -z "$(ls -A "$COCOON_HOME/tmp" 2>/dev/null)" ] || fail "work dirs left: $(ls "$COCOON_HOME/tmp")"
	if [ -e "$COCOON_HOME/refs.json" ]; then
		[ "$(tr -d ' \n' <"$COCOON_HOME/refs.json")" = "{}" ] || fail "refs left: $(cat "$COCOON_HOME/refs.json")"
	fi
}

# make_image LAYOUT: the umoci image LAYOUT:t (see the top of this file).
make_image() {
	local L=$1 B=$tmp/bundle
	rm -rf "$B"
	{
		umoci init --layout "$L" &&
		umoci new --image "$L:t" &&
		umoci unpack --image "$L:t" "$B" &&
		fsck.erofs --extract="$tmp/bb" "$build/images/busybox.erofs" &&
		cp -a "$tmp/bb/." "$B/rootfs/" && rm -rf "$tmp/bb" &&
		mkdir -p "$B/rootfs/srv/data" "$B/rootfs/opt/app" &&
		echo keep >"$B/rootfs/srv/keep" && chmod 640 "$B/rootfs/srv/keep" &&
		chown 1000:100 "$B/rootfs/srv/keep" &&
		echo a >"$B/rootfs/srv/data/a" && echo b >"$B/rootfs/srv/data/b" &&
		echo old >"$B/rootfs/opt/app/old" &&
		umoci repack --image "$L:t" "$B" &&
		# Layer 2: a deleted file (whiteout) and a directory replaced.
		rm -f "$B/rootfs/etc/issue" && rm -rf "$B/rootfs/opt/app" &&
		mkdir -m 705 "$B/rootfs/opt/app" && echo fresh >"$B/rootfs/opt/app/fresh" &&
		umoci repack --image "$L:t" "$B" &&
		# Layer 3, made by hand: an opaque whiteout in /srv/data.
		mkdir -p "$tmp/l3/srv/data" && : >"$tmp/l3/srv/data/.wh..wh..opq" &&
		echo new >"$tmp/l3/srv/data/new" &&
		tar -C "$tmp/l3" --owner=0 --group=0 -cf "$tmp/l3.tar" srv &&
		umoci raw add-layer --image "$L:t" "$tmp/l3.tar" &&
		umoci config --image "$L:t" --config.entrypoint /bin/sh --config.entrypoint -c \
			--config.cmd 'id; pwd; echo "$FOO"' --config.env FOO=bar \
			--config.workingdir /srv --config.user user &&
		umoci gc --layout "$L"
	} >"$tmp/umoci.log" 2>&1 || fail "building the umoci image failed: $(tail -5 "$tmp/umoci.log")"
	rm -rf "$B"
}

# manifest_hex LAYOUT: the manifest's digest; layer_hexes LAYOUT: its layers, one "digest-hex" per line.
manifest_hex() { sed 's/.*"digest":"sha256:\([0-9a-f]*\)".*/\1/' "$1/index.json"; }
layer_hexes() {
	grep -o '"layers":\[.*\]' "$1/blobs/sha256/$(manifest_hex "$1")" |
		grep -o 'sha256:[0-9a-f]*' | sed 's/sha256://'
}

ms() { echo $(($(date +%s%N) / 1000000)); }

case $case_name in
layers)
	make_image "$tmp/L"
	t0=$(ms)
	import "$tmp/L" --name demo:1
	t1=$(ms)
	expect_status 0
	digest=$out
	[ "$digest" = "sha256:$(manifest_hex "$tmp/L")" ] || fail "printed '$digest', not the manifest digest"
	[ -z "$err" ] || fail "import was not quiet off a terminal: $err"
	import "$tmp/L" --name demo:1
	t2=$(ms)
	expect_status 0
	[ "$out" = "$digest" ] || fail "second import printed '$out'"
	echo "import of the 4-layer umoci image: first $((t1 - t0)) ms, cached $((t2 - t1)) ms"
	[ $((t2 - t1)) -lt 2000 ] || fail "the cached import took $((t2 - t1)) ms"
	[ -r "$COCOON_HOME/images/${digest#sha256:}/rootfs.erofs" ] || fail "no rootfs.erofs"
	# The runs, in one rig session: 1. the image's Entrypoint + Cmd, Env,
	# WorkingDir, User; 2. a command line replacing Cmd, seeing the layers;
	# 3. -u/-w/-e over the image's; 4. --entrypoint; 5. the default image.
	"$exec_" bash -c '
		c=$1 k=$2 d=$3
		r() { n=$1; shift; "$c" run --kernel "$k" "$@" >"$d/out$n" 2>"$d/err$n" </dev/null; echo $? >"$d/st$n"; }
		r 1 demo:1
		r 2 demo:1 "ls /srv/data; ls /opt/app; test -e /etc/issue || echo issue gone
			stat -c \"%a %u:%g %F %n\" /srv/keep /opt/app; cat /srv/data/new /opt/app/fresh"
		r 3 -u 0 -w /tmp -e FOO=cli demo:1 "id -u; pwd; echo \$FOO; echo \$PATH"
		r 4 --entrypoint /bin/echo demo:1 -- a b
		r 5 sh -c "test -e /etc/issue && echo busybox"
		r 6 unknown:tag' _ "$cocoon" "$kernel" "$tmp"
	check() { # N STATUS EXPECTED-STDOUT
		[ "$(cat "$tmp/st$1")" = "$2" ] || fail "run $1: status $(cat "$tmp/st$1"), expected $2: $(cat "$tmp/err$1")"
		[ "$(cat "$tmp/out$1")" = "$3" ] || fail "run $1: stdout '$(cat "$tmp/out$1")', expected '$3'"
	}
	check 1 0 "uid=1000(user) gid=1000(user) groups=100(users)
/srv
bar"
	check 2 0 "new
fresh
issue gone
640 1000:100 regular file /srv/keep
705 0:0 directory /opt/app
new
fresh"
	check 3 0 "0
/tmp
cli
/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	check 4 0 "a b"
	check 5 0 busybox
	check 6 125 ""
	[ "$(cat "$tmp/err6")" = "cocoon: image unknown:tag: not found (cocoon image ls)" ] ||
		fail "run 6: stderr '$(cat "$tmp/err6")'"
	;;
hostile)
	make_image "$tmp/L"
	big=$(layer_hexes "$tmp/L" | head -n 1) # the busybox layer
	# 1. One corrupted byte in a layer blob.
	cp -a "$tmp/L" "$tmp/C"
	printf 'X' | dd of="$tmp/C/blobs/sha256/$big" bs=1 seek=1000 conv=notrunc 2>/dev/null
	import "$tmp/C" --name bad:1
	expect_status 125
	expect_err_line "^cocoon: image: blob sha256:${big:0:12} does not match its digest$"
	expect_store_empty
	# 2. A layer blob the manifest names is missing.
	cp -a "$tmp/L" "$tmp/M"
	rm "$tmp/M/blobs/sha256/$big"
	import "$tmp/M" --name bad:1
	expect_status 125
	expect_err_line "layer blob sha256:${big:0:12} is missing"
	expect_store_empty
	# 3. A truncated layer whose (new) digest matches: the manifest and
	# index are rewritten to name it, so only the tar itself is bad.
	cp -a "$tmp/L" "$tmp/T"
	b=$tmp/T/blobs/sha256
	size=$(stat -c %s "$b/$big")
	head -c $((size / 2)) "$b/$big" >"$tmp/trunc"
	th=$(sha256sum <"$tmp/trunc" | cut -d' ' -f1)
	mv "$tmp/trunc" "$b/$th"
	rm "$b/$big"
	mh=$(manifest_hex "$tmp/T")
	sed "s/\"digest\":\"sha256:$big\",\"size\":$size/\"digest\":\"sha256:$th\",\"size\":$((size / 2))/" \
		"$b/$mh" >"$tmp/man"
	cmp -s "$tmp/man" "$b/$mh" && fail "could not rewrite the manifest"
	nh=$(sha256sum <"$tmp/man" | cut -d' ' -f1)
	mv "$tmp/man" "$b/$nh"
	sed -i "s/\"digest\":\"sha256:$mh\",\"size\":[0-9]*/\"digest\":\"sha256:$nh\",\"size\":$(stat -c %s "$b/$nh")/" \
		"$tmp/T/index.json"
	import "$tmp/T" --name bad:1
	expect_status 125
	grep -q "^cocoon: image: .*layer" "$tmp/err" || fail "no line naming the layer: $err"
	[ "$(grep -c . "$tmp/err")" -eq 1 ] || fail "expected one error line, got: $err"
	expect_store_empty
	# 4. Not an image at all; an unknown media type.
	mkdir "$tmp/empty"
	import "$tmp/empty" --name bad:1
	expect_status 125
	expect_err_line "neither an OCI image layout"
	cp -a "$tmp/L" "$tmp/U"
	sed -i 's/application\/vnd.oci.image.manifest.v1+json/application\/x-unknown/' "$tmp/U/index.json"
	import "$tmp/U" --name bad:1
	expect_status 125
	expect_err_line "unsupported media type application/x-unknown"
	expect_store_empty
	# 5. No name anywhere: --name is required.
	cp -a "$tmp/L" "$tmp/N"
	sed -i 's/,"annotations":{[^}]*}//' "$tmp/N/index.json"
	import "$tmp/N"
	expect_status 125
	expect_err_line "use --name NAME:TAG"
	expect_store_empty
	;;
archives)
	make_image "$tmp/L"
	want=sha256:$(manifest_hex "$tmp/L")
	# A tar of the layout (what podman save --format oci-archive writes),
	# named from its ref annotation ("t") and the file name.
	tar -C "$tmp/L" -cf "$tmp/demo.tar" .
	import "$tmp/demo.tar"
	expect_status 0
	[ "$out" = "$want" ] || fail "oci-archive: digest '$out', expected $want"
	"$cocoon" image ls | grep -q "^demo:t .*sha256:${want:7:12}" || fail "ls: $("$cocoon" image ls)"
	# A docker save archive made from the same image: manifest.json,
	# <config-hex>.json, <n>/layer.tar (uncompressed, named by diff_ids).
	d=$tmp/docker; mkdir "$d"
	mh=${want#sha256:}
	man=$tmp/L/blobs/sha256/$mh
	ch=$(grep -o '"config":{[^}]*}' "$man" | grep -o 'sha256:[0-9a-f]*' | sed 's/sha256://')
	cp "$tmp/L/blobs/sha256/$ch" "$d/$ch.json"
	layers=
	n=0
	for h in $(layer_hexes "$tmp/L"); do
		n=$((n + 1)); mkdir "$d/$n"
		if gzip -t "$tmp/L/blobs/sha256/$h" 2>/dev/null; then
			gzip -dc "$tmp/L/blobs/sha256/$h" >"$d/$n/layer.tar"
		else
			cp "$tmp/L/blobs/sha256/$h" "$d/$n/layer.tar"
		fi
		layers="$layers${layers:+,}\"$n/layer.tar\""
	done
	printf '[{"Config":"%s.json","RepoTags":["docker.example/demo:2"],"Layers":[%s]}]' \
		"$ch" "$layers" >"$d/manifest.json"
	tar -C "$d" -cf "$tmp/docker.tar" .
	import "$tmp/docker.tar"
	expect_status 0
	ddig=$out
	"$cocoon" image ls | grep -q "^docker.example/demo:2 .*sha256:${ddig:7:12}" ||
		fail "ls: $("$cocoon" image ls)"
	# Both trees are the same image: the same files in their erofs.
	fsck.erofs --extract="$tmp/x1" "$COCOON_HOME/images/${want#sha256:}/rootfs.erofs" >/dev/null 2>&1
	fsck.erofs --extract="$tmp/x2" "$COCOON_HOME/images/${ddig#sha256:}/rootfs.erofs" >/dev/null 2>&1
	diff -r "$tmp/x1" "$tmp/x2" >/dev/null || fail "the docker archive's tree differs from the layout's"
	[ "$(cat "$tmp/x1/srv/data/new")" = new ] && [ ! -e "$tmp/x1/srv/data/a" ] &&
		[ ! -e "$tmp/x1/etc/issue" ] || fail "layers not applied as expected"
	# The same image as skopeo itself writes it, as a docker-archive and an
	# oci-archive: archives from a tool nobody here wrote.
	skopeo copy -q "oci:$tmp/L:t" "docker-archive:$tmp/sk-docker.tar:skopeo/demo:3" \
		>/dev/null 2>"$tmp/sk.err" || fail "skopeo docker-archive: $(cat "$tmp/sk.err")"
	import "$tmp/sk-docker.tar"
	expect_status 0
	"$cocoon" image ls | grep -q "skopeo/demo:3 " || fail "ls: $("$cocoon" image ls)"
	fsck.erofs --extract="$tmp/x3" "$COCOON_HOME/images/${out#sha256:}/rootfs.erofs" >/dev/null 2>&1
	diff -r "$tmp/x1" "$tmp/x3" >/dev/null || fail "skopeo's docker-archive tree differs"
	# Same image as docker.example/demo:2: drop this name so that the
	# corrupted-archive check below cannot take the cached copy.
	"$cocoon" image rm skopeo/demo:3 docker.io/skopeo/demo:3 >/dev/null 2>&1 || true
	skopeo copy -q "oci:$tmp/L:t" "oci-archive:$tmp/sk-oci.tar" \
		>/dev/null 2>"$tmp/sk.err" || fail "skopeo oci-archive: $(cat "$tmp/sk.err")"
	import "$tmp/sk-oci.tar" --name skopeo/oci:4
	expect_status 0
	"$cocoon" image ls | grep -q "^skopeo/oci:4 " || fail "ls: $("$cocoon" image ls)"
	# A corrupted layer.tar in a docker archive: caught by its diff_id.
	printf 'X' | dd of="$d/1/layer.tar" bs=1 seek=5000 conv=notrunc 2>/dev/null
	tar -C "$d" -cf "$tmp/docker-bad.tar" .
	"$cocoon" image rm docker.example/demo:2 >/dev/null || fail "rm"
	import "$tmp/docker-bad.tar"
	expect_status 125
	expect_err_line "does not match its digest"
	[ -z "$(ls -A "$COCOON_HOME/tmp")" ] || fail "work dirs left"
	# A tar with a path escaping it is refused.
	tar -C "$tmp" -cf "$tmp/evil.tar" --transform 's,^,../../,' L/index.json 2>/dev/null
	import "$tmp/evil.tar" --name evil:1
	expect_status 125
	expect_err_line "bad path"
	;;
store)
	make_image "$tmp/L"
	import "$tmp/L" --name a/demo --quiet
	expect_status 0
	digest=$out
	import "$tmp/L" --name other:2 --quiet
	expect_status 0
	# Two concurrent imports of the same image (new names) both succeed.
	rm -rf "$COCOON_HOME/images/${digest#sha256:}"
	"$cocoon" image import "$tmp/L" --name c1 >"$tmp/o1" 2>&1 &
	p1=$!
	"$cocoon" image import "$tmp/L" --name c2 >"$tmp/o2" 2>&1 &
	p2=$!
	wait $p1 || fail "concurrent import 1: $(cat "$tmp/o1")"
	wait $p2 || fail "concurrent import 2: $(cat "$tmp/o2")"
	[ -z "$(ls -A "$COCOON_HOME/tmp")" ] || fail "work dirs left"
	ls_out=$("$cocoon" image ls)
	for n in a/demo:latest other:2 c1:latest c2:latest; do
		printf '%s\n' "$ls_out" | grep -q "^$n  *sha256:${digest:7:12} .*MB  *20" || fail "ls lacks $n: $ls_out"
	done
	"$cocoon" image inspect a/demo >"$tmp/inspect" || fail "inspect failed"
	grep -q "\"Digest\": \"$digest\"" "$tmp/inspect" || fail "inspect: $(cat "$tmp/inspect")"
	grep -q '"Entrypoint": \[ "/bin/sh", "-c" \]' "$tmp/inspect" ||
		grep -q '"/bin/sh",' "$tmp/inspect" || fail "inspect lacks the config: $(cat "$tmp/inspect")"
	"$cocoon" image inspect nosuch >"$tmp/out" 2>"$tmp/err"; status=$?; err=$(cat "$tmp/err")
	expect_status 125
	expect_err_line "image nosuch: not found"
	# rm: the image stays while another name uses it.
	for n in a/demo other:2 c1; do
		"$cocoon" image rm "$n" >"$tmp/out" || fail "rm $n"
		[ -d "$COCOON_HOME/images/${digest#sha256:}" ] || fail "image removed with c2 still naming it"
	done
	"$cocoon" image rm c2 >"$tmp/out" || fail "rm c2"
	grep -q "image deleted" "$tmp/out" || fail "rm c2: $(cat "$tmp/out")"
	expect_store_empty
	"$cocoon" image rm c2 >"$tmp/out" 2>"$tmp/err"; status=$?; err=$(cat "$tmp/err")
	expect_status 125
	expect_err_line "image c2: not found"
	;;
rm-running)
	# `image rm` while a VM runs from that image: the image goes from the
	# store at once, the VM keeps reading its open erofs and finishes right.
	# (The image's entrypoint is `/bin/sh -c`: the command is its script.)
	make_image "$tmp/L"
	import "$tmp/L" --name rmme:1
	expect_status 0
	want=$(md5sum </bin/busybox | cut -d' ' -f1)
	"$exec_" bash -c '
		"$1" run --kernel "$2" rmme:1 -- "sleep 4; md5sum </bin/busybox" >"$3/run.out" 2>&1 &
		pid=$!
		sleep 2
		"$1" image rm rmme:1 >/dev/null; echo "rm=$?"
		ls "$COCOON_HOME/images" | wc -l
		wait $pid; echo "run=$?"' _ "$cocoon" "$kernel" "$tmp" >"$tmp/o" 2>&1
	[ "$(sed -n 1p "$tmp/o")" = rm=0 ] || fail "rm: $(cat "$tmp/o")"
	[ "$(sed -n 2p "$tmp/o")" = 0 ] || fail "the image is still in the store: $(cat "$tmp/o")"
	[ "$(sed -n 3p "$tmp/o")" = run=0 ] || fail "the running VM failed: $(cat "$tmp/o" "$tmp/run.out")"
	grep -q "^$want" "$tmp/run.out" || fail "the VM read wrong bytes: $(cat "$tmp/run.out")"
	;;
debian)
	# The cached debootstrap root (images/build-debian-image) as a 2-layer
	# umoci image: 1. the Debian root; 2. /srv/hello added, /etc/issue
	# deleted (a whiteout). Entrypoint perl, Env, WorkingDir and User set.
	image=$("$root/images/build-debian-image") || {
		rc=$?
		[ "$rc" -eq 77 ] && { echo "SKIP [$case_name]: no Debian root"; exit 77; }
		fail "images/build-debian-image failed"
	}
	droot=$(dirname "$image")/root
	[ -x "$droot/usr/bin/perl" ] || fail "no Debian root at $droot"
	L=$tmp/D B=$tmp/bundle
	{
		umoci init --layout "$L" &&
		umoci new --image "$L:t" &&
		umoci unpack --image "$L:t" "$B" &&
		cp -a "$droot/." "$B/rootfs/" &&
		umoci repack --image "$L:t" "$B" &&
		echo hello >"$B/rootfs/srv/hello" && rm -f "$B/rootfs/etc/issue" &&
		umoci repack --image "$L:t" "$B" &&
		umoci config --image "$L:t" --config.entrypoint /usr/bin/perl \
			--config.cmd -e --config.cmd 'require Cwd; print "hi $ENV{GREETING} ", scalar getpwuid($<), " ", Cwd::getcwd(), "\n"; print -e "/etc/issue" ? "issue\n" : "no issue\n"; open my $f, "<", "hello" or die; print <$f>' \
			--config.env GREETING=debian --config.workingdir /srv --config.user nobody &&
		umoci gc --layout "$L"
	} >"$tmp/umoci.log" 2>&1 || fail "building the Debian image failed: $(tail -5 "$tmp/umoci.log")"
	rm -rf "$B"
	t0=$(ms)
	import "$L" --name deb:1
	t1=$(ms)
	expect_status 0
	import "$L" --name deb:1
	t2=$(ms)
	expect_status 0
	echo "import of the 2-layer Debian image ($(du -sh "$L" | cut -f1)): first $((t1 - t0)) ms, cached $((t2 - t1)) ms"
	"$exec_" bash -c '
		c=$1 k=$2 d=$3
		r() { n=$1; shift; "$c" run --kernel "$k" "$@" >"$d/out$n" 2>"$d/err$n" </dev/null; echo $? >"$d/st$n"; }
		r 1 deb:1
		r 2 --entrypoint /usr/bin/python3 deb:1 -- -c "print(1+1)"' _ "$cocoon" "$kernel" "$tmp"
	for n in 1 2; do
		[ "$(cat "$tmp/st$n")" = 0 ] || fail "run $n: status $(cat "$tmp/st$n"): $(cat "$tmp/err$n")"
	done
	[ "$(cat "$tmp/out1")" = "hi debian nobody /srv
no issue
hello" ] || fail "run 1: stdout '$(cat "$tmp/out1")'"
	[ "$(cat "$tmp/out2")" = 2 ] || fail "run 2: stdout '$(cat "$tmp/out2")'"
	;;
pull)
	# A loopback docker-registry (Debian's package) with a temporary
	# config and storage; the umoci image pushed to it with skopeo, then
	# `cocoon image pull` and a run. Plain HTTP: the registry is marked
	# insecure for skopeo in a registries.conf under a temporary HOME
	# (skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF).
	command -v docker-registry >/dev/null ||
		{ echo "SKIP [$case_name]: docker-registry not installed (scripts/setup)"; exit 77; }
	command -v skopeo >/dev/null || { echo "SKIP [$case_name]: skopeo not installed"; exit 77; }
	make_image "$tmp/L"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$tmp/reg"
	cat >"$tmp/reg.yml" <<-EOF
	version: 0.1
	log:
	  level: error
	storage:
	  filesystem:
	    rootdirectory: $tmp/reg
	http:
	  addr: 127.0.0.1:$port
	EOF
	docker-registry serve "$tmp/reg.yml" >"$tmp/reg.log" 2>&1 &
	reg=$!
	trap 'kill $reg 2>/dev/null; wait $reg 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
	for _ in $(seq 100); do
		(: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	(: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || fail "registry did not start: $(tail -3 "$tmp/reg.log")"
	mkdir -p "$tmp/h/.config/containers"
	printf '[[registry]]\nlocation = "127.0.0.1:%s"\ninsecure = true\n' "$port" \
		>"$tmp/h/.config/containers/registries.conf"
	skopeo copy --quiet --dest-tls-verify=false "oci:$tmp/L:t" "docker://127.0.0.1:$port/test:1" \
		>"$tmp/push.log" 2>&1 || fail "skopeo push failed: $(tail -3 "$tmp/push.log")"
	HOME=$tmp/h "$cocoon" image pull "127.0.0.1:$port/test:1" >"$tmp/out" 2>"$tmp/err" </dev/null
	status=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
	expect_status 0
	case $out in sha256:*) ;; *) fail "pull printed '$out'" ;; esac
	"$cocoon" image ls | grep -q "^127.0.0.1:$port/test:1 .*sha256:${out:7:12}" || fail "ls: $("$cocoon" image ls)"
	[ -z "$(ls -A "$COCOON_HOME/tmp")" ] || fail "work dirs left"
	"$exec_" "$cocoon" run --kernel "$kernel" "127.0.0.1:$port/test:1" >"$tmp/out1" 2>"$tmp/err1" </dev/null
	status=$?; err=$(cat "$tmp/err1")
	expect_status 0
	[ "$(cat "$tmp/out1")" = "uid=1000(user) gid=1000(user) groups=100(users)
/srv
bar" ] || fail "run: stdout '$(cat "$tmp/out1")'"
	;;
*)
	fail "unknown case"
	;;
esac
echo "PASS [$case_name]"
