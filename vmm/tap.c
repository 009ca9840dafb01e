/* SPDX-License-Identifier: MIT */
/* Host tap devices; see tap.h. */
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define TUN_PATH "/dev/net/tun"

/* A usable interface name: 1 to 15 characters (the kernel checks the
 * rest: no '/', ':' or white space). `pattern` allows one "%d". */
static int check_name(const char *name, bool pattern, char *why, size_t why_len)
{
	const char *pct;
	size_t len = name ? strlen(name) : 0;

	if (len == 0)
		return why_fail(why, why_len, -EINVAL, "tap: empty interface name");
	if (len >= TAP_NAME_MAX)
		return why_fail(why, why_len, -ENAMETOOLONG,
				"tap %s: name too long (%d characters at most)", name,
				TAP_NAME_MAX - 1);
	pct = strchr(name, '%');
	if (pct && (!pattern || pct[1] != 'd' || strchr(pct + 1, '%')))
		return why_fail(why, why_len, -EINVAL,
				pattern ? "tap %s: a name pattern has at most one %%d and "
					  "no other %%"
					: "tap %s: '%%' in the name of an existing tap",
				name);
	return 0;
}

/* /dev/net/tun, non-blocking: each open is a new, unattached queue. */
static int open_tun(char *why, size_t why_len)
{
	int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	switch (errno) {
	case ENOENT:
		return why_fail(why, why_len, -ENOENT,
				TUN_PATH " is missing (load the tun module: modprobe tun)");
	case ENODEV:
	case ENXIO:
		return why_fail(why, why_len, -errno,
				TUN_PATH ": no tun driver in this kernel (modprobe tun)");
	case EACCES:
	case EPERM:
		return why_fail(why, why_len, -errno,
				TUN_PATH ": permission denied (it is usually mode 0666)");
	default:
		return why_fail(why, why_len, -errno, TUN_PATH ": %s", strerror(errno));
	}
}

/*
 * TUNSETIFF on a fresh fd, then the header size. On success `name` holds
 * the interface's name (the kernel fills in "%d"). On failure closes fd.
 */
static int attach(int fd, char name[TAP_NAME_MAX], bool create, char *why,
		  size_t why_len)
{
	struct ifreq ifr;
	int hdr = TAP_VNET_HDR_LEN;
	unsigned int flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	int err;

	if (create)
		flags |= IFF_TUN_EXCL;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name)); /* < IFNAMSIZ: check_name */
	ifr.ifr_flags = (short)(unsigned short)flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		switch (err) {
		case -EPERM:
			why_fail(why, why_len, err,
				 create ? "tap %s: not permitted: creating a tap needs "
					  "CAP_NET_ADMIN (or use an existing tap made with "
					  "ip tuntap add NAME mode tap user USER)"
					: "tap %s: not permitted: attaching needs CAP_NET_ADMIN "
					  "unless the tap belongs to this user (ip tuntap add "
					  "NAME mode tap user USER)",
				 name);
			break;
		case -EBUSY:
			why_fail(why, why_len, err,
				 create ? "tap %s: an interface of that name exists already"
					: "tap %s: in use (another process has it open)",
				 name);
			break;
		case -EINVAL:
			why_fail(why, why_len, err,
				 "tap %s: not a tap device (another kind of interface, a "
				 "tun, or a multi-queue tap)",
				 name);
			break;
		case -ENFILE:
			why_fail(why, why_len, err, "tap %s: no free interface number",
				 name);
			break;
		default:
			why_fail(why, why_len, err, "tap %s: TUNSETIFF: %s", name,
				 strerror(-err));
		}
		goto err_close;
	}
	memcpy(name, ifr.ifr_name, TAP_NAME_MAX);
	name[TAP_NAME_MAX - 1] = '\0';
	/* virtio 1.x always has the 12-byte header (5.1.6), num_buffers
	 * included; the tap's default is the legacy 10 bytes. */
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		err = why_fail(why, why_len, -errno, "tap %s: TUNSETVNETHDRSZ: %s", name,
			       strerror(errno));
		goto err_close;
	}
	return 0;

err_close:
	close(fd);
	return err;
}

int tap_open(const char *name, int *fd, char *why, size_t why_len)
{
	char ifname[TAP_NAME_MAX];
	int ret, tfd;

	ret = check_name(name, false, why, why_len);
	if (ret)
		return ret;
	/* TUNSETIFF on a missing name would create the tap: look first. */
	if (if_nametoindex(name) == 0)
		return why_fail(why, why_len, -ENODEV,
				"tap %s: no such interface (create it: ip tuntap add %s "
				"mode tap user USER)",
				name, name);
	tfd = open_tun(why, why_len);
	if (tfd < 0)
		return tfd;
	snprintf(ifname, sizeof(ifname), "%s", name);
	ret = attach(tfd, ifname, false, why, why_len);
	if (ret)
		return ret;
	*fd = tfd;
	return 0;
}

