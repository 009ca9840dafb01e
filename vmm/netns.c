/* SPDX-License-Identifier: MIT */
/* The network namespace an OCI engine prepared; see netns.h. */
#include "netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/tc_act/tc_mirred.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

/* Interfaces looked at: a container's namespace has a handful. */
#define SCAN_MAX 64u
/* One read of a dump: the kernel fits its messages into what we offer. */
#define RECV_BUF 32768u
/* Room for any request we send (the u32 filter, 140 bytes, is the largest). */
#define REQ_BUF 256u
/* ffff:, the handle of the ingress qdisc and so the parent of its filters. */
#define INGRESS_HANDLE TC_H_MAKE(TC_H_INGRESS, 0)

/* ---- building requests ------------------------------------------------------ */

struct nlbuf {
	struct nlmsghdr *h;
	size_t cap;
	bool full;  /* something did not fit: the message is unusable */
};

/* `len` zeroed bytes at the (aligned) end of the message. */
static void *nl_put(struct nlbuf *m, size_t len)
{
	size_t at = NLMSG_ALIGN(m->h->nlmsg_len);
	void *p;

	if (m->full || at + NLMSG_ALIGN(len) > m->cap) {
		m->full = true;
		return NULL;
	}
	p = (char *)m->h + at;
	memset(p, 0, NLMSG_ALIGN(len));
	m->h->nlmsg_len = (uint32_t)(at + NLMSG_ALIGN(len));
	return p;
}

/* Start a request in buf; returns its fixed header of `hdr_len` bytes. */
static void *nl_start(struct nlbuf *m, void *buf, size_t cap, uint16_t type, uint16_t flags,
		      size_t hdr_len)
{
	m->h = buf;
	m->cap = cap;
	m->full = cap < NLMSG_HDRLEN;
	if (m->full)
		return NULL;
	memset(m->h, 0, NLMSG_HDRLEN);
	m->h->nlmsg_len = NLMSG_HDRLEN;
	m->h->nlmsg_type = type;
	m->h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	return nl_put(m, hdr_len);
}

/* An attribute; with no data, the start of a nest that nl_end closes. */
static struct rtattr *nl_attr(struct nlbuf *m, unsigned short type, const void *data,
			      size_t len)
{
	struct rtattr *a = nl_put(m, RTA_LENGTH(len));

	if (!a)
		return NULL;
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	return a;
}

static void nl_end(struct nlbuf *m, struct rtattr *nest)
{
	if (nest && !m->full)
		nest->rta_len = (unsigned short)((char *)m->h + m->h->nlmsg_len - (char *)nest);
}

/* ---- talking to the kernel ---------------------------------------------------- */

/* The error of an NLMSG_ERROR answer (0: an ACK), and the kernel's own
 * reason (extended ACK) in ext when it gave one. */
static int ack_error(const struct nlmsghdr *h, char *ext, size_t ext_len)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	const struct rtattr *a;
	size_t off = NLMSG_LENGTH(sizeof(*e));
	int rem;

	if (h->nlmsg_len < off)
		return -EPROTO;
	/* Without NLM_F_CAPPED the TLVs follow our whole request, echoed. */
	if (!(h->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len > NLMSG_HDRLEN)
		off += NLMSG_ALIGN(e->msg.nlmsg_len - NLMSG_HDRLEN);
	if (e->error && (h->nlmsg_flags & NLM_F_ACK_TLVS) && h->nlmsg_len > off) {
		rem = (int)(h->nlmsg_len - off);
		for (a = (const void *)((const char *)h + off); RTA_OK(a, rem);
		     a = RTA_NEXT(a, rem))
			if (a->rta_type == NLMSGERR_ATTR_MSG && RTA_PAYLOAD(a) > 0)
				snprintf(ext, ext_len, "%.*s", (int)RTA_PAYLOAD(a) - 1,
					 (const char *)RTA_DATA(a));
	}
	return e->error > 0 ? -e->error : e->error;
}

/*
 * Send `req` and read the answer up to its end: the ACK (or error) of a
 * request with NLM_F_ACK, or NLMSG_DONE of a dump, whose messages go to
 * `each`. Returns 0 or the -errno the kernel answered, its reason in ext.
 */
