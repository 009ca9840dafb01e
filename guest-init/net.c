/* SPDX-License-Identifier: MIT */
/* The guest's network set-up; see net.h. */
#include "net.h"

#include "rootfs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NET_IF "eth0"

int net_parse_cidr(const char *s, uint32_t *addr, unsigned int *prefix)
{
	char buf[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	struct in_addr a;
	unsigned int p = 0;
	size_t n;

	if (!slash || (n = (size_t)(slash - s)) == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	/* 1 or 2 digits, no sign, no leading junk: strtoul would take " +7". */
	if (!slash[1] || strlen(slash + 1) > 2)
		return -EINVAL;
	for (const char *d = slash + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return -EINVAL;
		p = p * 10 + (unsigned int)(*d - '0');
	}
	if (p > 32)
		return -EINVAL;
	*addr = ntohl(a.s_addr);
	*prefix = p;
	return 0;
}

static void set_sin(struct sockaddr *sa, uint32_t host_order)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(host_order),
	};

	memcpy(sa, &sin, sizeof(sin));
}

static int if_up(int fd, const char *name)
{
	struct ifreq ifr = { 0 };

	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(fd, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/* virtio-net probes on its own schedule: wait for eth0 to exist. */
static int wait_for_eth0(int fd)
{
	struct ifreq ifr = { 0 };

	strncpy(ifr.ifr_name, NET_IF, IFNAMSIZ - 1);
	for (int i = 0; i < 300; i++) {
		if (ioctl(fd, SIOCGIFINDEX, &ifr) == 0)
			return 0;
		if (errno != ENODEV)
			return -errno;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	return -ENODEV;
}

static int configure_eth0(int fd, const struct spec *s, const char **what)
{
	struct ifreq ifr = { 0 };
	uint32_t addr, mask, gw;
	unsigned int prefix;
	struct in_addr g;
	int ret;

	*what = "net_addr: not A.B.C.D/PREFIX";
	if (net_parse_cidr(s->net_addr, &addr, &prefix) < 0)
		return -EINVAL;
	mask = prefix ? ~0u << (32 - prefix) : 0;
	*what = "wait for " NET_IF " (no virtio-net device?)";
	if ((ret = wait_for_eth0(fd)) < 0)
		return ret;
	strncpy(ifr.ifr_name, NET_IF, IFNAMSIZ - 1);
	*what = NET_IF ": set address";
	set_sin(&ifr.ifr_addr, addr);
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		return -errno;
	*what = NET_IF ": set netmask";
	set_sin(&ifr.ifr_netmask, mask);
	if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		return -errno;
	*what = NET_IF ": bring up";
	if ((ret = if_up(fd, NET_IF)) < 0)
		return ret;
	if (!s->net_gw)
		return 0;
	*what = "net_gw: not an IPv4 address";
	if (inet_pton(AF_INET, s->net_gw, &g) != 1)
		return -EINVAL;
	gw = ntohl(g.s_addr);
	{
		struct rtentry rt = { 0 };

		set_sin(&rt.rt_dst, 0);
		set_sin(&rt.rt_genmask, 0);
		set_sin(&rt.rt_gateway, gw);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = (char *)NET_IF;
		*what = NET_IF ": add the default route";
		if (ioctl(fd, SIOCADDRT, &rt) < 0)
			return -errno;
	}
	return 0;
}

int net_setup(const struct spec *s, const char **what)
{
	int fd, ret;

	*what = "socket(AF_INET)";
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	*what = "bring lo up";
	ret = if_up(fd, "lo");
	if (ret == 0 && s->net_addr)
		ret = configure_eth0(fd, s, what);
	close(fd);
	return ret;
}

int net_write_resolv(const struct spec *s, const char **what)
{
	const char *parts[2 + 3 * SPEC_MAX_DNS] = {"# written by cocoon-init\n"};
	size_t n = 1;
	struct stat st;
	struct in_addr a;

	if (s->ndns == 0 || stat("/etc", &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	for (size_t i = 0; i < s->ndns; i++) {
		*what = "dns: not an IPv4 address";
		if (inet_pton(AF_INET, s->dns[i], &a) != 1)
			return -EINVAL;
		parts[n++] = "nameserver ";
		parts[n++] = s->dns[i];
		parts[n++] = "\n";
	}
	parts[n] = NULL;
	*what = "write /etc/resolv.conf";
	/* An image's resolv.conf may be a symlink (systemd-resolved's stub):
	 * replace the link, as docker's bind mount would hide it. */
	(void)unlink("/etc/resolv.conf");
	return rootfs_write_file("/etc/resolv.conf", parts);
}