int tap_create(const char *pattern, int *fd, char name[TAP_NAME_MAX], char *why,
	       size_t why_len)
{
	char ifname[TAP_NAME_MAX];
	int ret, tfd;

	ret = check_name(pattern, true, why, why_len);
	if (ret)
		return ret;
	tfd = open_tun(why, why_len);
	if (tfd < 0)
		return tfd;
	snprintf(ifname, sizeof(ifname), "%s", pattern);
	/* Not persistent (no TUNSETPERSIST): gone with its last fd. */
	ret = attach(tfd, ifname, true, why, why_len);
	if (ret)
		return ret;
	memcpy(name, ifname, TAP_NAME_MAX);
	*fd = tfd;
	return 0;
}

int tap_name(int fd, char name[TAP_NAME_MAX])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0)
		return -errno;
	memcpy(name, ifr.ifr_name, TAP_NAME_MAX);
	name[TAP_NAME_MAX - 1] = '\0';
	return 0;
}

int tap_set_offload(int fd, unsigned int tun_flags)
{
	/* The argument is the flag word itself, not a pointer to it. */
	return ioctl(fd, TUNSETOFFLOAD, (unsigned long)tun_flags) < 0 ? -errno : 0;
}

/* ---- the host's side: address and link state ------------------------------ */

/* An SIOCSIF* on `sock` for `name`, with a reason naming `what`. */
static int if_ioctl(int sock, unsigned long req, struct ifreq *ifr, const char *what,
		    char *why, size_t why_len)
{
	if (ioctl(sock, req, ifr) == 0)
		return 0;
	switch (errno) {
	case EPERM:
	case EACCES:
		return why_fail(why, why_len, -errno,
				"tap %s: %s: not permitted (needs CAP_NET_ADMIN)",
				ifr->ifr_name, what);
	case ENODEV:
		return why_fail(why, why_len, -ENODEV, "tap %s: %s: no such interface",
				ifr->ifr_name, what);
	default:
		return why_fail(why, why_len, -errno, "tap %s: %s: %s", ifr->ifr_name,
				what, strerror(errno));
	}
}

static int inet_socket(const char *name, char *why, size_t why_len)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (sock < 0)
		return why_fail(why, why_len, -errno, "tap %s: socket: %s", name,
				strerror(errno));
	return sock;
}

static int set_up(int sock, struct ifreq *ifr, char *why, size_t why_len)
{
	int ret = if_ioctl(sock, SIOCGIFFLAGS, ifr, "reading flags", why, why_len);

	if (ret)
		return ret;
	ifr->ifr_flags = (short)(ifr->ifr_flags | IFF_UP);
	return if_ioctl(sock, SIOCSIFFLAGS, ifr, "bringing it up", why, why_len);
}

int tap_up(const char *name, char *why, size_t why_len)
{
	struct ifreq ifr;
	int ret, sock;

	ret = check_name(name, false, why, why_len);
	if (ret)
		return ret;
	sock = inet_socket(name, why, why_len);
	if (sock < 0)
		return sock;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	ret = set_up(sock, &ifr, why, why_len);
	close(sock);
	return ret;
}

int tap_set_ipv4(const char *name, struct in_addr addr, unsigned int prefix_len,
		 char *why, size_t why_len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct ifreq ifr;
	int ret, sock;

	ret = check_name(name, false, why, why_len);
	if (ret)
		return ret;
	if (prefix_len > 32)
		return why_fail(why, why_len, -EINVAL, "tap %s: prefix length %u above 32",
				name, prefix_len);
	sock = inet_socket(name, why, why_len);
	if (sock < 0)
		return sock;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));
	sin.sin_addr = addr;
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	ret = if_ioctl(sock, SIOCSIFADDR, &ifr, "setting the address", why, why_len);
	if (ret)
		goto out;
	/* After the address: SIOCSIFADDR sets a default (classful) mask. */
	sin.sin_addr.s_addr = htonl(prefix_len ? ~0u << (32 - prefix_len) : 0);
	memcpy(&ifr.ifr_netmask, &sin, sizeof(sin));
	ret = if_ioctl(sock, SIOCSIFNETMASK, &ifr, "setting the netmask", why, why_len);
	if (ret)
		goto out;
	ret = set_up(sock, &ifr, why, why_len);
out:
	close(sock);
	return ret;
}