static int nl_talk(struct nlmsghdr *req, void (*each)(const struct nlmsghdr *, void *),
		   void *arg, char *ext, size_t ext_len)
{
	static const struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	uint32_t buf[RECV_BUF / 4]; /* aligned for nlmsghdr */
	int fd, one = 1, ret;

	ext[0] = '\0';
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* Best effort, both: the kernel's reason in errors (Linux 4.12), and
	 * not our request echoed back in them. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	req->nlmsg_seq = 1;
	if (sendto(fd, req, req->nlmsg_len, 0, (const struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		const struct nlmsghdr *h;
		int len;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EPROTO;
			goto out;
		}
		len = (int)n;
		for (h = (const void *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				ret = ack_error(h, ext, ext_len);
				goto out;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				/* A dump that failed part way says so here. */
				int err = 0;

				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(err)))
					memcpy(&err, NLMSG_DATA(h), sizeof(err));
				ret = err < 0 ? err : 0;
				goto out;
			}
			if (each)
				each(h, arg);
		}
	}
out:
	close(fd);
	return ret;
}

/* One line for a failed step (on interface `ifname` unless NULL). */
static int nl_fail(char *why, size_t why_len, int err, const char *ext, const char *ifname,
		   const char *step)
{
	return why_fail(why, why_len, err, "netns: %s%s%s: %s%s%s%s%s", ifname ? ifname : "",
			ifname ? ": " : "", step, strerror(-err), ext[0] ? " (" : "", ext,
			ext[0] ? ")" : "", err == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
}

/* Send a request that changes something; 0, or -errno and why. */
static int nl_request(struct nlbuf *m, const char *ifname, const char *step, char *why,
		      size_t why_len)
{
	char ext[160];
	int ret;

	if (m->full)
		return why_fail(why, why_len, -EOVERFLOW, "netns: %s: %s: request too long",
				ifname, step);
	ret = nl_talk(m->h, NULL, NULL, ext, sizeof(ext));
	return ret ? nl_fail(why, why_len, ret, ext, ifname, step) : 0;
}

/* ---- finding the interface ---------------------------------------------------- */

struct scan {
	unsigned int nr;
	struct netns_link links[SCAN_MAX]; /* up, not loopback */
	bool has_addr[SCAN_MAX];
	int def_oif;                       /* the default route's; 0: none */
	uint32_t def_gw, def_metric;
};

/*
 * The fixed header of `h` if it is a `type` message of at least `hdr_len`
 * bytes (else NULL), and its attributes by type in tb[0..max].
 */
static const void *parse(const struct nlmsghdr *h, uint16_t type, size_t hdr_len,
			 const struct rtattr **tb, unsigned int max)
{
	const struct rtattr *a;
	int rem;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (h->nlmsg_type != type || h->nlmsg_len < NLMSG_LENGTH(hdr_len))
		return NULL;
	rem = (int)(h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(hdr_len)));
	a = (const void *)((const char *)NLMSG_DATA(h) + NLMSG_ALIGN(hdr_len));
	for (; RTA_OK(a, rem); a = RTA_NEXT(a, rem))
		if ((a->rta_type & NLA_TYPE_MASK) <= max)
			tb[a->rta_type & NLA_TYPE_MASK] = a;
	return NLMSG_DATA(h);
}

static bool get_u32(const struct rtattr *a, uint32_t *v)
{
	if (!a || RTA_PAYLOAD(a) < sizeof(*v))
		return false;
	memcpy(v, RTA_DATA(a), sizeof(*v));
	return true;
}

static void on_link(const struct nlmsghdr *h, void *arg)
{
	const struct rtattr *tb[IFLA_MTU + 1];
	const struct ifinfomsg *ifi = parse(h, RTM_NEWLINK, sizeof(*ifi), tb, IFLA_MTU);
	struct scan *s = arg;
	struct netns_link *l;
	uint32_t mtu = 0;

	if (!ifi || (ifi->ifi_flags & IFF_LOOPBACK) || !(ifi->ifi_flags & IFF_UP))
		return;
	if (s->nr == SCAN_MAX) {
		log_debug("netns: more than %u interfaces up; looking at the first only",
			  SCAN_MAX);
		return;
	}
	l = &s->links[s->nr++];
	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->type = ifi->ifi_type;
	if (tb[IFLA_IFNAME])
		snprintf(l->name, sizeof(l->name), "%.*s", (int)RTA_PAYLOAD(tb[IFLA_IFNAME]),
			 (const char *)RTA_DATA(tb[IFLA_IFNAME]));
	if (tb[IFLA_ADDRESS] && RTA_PAYLOAD(tb[IFLA_ADDRESS]) == sizeof(l->mac))
		memcpy(l->mac, RTA_DATA(tb[IFLA_ADDRESS]), sizeof(l->mac));
	if (get_u32(tb[IFLA_MTU], &mtu))
		l->mtu = mtu;
}

static int scan_find(const struct scan *s, int ifindex)
{
	for (unsigned int i = 0; i < s->nr; i++)
		if (s->links[i].ifindex == ifindex)
			return (int)i;
	return -1;
}

static void on_addr(const struct nlmsghdr *h, void *arg)
{
	const struct rtattr *tb[IFA_LOCAL + 1];
	const struct ifaddrmsg *ifa = parse(h, RTM_NEWADDR, sizeof(*ifa), tb, IFA_LOCAL);
	const struct rtattr *a;
	struct scan *s = arg;
	uint32_t addr;
	int i;

	if (!ifa || ifa->ifa_family != AF_INET || (ifa->ifa_flags & IFA_F_SECONDARY))
		return;
	i = scan_find(s, (int)ifa->ifa_index);
	/* IFA_LOCAL is the interface's own address; IFA_ADDRESS differs from
	 * it only on point-to-point links (the peer's). */
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (i < 0 || s->has_addr[i] || !get_u32(a, &addr))
		return;
	s->has_addr[i] = true;
	s->links[i].addr = ntohl(addr);
	s->links[i].prefix = ifa->ifa_prefixlen;
}

static void on_route(const struct nlmsghdr *h, void *arg)
{
	const struct rtattr *tb[RTA_TABLE + 1];
	const struct rtmsg *rt = parse(h, RTM_NEWROUTE, sizeof(*rt), tb, RTA_TABLE);
	struct scan *s = arg;
	uint32_t table, oif, gw = 0, metric = 0;

	if (!rt || rt->rtm_family != AF_INET || rt->rtm_dst_len || rt->rtm_type != RTN_UNICAST)
		return;
	table = rt->rtm_table; /* RTA_TABLE holds tables past 255 */
	(void)get_u32(tb[RTA_TABLE], &table);
	/* A multipath default route has no RTA_OIF: not one we can follow. */
	if (table != RT_TABLE_MAIN || !get_u32(tb[RTA_OIF], &oif))
		return;
	(void)get_u32(tb[RTA_GATEWAY], &gw);
	(void)get_u32(tb[RTA_PRIORITY], &metric);
	if (s->def_oif && metric >= s->def_metric)
		return;
	s->def_oif = (int)oif;
	s->def_gw = ntohl(gw);
	s->def_metric = metric;
}

/* Dump `type` for address family `family` into `each`. */
static int dump(uint16_t type, unsigned char family, void (*each)(const struct nlmsghdr *, void *),
		struct scan *s, const char *what, char *why, size_t why_len)
{
	uint32_t buf[REQ_BUF / 4];
	struct nlbuf m;
	char ext[160];
	/* Every rtnetlink header starts with the family; the largest of the
	 * three we dump with is struct ifinfomsg. */
	unsigned char *hdr = nl_start(&m, buf, sizeof(buf), type, NLM_F_DUMP,
				      sizeof(struct ifinfomsg));
	int ret;

	hdr[0] = family;
	ret = nl_talk(m.h, each, s, ext, sizeof(ext));
	return ret ? nl_fail(why, why_len, ret, ext, NULL, what) : 0;
}

/* The better of two candidates: the one the default route goes out of,
 * else the lower ifindex (eth0 before eth1, as the engine numbered them). */
static bool better(const struct scan *s, const struct netns_link *l,
		   const struct netns_link *best)
{
	if (!best)
		return true;
	if ((l->ifindex == s->def_oif) != (best->ifindex == s->def_oif))
		return l->ifindex == s->def_oif;
	return l->ifindex < best->ifindex;
}

int netns_find_link(struct netns_link *link, bool *found, char *why, size_t why_len)
{
	struct scan s;
	const struct netns_link *best = NULL;
	unsigned int nr = 0;
	int ret;

	*found = false;
	memset(&s, 0, sizeof(s));
	ret = dump(RTM_GETLINK, AF_UNSPEC, on_link, &s, "listing interfaces", why, why_len);
	if (!ret)
		ret = dump(RTM_GETADDR, AF_INET, on_addr, &s, "listing IPv4 addresses", why, why_len);
	if (!ret)
		ret = dump(RTM_GETROUTE, AF_INET, on_route, &s, "listing IPv4 routes", why, why_len);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < s.nr; i++) {
		if (!s.has_addr[i])
			continue;
		nr++;
		if (better(&s, &s.links[i], best))
			best = &s.links[i];
	}
	for (unsigned int i = 0; i < s.nr; i++) {
		if (!best)
			log_warn("netns: %s is up but has no IPv4 address: the VM gets no "
				 "network device",
				 s.links[i].name);
		else if (nr > 1 && s.has_addr[i] && &s.links[i] != best)
			log_info("netns: %s stays in the namespace: the VM takes over %s only",
				 s.links[i].name, best->name);
	}
	if (!best)
		return 0;
	if (best->type != ARPHRD_ETHER)
		return why_fail(why, why_len, -EOPNOTSUPP,
				"netns: %s: not an Ethernet interface (ARPHRD type %u): a tap "
				"cannot stand in for it",
				best->name, best->type);
	*link = *best;
	link->gw = best->ifindex == s.def_oif ? s.def_gw : 0;
	*found = true;
	return 0;
}

/* ---- the tap and the redirects ----------------------------------------------- */

int netns_prepare_tap(int ifindex, const char *name, unsigned int mtu, char *why,
		      size_t why_len)
{
	uint32_t buf[REQ_BUF / 4];
	char path[64 + IFNAMSIZ];
	struct ifinfomsg *ifi;
	struct nlbuf m;
	int fd;

	/* Before it is up: IPv6 would give it a link-local address then and
	 * send router solicitations and MLD reports to the guest. Its sysctl
	 * is the calling thread's namespace's. Absent when IPv6 is off. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			log_debug("netns: %s: disabling IPv6: %s", name, strerror(errno));
		close(fd);
	}
	ifi = nl_start(&m, buf, sizeof(buf), RTM_NEWLINK, NLM_F_ACK, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (mtu)
		nl_attr(&m, IFLA_MTU, &(uint32_t){ mtu }, sizeof(uint32_t));
	return nl_request(&m, name, mtu ? "setting its MTU and bringing it up" : "bringing it up",
			  why, why_len);
}

size_t netns_redirect_msg(void *buf, size_t cap, int from, int to, bool u32)
{
	const struct tc_mirred parms = {
		.action = TC_ACT_STOLEN, /* the frame is gone: not for this stack */
		.eaction = TCA_EGRESS_REDIR,
		.ifindex = (uint32_t)to,
	};
	/* u32's match-all: one key comparing nothing (mask 0), and terminal. */
	uint8_t sel[sizeof(struct tc_u32_sel) + sizeof(struct tc_u32_key)] = { 0 };
	struct rtattr *opts, *acts, *act, *aopts;
	struct tcmsg *t;
	struct nlbuf m;
	const char *kind = u32 ? "u32" : "matchall";

	((struct tc_u32_sel *)(void *)sel)->flags = TC_U32_TERMINAL;
	((struct tc_u32_sel *)(void *)sel)->nkeys = 1;
	t = nl_start(&m, buf, cap, RTM_NEWTFILTER, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
		     sizeof(*t));
	if (!t)
		return 0;
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = from;
	t->tcm_parent = INGRESS_HANDLE;
	/* Priority in the upper half, protocol (every one) in the lower. */
	t->tcm_info = TC_H_MAKE(NETNS_FILTER_PRIO << 16, htons(ETH_P_ALL));
	nl_attr(&m, TCA_KIND, kind, strlen(kind) + 1);
	opts = nl_attr(&m, TCA_OPTIONS, NULL, 0);
	acts = nl_attr(&m, u32 ? TCA_U32_ACT : TCA_MATCHALL_ACT, NULL, 0);
	act = nl_attr(&m, 1, NULL, 0); /* the first action of the list */
	nl_attr(&m, TCA_ACT_KIND, "mirred", sizeof("mirred"));
	aopts = nl_attr(&m, TCA_ACT_OPTIONS | NLA_F_NESTED, NULL, 0);
	nl_attr(&m, TCA_MIRRED_PARMS, &parms, sizeof(parms));
	nl_end(&m, aopts);
	nl_end(&m, act);
	nl_end(&m, acts);
	if (u32)
		nl_attr(&m, TCA_U32_SEL, sel, sizeof(sel));
	nl_end(&m, opts);
	return m.full ? 0 : m.h->nlmsg_len;
}

/* The ingress qdisc on `ifindex`, and no filter of ours from before. */
static int prepare_ingress(int ifindex, const char *name, char *why, size_t why_len)
{
	uint32_t buf[REQ_BUF / 4];
	struct nlbuf m;
	struct tcmsg *t;
	int ret;

	/* Without NLM_F_EXCL an ingress qdisc that is there already is
	 * accepted as it is (the kernel's "change" of a qdisc without
	 * options); -EEXIST from older kernels means the same. */
	t = nl_start(&m, buf, sizeof(buf), RTM_NEWQDISC, NLM_F_ACK | NLM_F_CREATE, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = ifindex;
	t->tcm_handle = INGRESS_HANDLE;
	t->tcm_parent = TC_H_INGRESS;
	nl_attr(&m, TCA_KIND, "ingress", sizeof("ingress"));
	ret = nl_request(&m, name, "adding an ingress qdisc", why, why_len);
	if (ret && ret != -EEXIST)
		return ret;
	/* A cocoon run before in this namespace left its filter here,
	 * redirecting to its tap, now gone; ours could not be added beside
	 * it at the same priority. No such filter: -ENOENT. */
	t = nl_start(&m, buf, sizeof(buf), RTM_DELTFILTER, NLM_F_ACK, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = ifindex;
	t->tcm_parent = INGRESS_HANDLE;
	t->tcm_info = TC_H_MAKE(NETNS_FILTER_PRIO << 16, 0); /* any protocol */
	ret = nl_request(&m, name, "removing an earlier filter", why, why_len);
	return ret == -ENOENT ? 0 : ret;
}

/* Every frame arriving on `from` leaves through `to`. */
static int redirect(int from, const char *from_name, int to, const char *to_name, char *why,
		    size_t why_len)
{
	/* Learnt once: both directions would ask for the module otherwise. */
	static bool no_matchall;
	uint32_t buf[REQ_BUF / 4];
	char ext[160] = "", step[64];
	size_t len;
	int ret;

	ret = prepare_ingress(from, from_name, why, why_len);
	if (ret)
		return ret;
	ret = -ENOENT;
	if (!no_matchall) {
		len = netns_redirect_msg(buf, sizeof(buf), from, to, false);
		ret = len ? nl_talk((struct nlmsghdr *)buf, NULL, NULL, ext, sizeof(ext))
			  : -EOVERFLOW;
		/* The kernel has no such classifier (-ENOENT) and could not load
		 * cls_matchall (no module, or a user namespace may not). */
		no_matchall = ret == -ENOENT || ret == -EOPNOTSUPP;
	}
	if (no_matchall) {
		log_debug("netns: no matchall classifier: a u32 filter redirects %s", from_name);
		len = netns_redirect_msg(buf, sizeof(buf), from, to, true);
		ret = len ? nl_talk((struct nlmsghdr *)buf, NULL, NULL, ext, sizeof(ext))
			  : -EOVERFLOW;
	}
	if (!ret)
		return 0;
	snprintf(step, sizeof(step), "redirecting its ingress to %s", to_name);
	return nl_fail(why, why_len, ret, ext, from_name, step);
}

int netns_splice(int a, const char *a_name, int b, const char *b_name, char *why,
		 size_t why_len)
{
	int ret = redirect(a, a_name, b, b_name, why, why_len);

	return ret ? ret : redirect(b, b_name, a, a_name, why, why_len);
}
