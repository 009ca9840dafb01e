/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock through the fake driver, with real Unix sockets in a
 * temporary directory: host-initiated connections (the CONNECT line, OK,
 * early bytes kept), guest-initiated ones (PATH_P), refusals, credit in
 * both directions, a guest that stops reading (host memory stays bounded,
 * the client's writes block, the loop goes quiet), a guest that exceeds its
 * credit, malformed chains, shutdown both ways, reset, the connection cap,
 * per-turn limits and RST backpressure, a bulk echo, and the real loop
 * thread.
 *
 * The test plays the guest: it posts rx buffers, sends packets on the tx
 * queue and reads what the device put in the rx buffers (collect). The
 * event loop is not started; pump() runs its handlers on this thread until
 * nothing happens, so each step is deterministic. A device that kept the
 * loop busy for nothing would make pump() fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_vsock.h>

#include "devices/virtio/mmio.h"
#include "devices/virtio/vsock.h"
#include "evloop.h"
#include "memory.h"
#include "virtio_fake_driver.h"

#define RAM_SIZE (16u << 20)
#define RINGS 0x10000ull     /* three queues, 0x4000 apart */
#define QSIZE 256u
#define RXBUF 0x100000ull    /* rx buffers */
#define RX_SLOT 0x11000ull
#define RX_SLOTS 48u
#define TXBUF 0x500000ull    /* tx packets with payload */
#define TX_SLOT 0x11000ull
#define TX_SLOTS 24u
#define HDRBUF 0x700000ull   /* header-only tx packets, 64 bytes apart */
#define HDR_SLOTS 512u
#define SPARE 0x800000ull    /* 8 MiB for odd chains */

#define RXQ 0u
#define TXQ 1u
#define CID 3u
#define HDR VSOCK_HDR_SIZE
#define F_V1 VIRTIO_BIT(VIRTIO_F_VERSION_1)
#define OP(x) VIRTIO_VSOCK_OP_##x
#define STREAM VIRTIO_VSOCK_TYPE_STREAM

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

/* A packet the device put in an rx buffer; the payload is in rxdata. */
struct rxpkt {
	struct hdr h;
	uint32_t used_len;
	size_t off;
};

/* The guest's side of one connection. */
struct gconn {
	uint32_t gport, hport;
	uint32_t buf_alloc;      /* what the guest advertises */
	uint32_t fwd_cnt;        /* bytes the guest consumed */
	uint32_t tx_cnt;         /* bytes the guest sent */
	uint32_t peer_buf_alloc; /* the device's, from its last header */
	uint32_t peer_fwd_cnt;
};

#define INBOX_MAX 8192u
#define RXDATA_MAX (32u << 20)

static struct guest_mem mem;
static struct evloop loop;
static struct vsock *vs;
static struct vfd d;
static char dir[64], path[128];
static char extra_paths[8][160];
static unsigned int nr_extra;

static struct rxpkt inbox[INBOX_MAX];
static unsigned int inbox_n, inbox_next;
static uint8_t *rxdata;
static size_t rxdata_len;
static uint64_t rx_gpa[QSIZE];
static uint32_t rx_size[QSIZE];
static unsigned int rx_out, rx_target, rx_slot;
static uint32_t rx_len;
static unsigned int tx_slot, hdr_slot, tx_done;

/* ---- guest memory and headers ------------------------------------------------ */

static uint8_t *host(uint64_t gpa, uint64_t len)
{
	uint8_t *p = gm_ptr(&mem, gpa, len);

	assert_non_null(p);
	return p;
}

static void hdr_put(uint8_t *b, const struct hdr *h)
{
	put_le64(b, h->src_cid);
	put_le64(b + 8, h->dst_cid);
	put_le32(b + 16, h->src_port);
	put_le32(b + 20, h->dst_port);
	put_le32(b + 24, h->len);
	put_le16(b + 28, h->type);
	put_le16(b + 30, h->op);
	put_le32(b + 32, h->flags);
	put_le32(b + 36, h->buf_alloc);
	put_le32(b + 40, h->fwd_cnt);
}

static void hdr_get(const uint8_t *b, struct hdr *h)
{
	h->src_cid = get_le64(b);
	h->dst_cid = get_le64(b + 8);
	h->src_port = get_le32(b + 16);
	h->dst_port = get_le32(b + 20);
	h->len = get_le32(b + 24);
	h->type = get_le16(b + 28);
	h->op = get_le16(b + 30);
	h->flags = get_le32(b + 32);
	h->buf_alloc = get_le32(b + 36);
	h->fwd_cnt = get_le32(b + 40);
}

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + 7);
}

/* ---- the guest's rx queue -------------------------------------------------------- */

static void post_rx_buf(uint64_t gpa, uint32_t len, bool write)
{
	const struct vfd_buf b = { gpa, len, write };
	uint16_t head = vfd_post(&d, RXQ, &b, 1);

	rx_gpa[head] = gpa;
	rx_size[head] = len;
	rx_out++;
}

static void post_rx(unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		post_rx_buf(RXBUF + (rx_slot++ % RX_SLOTS) * RX_SLOT, rx_len, true);
	vfd_kick(&d, RXQ);
}

/* Take what the device completed: rx packets into the inbox, tx chains
 * counted; keep rx_target buffers posted. */
static void collect(void)
{
	uint32_t id, len;

	if (inbox_next == inbox_n) {
		inbox_n = inbox_next = 0;
		rxdata_len = 0;
	}
	while (vfd_used(&d, RXQ, &id, &len)) {
		struct rxpkt *p;

		assert_true(id < QSIZE && rx_gpa[id]);
		assert_true(inbox_n < INBOX_MAX);
		assert_true(len <= rx_size[id]); /* never past the buffer */
		p = &inbox[inbox_n++];
		memset(p, 0, sizeof(*p));
		p->used_len = len;
		if (len >= HDR) {
			hdr_get(host(rx_gpa[id], HDR), &p->h);
			assert_int_equal(len, HDR + p->h.len);
			assert_true(rxdata_len + p->h.len <= RXDATA_MAX);
			p->off = rxdata_len;
			memcpy(rxdata + rxdata_len, host(rx_gpa[id] + HDR, p->h.len),
			       p->h.len);
			rxdata_len += p->h.len;
		}
		rx_gpa[id] = 0;
		rx_out--;
	}
	while (vfd_used(&d, TXQ, &id, &len)) {
		assert_int_equal(len, 0); /* tx buffers are read-only */
		tx_done++;
	}
	if (rx_out < rx_target)
		post_rx(rx_target - rx_out);
}

/* Run the loop's handlers here until nothing happens for a few rounds.
 * Returns how many handler calls there were. */
static unsigned int pump(void)
{
	unsigned int calls = 0, idle = 0;

	for (unsigned int round = 0; idle < 2; round++) {
		int n;

		assert_true(round < 100000); /* the device must go quiet */
		n = evloop_dispatch(&loop, 0);
		assert_true(n >= 0);
		calls += (unsigned int)n;
		collect();
		idle = n > 0 ? 0 : idle + 1;
	}
	return calls;
}

static struct rxpkt *next_pkt(void)
{
	pump();
	return inbox_next < inbox_n ? &inbox[inbox_next++] : NULL;
}

static const uint8_t *payload(const struct rxpkt *p)
{
	return rxdata + p->off;
}

/* The next packet must be `op` (for g's connection, when g is given). */
static struct rxpkt *expect_op(struct gconn *g, uint16_t op)
{
	struct rxpkt *p = next_pkt();

	assert_non_null(p);
	assert_true(p->used_len >= HDR);
	if (p->h.op != op)
		fail_msg("expected op %u, got op %u (len %u)", op, p->h.op, p->h.len);
	assert_int_equal(p->h.type, STREAM);
	if (g) {
		assert_int_equal(p->h.src_cid, 2);
		assert_int_equal(p->h.dst_cid, CID);
		assert_int_equal(p->h.src_port, g->hport);
		assert_int_equal(p->h.dst_port, g->gport);
		if (op != OP(RST)) /* an RST for no connection has no credit */
			assert_int_equal(p->h.buf_alloc, VSOCK_BUF_ALLOC);
		g->peer_buf_alloc = p->h.buf_alloc;
		g->peer_fwd_cnt = p->h.fwd_cnt;
		if (op == OP(RW))
			g->fwd_cnt += p->h.len; /* the test consumes at once */
	}
	return p;
}

static void expect_none(void)
{
	struct rxpkt *p = next_pkt();

	if (p)
		fail_msg("unexpected packet op %u len %u", p->h.op, p->h.len);
}

/* ---- the guest's tx queue --------------------------------------------------------- */

static void gsend(struct hdr h, const void *data, uint32_t len)
{
	h.len = len;
	if (!len) {
		uint64_t gpa = HDRBUF + (hdr_slot++ % HDR_SLOTS) * 64;
		const struct vfd_buf b = { gpa, HDR, false };

		hdr_put(host(gpa, HDR), &h);
		vfd_post(&d, TXQ, &b, 1);
	} else {
		uint64_t gpa = TXBUF + (tx_slot++ % TX_SLOTS) * TX_SLOT;
		const struct vfd_buf b[2] = { { gpa, HDR, false },
					      { gpa + 64, len, false } };

		assert_true(len <= TX_SLOT - 64);
		hdr_put(host(gpa, HDR), &h);
		memcpy(host(gpa + 64, len), data, len);
		vfd_post(&d, TXQ, b, 2);
	}
	vfd_kick(&d, TXQ);
}

static struct hdr ghdr(const struct gconn *g, uint16_t op, uint32_t flags)
{
	return (struct hdr){ .src_cid = CID, .dst_cid = 2, .src_port = g->gport,
			     .dst_port = g->hport, .type = STREAM, .op = op,
			     .flags = flags, .buf_alloc = g->buf_alloc,
			     .fwd_cnt = g->fwd_cnt };
}

static void gctl(struct gconn *g, uint16_t op, uint32_t flags)
{
	gsend(ghdr(g, op, flags), NULL, 0);
}

/* Send data within the device's credit, as a driver must. */
static void gwrite(struct gconn *g, const void *data, uint32_t len)
{
	assert_true(g->tx_cnt - g->peer_fwd_cnt + len <= g->peer_buf_alloc);
	gsend(ghdr(g, OP(RW), 0), data, len);
	g->tx_cnt += len;
}

/* ---- host sockets -------------------------------------------------------------- */

static void set_addr(struct sockaddr_un *sa, const char *p)
{
	size_t n = strlen(p);

	assert_true(n < sizeof(sa->sun_path));
	memcpy(sa->sun_path, p, n + 1);
}

static int unix_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	return fd;
}

static int client_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = unix_socket();

	set_addr(&sa, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void client_write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned int tries = 0; done < len; tries++) {
		ssize_t w = send(fd, (const char *)buf + done, len - done,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		assert_true(tries < 10000);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		assert_true(w < 0 && errno == EAGAIN);
		pump();
	}
	pump();
}

static void client_write_str(int fd, const char *s)
{
	client_write_all(fd, s, strlen(s));
}

static void client_read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	for (unsigned int tries = 0; got < len; tries++) {
		ssize_t r = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);

		assert_true(tries < 10000);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			fail_msg("EOF after %zu of %zu bytes", got, len);
		assert_true(errno == EAGAIN);
		pump();
	}
}

/* After pumping: 1 when the peer closed (EOF or reset), 0 when the socket is
 * open with nothing to read, -1 when there are bytes. */
static int client_state(int fd)
{
	char c;
	ssize_t r;

	pump();
	r = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
	if (r == 0 || (r < 0 && errno == ECONNRESET))
		return 1;
	if (r < 0 && errno == EAGAIN)
		return 0;
	return -1;
}

/* A listening socket at PATH_port, for guest-initiated connections. */
static int host_listen(uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = unix_socket();

	assert_true(nr_extra < 8);
	snprintf(extra_paths[nr_extra], sizeof(extra_paths[0]), "%s_%u", path, port);
	set_addr(&sa, extra_paths[nr_extra]);
	nr_extra++;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 64), 0);
	return fd;
}

/* ---- connections ---------------------------------------------------------------- */

/* A host client says CONNECT port; the guest accepts with buf_alloc.
 * Returns the client's fd. `early` is sent in the same write as the line. */
static int host_conn(struct gconn *g, uint32_t port, uint32_t buf_alloc,
		     const char *early)
{
	char line[96], ok[32];
	int fd = client_connect(), n;
	struct rxpkt *p;

	snprintf(line, sizeof(line), "CONNECT %u\n%s", port, early ? early : "");
	client_write_str(fd, line);
	p = expect_op(NULL, OP(REQUEST));
	assert_int_equal(p->h.src_cid, 2);
	assert_int_equal(p->h.dst_cid, CID);
	assert_int_equal(p->h.dst_port, port);
	assert_int_equal(p->h.len, 0);
	assert_int_equal(p->h.buf_alloc, VSOCK_BUF_ALLOC);
	assert_int_equal(p->h.fwd_cnt, 0);
	*g = (struct gconn){ .gport = port, .hport = p->h.src_port,
			     .buf_alloc = buf_alloc, .peer_buf_alloc = p->h.buf_alloc,
			     .peer_fwd_cnt = p->h.fwd_cnt };
	/* No OK before the guest answers. */
	assert_int_equal(client_state(fd), 0);
	gctl(g, OP(RESPONSE), 0);
	n = snprintf(ok, sizeof(ok), "OK %u\n", g->hport);
	memset(line, 0, sizeof(line));
	client_read_exact(fd, line, (size_t)n);
	assert_memory_equal(line, ok, (size_t)n);
	return fd;
}

/* The guest connects from gport to PATH_port (listener lfd). Returns the
 * accepted host fd. */
static int guest_conn(struct gconn *g, int lfd, uint32_t port, uint32_t gport,
		      uint32_t buf_alloc)
{
	int fd;

	*g = (struct gconn){ .gport = gport, .hport = port, .buf_alloc = buf_alloc };
	gctl(g, OP(REQUEST), 0);
	expect_op(g, OP(RESPONSE));
	assert_int_equal(g->peer_fwd_cnt, 0);
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Read RW packets for g until `len` bytes arrived; check them against buf. */
static void guest_read_exact(struct gconn *g, const void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct rxpkt *p = expect_op(g, OP(RW));

		assert_true(got + p->h.len <= len);
		assert_memory_equal(payload(p), (const char *)buf + got, p->h.len);
		got += p->h.len;
	}
}

static struct vsock_stats stats(void)
{
	struct vsock_stats st;

	vsock_get_stats(vs, &st);
	return st;
}

/* ---- fixtures ------------------------------------------------------------------- */

static void bringup(uint64_t features)
{
	assert_true(vfd_bringup(&d, features, 3, QSIZE, RINGS));
	memset(rx_gpa, 0, sizeof(rx_gpa));
	rx_out = 0;
	inbox_n = inbox_next = 0;
	rxdata_len = 0;
	collect(); /* posts rx_target buffers */
	pump();
}

static int setup(void **state)
{
	const struct gm_region r = { .gpa = 0, .size = RAM_SIZE };
	char why[128] = "";

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vsock-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	nr_extra = 0;
	assert_int_equal(gm_create(&mem, &r, 1), 0);
	assert_int_equal(evloop_init(&loop), 0);
	if (vsock_create(&vs, &mem, &loop, CID, path, why, sizeof(why)))
		fail_msg("vsock_create: %s", why);
	vfd_init(&d, vsock_dev(vs), &mem);
	if (!rxdata)
		rxdata = malloc(RXDATA_MAX);
	assert_non_null(rxdata);
	rx_len = 4096;
	rx_target = 16;
	rx_slot = tx_slot = hdr_slot = tx_done = 0;
	bringup(F_V1);
	return 0;
}

static int teardown(void **state)
{
	struct stat st;

	(void)state;
	vsock_destroy(vs ? vsock_dev(vs) : NULL);
	vs = NULL;
	/* destroy unlinks its socket */
	assert_int_equal(lstat(path, &st), -1);
	for (unsigned int i = 0; i < nr_extra; i++)
		unlink(extra_paths[i]);
	rmdir(dir);
	evloop_destroy(&loop);
	gm_destroy(&mem);
	return 0;
}

/* ---- tests --------------------------------------------------------------------- */

static void identity(void **state)
{
	uint8_t cfg[8];

	(void)state;
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES),
			 (uint32_t)VIRTIO_RING_FEATURES); /* no SEQPACKET */
	vfd_wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 */
	for (unsigned int q = 0; q < 4; q++) {
		vfd_wr(&d, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(vfd_rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX),
				 q < 3 ? QSIZE : 0);
	}
	vmmio_read(vsock_dev(vs), 0x100, cfg, 8);
	assert_int_equal(get_le64(cfg), CID);
	assert_int_equal(vfd_rd(&d, 0x104), 0);
	vfd_wr(&d, 0x100, 77); /* read-only */
	assert_int_equal(vfd_rd(&d, 0x100), CID);
}

static void create_errors(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock *v = NULL;
	char why[128], p[200], longp[120];
	int fd, lfd;

	(void)state;
	assert_int_equal(vsock_create(&v, &mem, &loop, 2, "/tmp/x", why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(vsock_create(&v, &mem, &loop, 0xffffffffull, "/tmp/x", why,
				      sizeof(why)), -EINVAL);
	assert_int_equal(vsock_create(&v, &mem, &loop, 1ull << 32, "/tmp/x", why,
				      sizeof(why)), -EINVAL);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = 0;
	assert_int_equal(vsock_create(&v, &mem, &loop, CID, longp, why, sizeof(why)),
			 -ENAMETOOLONG);
	/* A regular file is left alone. */
	snprintf(p, sizeof(p), "%s/file", dir);
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(vsock_create(&v, &mem, &loop, CID, p, why, sizeof(why)),
			 -EEXIST);
	assert_non_null(strstr(why, "not a socket"));
	unlink(p);
	/* A live socket (ours) is left alone. */
	assert_int_equal(vsock_create(&v, &mem, &loop, CID, path, why, sizeof(why)),
			 -EADDRINUSE);
	assert_null(v);
	/* A stale socket (bound, nobody listening) is replaced. */
	snprintf(p, sizeof(p), "%s/stale.sock", dir);
	set_addr(&sa, p);
	lfd = unix_socket();
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(lfd);
	assert_int_equal(vsock_create(&v, &mem, &loop, CID, p, why, sizeof(why)), 0);
	fd = unix_socket();
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	vsock_destroy(vsock_dev(v));
	assert_int_equal(access(p, F_OK), -1);
	vsock_destroy(NULL);
}

static void host_initiated(void **state)
{
	static const char to_guest[] = "hello guest", to_host[] = "hello host";
	struct gconn g, g2;
	char buf[64];
	int fd, fd2;

	(void)state;
	/* Bytes written right after the line reach the guest after OK. */
	fd = host_conn(&g, 5000, 64 * 1024, "early");
	assert_int_equal(g.hport, VSOCK_HOST_PORT_FIRST);
	guest_read_exact(&g, "early", 5);
	client_write_str(fd, to_guest);
	guest_read_exact(&g, to_guest, strlen(to_guest));
	gwrite(&g, to_host, sizeof(to_host));
	client_read_exact(fd, buf, sizeof(to_host));
	assert_memory_equal(buf, to_host, sizeof(to_host));
	/* A second client gets the next port; the first is unaffected. */
	fd2 = host_conn(&g2, 5000, 64 * 1024, NULL);
	assert_int_equal(g2.hport, VSOCK_HOST_PORT_FIRST + 1);
	client_write_str(fd2, "two");
	client_write_str(fd, "one");
	pump();
	guest_read_exact(&g2, "two", 3);
	guest_read_exact(&g, "one", 3);
	assert_int_equal(stats().conns, 2);
	assert_int_equal(stats().buffered, 0);
	close(fd);
	close(fd2);
}

static void host_refused(void **state)
{
	struct gconn g;
	struct rxpkt *p;
	int fd = client_connect();

	(void)state;
	client_write_str(fd, "CONNECT 6000\nlost");
	p = expect_op(NULL, OP(REQUEST));
	g = (struct gconn){ .gport = 6000, .hport = p->h.src_port };
	/* Nobody listens in the guest: RST. The client is closed, no OK. */
	gctl(&g, OP(RST), 0);
	assert_int_equal(client_state(fd), 1);
	expect_none(); /* no RST back for an RST */
	assert_int_equal(stats().conns, 0);
	close(fd);
}

static void bad_lines(void **state)
{
	static const char *const bad[] = {
		"HELLO\n", "CONNECT\n", "CONNECT \n", "CONNECT abc\n", "CONNECT 12x\n",
		"connect 5\n", "CONNECT -5\n", "CONNECT 99999999999\n",
		"CONNECT 4294967295\n", "CONNECT 5 \n",
		"CONNECT 55555555555555555555555555555555555555555555555555555555555",
	};
	char big[200];
	int fd;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		fd = client_connect();
		client_write_str(fd, bad[i]);
		if (client_state(fd) != 1)
			fail_msg("line %zu not refused", i);
		close(fd);
	}
	/* No newline within the cap. */
	fd = client_connect();
	memset(big, 'C', sizeof(big));
	client_write_all(fd, big, sizeof(big));
	assert_int_equal(client_state(fd), 1);
	close(fd);
	/* A client that leaves before its line. */
	fd = client_connect();
	client_write_str(fd, "CONN");
	close(fd);
	pump();
	expect_none();
	assert_int_equal(stats().conns, 0);
	/* A line in pieces, with \r\n, is fine. */
	fd = client_connect();
	client_write_str(fd, "CONN");
	client_write_str(fd, "ECT 42");
	assert_int_equal(stats().conns, 1);
	client_write_str(fd, "\r\n");
	assert_int_equal(expect_op(NULL, OP(REQUEST))->h.dst_port, 42);
	close(fd);
}

static void guest_initiated(void **state)
{
	struct gconn g;
	char buf[16];
	int lfd = host_listen(5000), fd;

	(void)state;
	fd = guest_conn(&g, lfd, 5000, 1234, 64 * 1024);
	gwrite(&g, "ping", 4);
	pump();
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(send(fd, "pong!", 5, MSG_NOSIGNAL), 5);
	guest_read_exact(&g, "pong!", 5);
	/* A second guest socket to the same port is another connection. */
	{
		struct gconn g2;
		int fd2 = guest_conn(&g2, lfd, 5000, 1235, 64 * 1024);

		assert_int_equal(send(fd2, "2", 1, MSG_NOSIGNAL), 1);
		guest_read_exact(&g2, "2", 1);
		close(fd2);
	}
	close(fd);
	close(lfd);
}

static void guest_refused(void **state)
{
	struct gconn g = { .gport = 2000, .hport = 5001, .buf_alloc = 4096 };
	struct hdr h;
	struct rxpkt *p;

	(void)state;
	/* Nobody at PATH_5001. */
	gctl(&g, OP(REQUEST), 0);
	expect_op(&g, OP(RST));
	assert_int_equal(stats().conns, 0);
	/* Another CID than the host's. */
	h = ghdr(&g, OP(REQUEST), 0);
	h.dst_cid = 7;
	gsend(h, NULL, 0);
	p = expect_op(NULL, OP(RST));
	assert_int_equal(p->h.src_cid, 7);
	assert_int_equal(p->h.dst_cid, CID);
	assert_int_equal(p->h.dst_port, 2000);
	/* An unknown type (5.10.6.4). */
	h = ghdr(&g, OP(REQUEST), 0);
	h.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	gsend(h, NULL, 0);
	p = next_pkt();
	assert_non_null(p);
	assert_int_equal(p->h.op, OP(RST));
	assert_int_equal(p->h.type, VIRTIO_VSOCK_TYPE_SEQPACKET);
	/* Packets for no connection: RST, but never for an RST. */
	gsend(ghdr(&g, OP(RW), 0), "x", 1);
	expect_op(&g, OP(RST));
	gctl(&g, OP(CREDIT_REQUEST), 0);
	expect_op(&g, OP(RST));
	gctl(&g, OP(SHUTDOWN), 3);
	expect_op(&g, OP(RST));
	gctl(&g, OP(RST), 0);
	expect_none();
	assert_int_equal(stats().conns, 0);
}

static void credit_host_to_guest(void **state)
{
	enum { TOTAL = 50000 };
	static uint8_t data[TOTAL];
	struct gconn g;
	size_t got = 0;
	struct rxpkt *p;
	int fd;

	(void)state;
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = pattern(i);
	fd = host_conn(&g, 7000, 10000, NULL);
	client_write_all(fd, data, TOTAL);
	/* Plenty of rx buffers, but 10000 bytes of credit. */
	while ((p = next_pkt())) {
		assert_int_equal(p->h.op, OP(RW));
		assert_memory_equal(payload(p), data + got, p->h.len);
		got += p->h.len;
	}
	assert_int_equal(got, 10000);
	/* The guest read 4000 bytes: 4000 more. */
	g.fwd_cnt = 4000;
	gctl(&g, OP(CREDIT_UPDATE), 0);
	while ((p = next_pkt())) {
		assert_int_equal(p->h.op, OP(RW));
		assert_memory_equal(payload(p), data + got, p->h.len);
		got += p->h.len;
	}
	assert_int_equal(got, 14000);
	/* A bigger buffer and everything read: the rest. */
	g.fwd_cnt = 14000;
	g.buf_alloc = 1 << 20;
	gctl(&g, OP(CREDIT_UPDATE), 0);
	guest_read_exact(&g, data + got, TOTAL - got);
	/* A guest that shrinks its buffer below what is in flight gets
	 * nothing, not a wrapped-around credit. */
	g.buf_alloc = 100;
	g.fwd_cnt = TOTAL - 1000;
	gctl(&g, OP(CREDIT_UPDATE), 0);
	client_write_str(fd, "more");
	expect_none();
	close(fd);
}

static void credit_updates(void **state)
{
	enum { TOTAL = 192 * 1024, CHUNK = 32 * 1024 };
	static uint8_t data[TOTAL], back[TOTAL];
	struct gconn g;
	struct rxpkt *p;
	bool update = false;
	int lfd = host_listen(5000), fd;

	(void)state;
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = pattern(i);
	fd = guest_conn(&g, lfd, 5000, 1100, 64 * 1024);
	assert_int_equal(g.peer_buf_alloc, VSOCK_BUF_ALLOC);
	/* CREDIT_REQUEST -> CREDIT_UPDATE. */
	gctl(&g, OP(CREDIT_REQUEST), 0);
	p = expect_op(&g, OP(CREDIT_UPDATE));
	assert_int_equal(p->h.fwd_cnt, 0);
	/* The host reads everything: fwd_cnt advances; the device tells the
	 * guest before it runs out of credit (it has no data to carry it). */
	for (size_t off = 0; off < TOTAL; off += CHUNK) {
		gwrite(&g, data + off, CHUNK);
		pump();
		client_read_exact(fd, back + off, CHUNK);
		while ((p = next_pkt())) {
			assert_int_equal(p->h.op, OP(CREDIT_UPDATE));
			assert_true(p->h.fwd_cnt >= VSOCK_CREDIT_UPDATE_AT);
			g.peer_fwd_cnt = p->h.fwd_cnt;
			update = true;
		}
	}
	assert_true(update);
	assert_memory_equal(back, data, TOTAL);
	gctl(&g, OP(CREDIT_REQUEST), 0);
	p = expect_op(&g, OP(CREDIT_UPDATE));
	assert_int_equal(p->h.fwd_cnt, TOTAL);
	close(fd);
	close(lfd);
}

/* The guest stops taking data: nothing piles up in the host, the client's
 * writes block, the loop goes quiet; once the guest reads again, every
 * byte arrives in order. */
static void guest_stops_reading(void **state)
{
	enum { CAP = 64 << 20, CHUNK = 64 * 1024 };
	uint8_t *data = malloc(CAP);
	struct gconn g;
	size_t sent = 0, got = 0;
	struct rxpkt *p;
	int fd;

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < CAP; i++)
		data[i] = pattern(i);
	fd = host_conn(&g, 8000, 1 << 30, NULL);
	rx_target = 0; /* the guest posts no more rx buffers */
	for (unsigned int i = 0; sent < CAP; i++) {
		ssize_t w = send(fd, data + sent, CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0) {
			assert_int_equal(errno, EAGAIN);
			pump();
			w = send(fd, data + sent, CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0 && errno == EAGAIN)
				break; /* blocked for good */
		}
		assert_true(w > 0);
		sent += (size_t)w;
	}
	assert_true(sent < 8u << 20); /* socket buffers and 16 rx buffers */
	assert_int_equal(pump(), 0);  /* nothing to do, nothing watched */
	assert_int_equal(stats().buffered, 0);
	assert_int_equal(stats().buffer_capacity, 0);
	/* The guest reads again. */
	while (got < sent) {
		rx_target = 32;
		p = next_pkt();
		if (!p)
			continue;
		assert_int_equal(p->h.op, OP(RW));
		assert_memory_equal(payload(p), data + got, p->h.len);
		got += p->h.len;
	}
	assert_int_equal(got, sent);
	close(fd);
	expect_op(&g, OP(SHUTDOWN));
	gctl(&g, OP(RST), 0);
	pump();
	assert_int_equal(stats().conns, 0);
	/* Same with rx buffers but no credit left: the guest never sends a
	 * credit update. */
	fd = host_conn(&g, 8001, 100000, NULL);
	for (sent = 0; sent < CAP;) {
		ssize_t w = send(fd, data + sent, CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0) {
			pump();
			w = send(fd, data + sent, CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0)
				break;
		}
		sent += (size_t)w;
	}
	assert_true(sent < 8u << 20);
	for (got = 0; (p = next_pkt());) {
		assert_int_equal(p->h.op, OP(RW));
		got += p->h.len;
	}
	assert_int_equal(got, 100000);
	assert_int_equal(pump(), 0);
	close(fd);
	free(data);
}

/* Guest -> host into a host socket nobody reads: the device keeps what the
 * credit allows; one byte more resets the connection. */
static void guest_exceeds_credit(void **state)
{
	enum { CHUNK = 64 * 1024 };
	static uint8_t data[VSOCK_BUF_ALLOC + 1], back[VSOCK_BUF_ALLOC];
	struct gconn g;
	struct vsock_stats st;
	size_t got = 0;
	int lfd = host_listen(5000), fd;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = pattern(i);
	/* One rx buffer, for the RESPONSE: without more the guest hears of
	 * no credit update. */
	rx_target = 0;
	bringup(F_V1);
	post_rx(1);
	fd = guest_conn(&g, lfd, 5000, 1200, 64 * 1024);
	for (size_t off = 0; off < VSOCK_BUF_ALLOC; off += CHUNK) {
		gwrite(&g, data + off, CHUNK);
		pump();
	}
	st = stats();
	assert_int_equal(st.conns, 1);
	assert_true(st.buffered <= VSOCK_BUF_ALLOC);
	assert_true(st.buffer_capacity <= VSOCK_BUF_ALLOC);
	/* The guest's credit is used up; a well-behaved guest stops here. */
	assert_int_equal(g.tx_cnt - g.peer_fwd_cnt, g.peer_buf_alloc);
	gsend(ghdr(&g, OP(RW), 0), data + VSOCK_BUF_ALLOC, 1);
	pump();
	st = stats();
	assert_int_equal(st.buffered, 0);
	assert_int_equal(st.buffer_capacity, 0);
	/* The host sees what was written before, then EOF. */
	for (;;) {
		ssize_t r = recv(fd, back + got, sizeof(back) - got, MSG_DONTWAIT);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	assert_true(got <= VSOCK_BUF_ALLOC);
	assert_memory_equal(back, data, got);
	assert_int_equal(client_state(fd), 1);
	/* The guest gets its RST once it posts rx buffers; then the slot is
	 * free. Data packets sent meanwhile are ignored. */
	gsend(ghdr(&g, OP(RW), 0), "late", 4);
	rx_target = 4;
	expect_op(&g, OP(RST));
	expect_none();
	assert_int_equal(stats().conns, 0);
	close(fd);
	close(lfd);
}

/* The host does not read for a while, then does: all the credit's worth
 * arrives; nothing is reset. */
static void guest_to_slow_host(void **state)
{
	enum { TOTAL = 2 * VSOCK_BUF_ALLOC, CHUNK = 16 * 1024 };
	static uint8_t data[TOTAL], back[TOTAL];
	struct gconn g;
	struct rxpkt *p;
	size_t sent = 0, got = 0;
	int lfd = host_listen(5000), fd;

	(void)state;
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = pattern(i * 3);
	fd = guest_conn(&g, lfd, 5000, 1300, 64 * 1024);
	for (unsigned int round = 0; got < TOTAL; round++) {
		assert_true(round < 10000);
		/* Send what the credit allows. */
		while (sent < TOTAL &&
		       g.tx_cnt - g.peer_fwd_cnt + CHUNK <= g.peer_buf_alloc) {
			gwrite(&g, data + sent, CHUNK);
			sent += CHUNK;
			if (sent % (8 * CHUNK) == 0)
				pump();
		}
		while ((p = next_pkt())) {
			assert_int_equal(p->h.op, OP(CREDIT_UPDATE));
			g.peer_fwd_cnt = p->h.fwd_cnt;
		}
		assert_true(stats().buffered <= VSOCK_BUF_ALLOC);
		/* The host reads only every other round. */
		if (round % 2) {
			ssize_t r = recv(fd, back + got, TOTAL - got, MSG_DONTWAIT);

			if (r > 0)
				got += (size_t)r;
		}
	}
	assert_memory_equal(back, data, TOTAL);
	assert_int_equal(stats().conns, 1);
	close(fd);
	close(lfd);
}

static void malformed_chains(void **state)
{
	struct gconn g = { .gport = 3000, .hport = 5000, .buf_alloc = 4096 };
	struct hdr h = ghdr(&g, OP(RW), 0);
	uint64_t gpa = SPARE;
	unsigned int before;
	struct rxpkt *p;
	int lfd, fd;

	(void)state;
	/* A header of 20 bytes. */
	{
		const struct vfd_buf b = { gpa, 20, false };

		hdr_put(host(gpa, HDR), &h);
		vfd_post(&d, TXQ, &b, 1);
	}
	/* len 1000 with 100 bytes behind the header. */
	{
		const struct vfd_buf b[2] = { { gpa + 0x100, HDR, false },
					      { gpa + 0x200, 100, false } };

		h.len = 1000;
		hdr_put(host(gpa + 0x100, HDR), &h);
		vfd_post(&d, TXQ, b, 2);
	}
	/* len 1 MiB with 1 MiB behind the header: over the cap. */
	{
		const struct vfd_buf b[2] = { { gpa + 0x1000, HDR, false },
					      { gpa + 0x10000, 1 << 20, false } };

		h.len = 1 << 20;
		hdr_put(host(gpa + 0x1000, HDR), &h);
		vfd_post(&d, TXQ, b, 2);
	}
	/* len 0xffffffff. */
	h.len = 0xffffffffu;
	hdr_put(host(gpa + 0x2000, HDR), &h);
	vfd_desc(&d, TXQ, 200, gpa + 0x2000, HDR, 0, 0);
	vfd_publish(&d, TXQ, 200);
	/* A source CID that is not the guest's. */
	h = ghdr(&g, OP(RW), 0);
	h.src_cid = 4;
	gsend(h, NULL, 0);
	/* A descriptor loop. */
	vfd_desc(&d, TXQ, 210, gpa, HDR, VRING_DESC_F_NEXT, 210);
	vfd_publish(&d, TXQ, 210);
	before = tx_done;
	vfd_kick(&d, TXQ);
	expect_none(); /* dropped without an answer */
	assert_int_equal(tx_done - before, 6);
	/* A header split over two buffers is fine: RST for no connection. */
	{
		const struct vfd_buf b[2] = { { gpa + 0x3000, 20, false },
					      { gpa + 0x3014, HDR - 20, false } };

		h = ghdr(&g, OP(RW), 0);
		h.len = 0;
		hdr_put(host(gpa + 0x3000, HDR), &h);
		vfd_post(&d, TXQ, b, 2);
		vfd_kick(&d, TXQ);
	}
	expect_op(&g, OP(RST));
	/* rx buffers: a readable one and a short one are completed empty;
	 * the RST goes to the next good one. Drop the posted buffers first. */
	rx_target = 0;
	bringup(F_V1);
	post_rx_buf(gpa + 0x4000, 4096, false);
	post_rx_buf(gpa + 0x5000, HDR - 1, true);
	post_rx_buf(gpa + 0x6000, 4096, true);
	vfd_kick(&d, RXQ);
	gctl(&g, OP(RW), 0);
	p = next_pkt();
	assert_non_null(p);
	assert_int_equal(p->used_len, 0);
	p = next_pkt();
	assert_non_null(p);
	assert_int_equal(p->used_len, 0);
	p = next_pkt();
	assert_non_null(p);
	assert_int_equal(p->h.op, OP(RST));
	assert_false(vfd_status(&d) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* The device still works. */
	rx_target = 16;
	collect();
	lfd = host_listen(5000);
	fd = guest_conn(&g, lfd, 5000, 3001, 4096);
	gwrite(&g, "ok", 2);
	client_read_exact(fd, (char[2]){ 0 }, 2);
	close(fd);
	close(lfd);
}

/* Host first: EOF -> SHUTDOWN(SEND); the guest can still send; its
 * SHUTDOWN ends the connection with RST. */
static void shutdown_host_first(void **state)
{
	struct gconn g;
	struct rxpkt *p;
	char buf[8];
	int fd;

	(void)state;
	fd = host_conn(&g, 9000, 64 * 1024, NULL);
	client_write_str(fd, "bye");
	shutdown(fd, SHUT_WR);
	guest_read_exact(&g, "bye", 3);
	p = expect_op(&g, OP(SHUTDOWN));
	assert_int_equal(p->h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	gwrite(&g, "still", 5);
	client_read_exact(fd, buf, 5);
	assert_memory_equal(buf, "still", 5);
	gctl(&g, OP(SHUTDOWN), VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV);
	expect_op(&g, OP(RST));
	assert_int_equal(client_state(fd), 1);
	assert_int_equal(stats().conns, 0);
	close(fd);
}

/* Guest first: SHUTDOWN(SEND) -> the host reads EOF after the data; the
 * host can still send; its EOF then ends the connection. */
static void shutdown_guest_first(void **state)
{
	struct gconn g;
	char buf[8];
	int lfd = host_listen(5000), fd;

	(void)state;
	fd = guest_conn(&g, lfd, 5000, 1400, 64 * 1024);
	gwrite(&g, "data", 4);
	gctl(&g, OP(SHUTDOWN), VIRTIO_VSOCK_SHUTDOWN_SEND);
	client_read_exact(fd, buf, 4);
	assert_memory_equal(buf, "data", 4);
	assert_int_equal(client_state(fd), 1); /* EOF */
	assert_int_equal(send(fd, "back", 4, MSG_NOSIGNAL), 4);
	guest_read_exact(&g, "back", 4);
	assert_int_equal(stats().conns, 1);
	close(fd);
	expect_op(&g, OP(SHUTDOWN));
	expect_op(&g, OP(RST));
	assert_int_equal(stats().conns, 0);
	/* SHUTDOWN(RCV): the device stops reading the host; with SEND too,
	 * the connection ends. */
	fd = guest_conn(&g, lfd, 5000, 1401, 64 * 1024);
	gctl(&g, OP(SHUTDOWN), VIRTIO_VSOCK_SHUTDOWN_RCV);
	assert_int_equal(send(fd, "unread", 6, MSG_NOSIGNAL), 6);
	expect_none();
	gctl(&g, OP(SHUTDOWN), VIRTIO_VSOCK_SHUTDOWN_SEND);
	expect_op(&g, OP(RST));
	assert_int_equal(client_state(fd), 1);
	close(fd);
	close(lfd);
}

static void resets(void **state)
{
	struct gconn g;
	int lfd = host_listen(5000), fd;

	(void)state;
	/* Guest RST: the host socket closes at once. */
	fd = guest_conn(&g, lfd, 5000, 1500, 64 * 1024);
	gctl(&g, OP(RST), 0);
	assert_int_equal(client_state(fd), 1);
	expect_none();
	close(fd);
	/* The host socket is gone and the guest writes: RST. */
	fd = host_conn(&g, 9100, 64 * 1024, NULL);
	close(fd);
	expect_op(&g, OP(SHUTDOWN));
	gwrite(&g, "x", 1);
	expect_op(&g, OP(RST));
	assert_int_equal(stats().conns, 0);
	/* RESPONSE for a connection that is established: RST. */
	fd = guest_conn(&g, lfd, 5000, 1501, 64 * 1024);
	gctl(&g, OP(RESPONSE), 0);
	expect_op(&g, OP(RST));
	assert_int_equal(client_state(fd), 1);
	close(fd);
	/* An unknown op: RST. */
	fd = guest_conn(&g, lfd, 5000, 1502, 64 * 1024);
	gctl(&g, 99, 0);
	expect_op(&g, OP(RST));
	close(fd);
	/* A REQUEST for a live tuple replaces it. */
	fd = guest_conn(&g, lfd, 5000, 1503, 64 * 1024);
	{
		int fd2 = guest_conn(&g, lfd, 5000, 1503, 64 * 1024);

		assert_int_equal(client_state(fd), 1);
		assert_int_equal(client_state(fd2), 0);
		assert_int_equal(stats().conns, 1);
		close(fd2);
	}
	close(fd);
	close(lfd);
}

static void device_reset(void **state)
{
	struct gconn gh, gg;
	struct rxpkt *p;
	int lfd = host_listen(5000), hfd, gfd, waiting, early;

	(void)state;
	hfd = host_conn(&gh, 5000, 64 * 1024, NULL);
	gfd = guest_conn(&gg, lfd, 5000, 1600, 64 * 1024);
	client_write_str(hfd, "unread by the guest");
	waiting = client_connect(); /* no line yet */
	pump();
	assert_int_equal(stats().conns, 3);
	vfd_wr(&d, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(client_state(hfd), 1);
	assert_int_equal(client_state(gfd), 1);
	assert_int_equal(client_state(waiting), 0); /* the guest never heard of it */
	assert_int_equal(stats().conns, 1);
	/* A client that says CONNECT while there is no driver waits for one. */
	early = client_connect();
	client_write_str(early, "CONNECT 77\n");
	assert_int_equal(stats().conns, 2);
	bringup(F_V1 | VIRTIO_RING_FEATURES);
	p = expect_op(NULL, OP(REQUEST));
	assert_int_equal(p->h.dst_port, 77);
	client_write_str(waiting, "CONNECT 78\n");
	p = expect_op(NULL, OP(REQUEST));
	assert_int_equal(p->h.dst_port, 78);
	close(hfd);
	close(gfd);
	close(waiting);
	close(early);
	close(lfd);
}

/* One turn serves at most VSOCK_TX_BATCH tx chains; a guest that never
 * takes its rx buffers stalls the tx queue once VSOCK_MAX_PENDING_RST
 * replies wait, and loses none of them. */
static void limits_and_backpressure(void **state)
{
	enum { N = 200 };
	struct gconn g;
	struct epoll_event ev;
	unsigned int before, rsts = 0;
	struct rxpkt *p;
	int lfd = host_listen(5000), fd;

	(void)state;
	fd = guest_conn(&g, lfd, 5000, 1700, 64 * 1024);
	pump();
	before = tx_done;
	for (unsigned int i = 0; i < N; i++)
		gsend(ghdr(&g, OP(CREDIT_UPDATE), 0), NULL, 0);
	/* One handler call: the kick. */
	assert_int_equal(epoll_wait(loop.epfd, &ev, 1, 0), 1);
	((struct ev_handler *)ev.data.ptr)->cb(ev.data.ptr, ev.events);
	collect();
	assert_int_equal(tx_done - before, VSOCK_TX_BATCH);
	pump(); /* it kicked itself for the rest */
	assert_int_equal(tx_done - before, N);
	expect_none();

	/* Packets for no connection while the guest takes no rx buffers. */
	rx_target = 0;
	bringup(F_V1);
	before = tx_done;
	for (unsigned int i = 0; i < 100; i++) {
		struct gconn u = { .gport = 4000 + i, .hport = 1 };

		gsend(ghdr(&u, OP(RW), 0), NULL, 0);
	}
	pump();
	assert_int_equal(tx_done - before, VSOCK_MAX_PENDING_RST);
	assert_int_equal(stats().pending_rst, VSOCK_MAX_PENDING_RST);
	rx_target = 16;
	collect();
	while ((p = next_pkt())) {
		assert_int_equal(p->h.op, OP(RST));
		assert_int_equal(p->h.dst_port, 4000 + rsts);
		rsts++;
	}
	assert_int_equal(rsts, 100);
	assert_int_equal(tx_done - before, 100);
	close(fd);
	close(lfd);
}

static void too_many_connections(void **state)
{
	struct rlimit rl;
	int *fds;
	int extra, again;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 2 * VSOCK_MAX_CONNS + 64) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < 2 * VSOCK_MAX_CONNS + 64) {
		skip();
		return;
	}
	fds = calloc(VSOCK_MAX_CONNS, sizeof(*fds));
	assert_non_null(fds);
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
		fds[i] = client_connect();
		if (i % 64 == 63)
			pump();
	}
	pump();
	assert_int_equal(stats().conns, VSOCK_MAX_CONNS);
	extra = client_connect();
	assert_int_equal(client_state(extra), 1); /* refused */
	close(extra);
	/* A slot frees: the next client is served. */
	close(fds[0]);
	pump();
	again = client_connect();
	client_write_str(again, "CONNECT 5\n");
	assert_int_equal(expect_op(NULL, OP(REQUEST))->h.dst_port, 5);
	assert_int_equal(client_state(again), 0);
	close(again);
	for (unsigned int i = 1; i < VSOCK_MAX_CONNS; i++)
		close(fds[i]);
	pump();
	assert_int_equal(stats().conns, 1); /* the last one waits for the guest */
	free(fds);
}

/* A host client sends TOTAL bytes; the guest echoes them back as a Linux
 * guest would (credit both ways, 4 KiB rx buffers); the client gets them
 * back unchanged. */
static void echo_bulk(void **state)
{
	enum { TOTAL = 4 << 20, CHUNK = 64 * 1024 };
	uint8_t *data = malloc(TOTAL), *back = malloc(TOTAL), *echo = malloc(TOTAL);
	size_t sent = 0, got = 0, echo_len = 0, echo_off = 0;
	uint32_t announced = 0;
	struct gconn g;
	int fd;

	(void)state;
	assert_true(data && back && echo);
	for (size_t i = 0; i < TOTAL; i++)
		data[i] = pattern(i * 7);
	rx_target = 32;
	bringup(F_V1 | VIRTIO_RING_FEATURES);
	fd = host_conn(&g, 4242, 256 * 1024, NULL);
	for (unsigned int round = 0; got < TOTAL; round++) {
		struct rxpkt *p;
		unsigned int burst = 0;

		assert_true(round < 200000);
		if (sent < TOTAL) {
			size_t n = TOTAL - sent < CHUNK ? TOTAL - sent : CHUNK;
			ssize_t w = send(fd, data + sent, n, MSG_DONTWAIT | MSG_NOSIGNAL);

			if (w > 0)
				sent += (size_t)w;
		}
		pump();
		while (inbox_next < inbox_n) {
			p = &inbox[inbox_next++];
			assert_true(p->h.op == OP(RW) || p->h.op == OP(CREDIT_UPDATE));
			g.peer_buf_alloc = p->h.buf_alloc;
			g.peer_fwd_cnt = p->h.fwd_cnt;
			if (p->h.op == OP(RW)) {
				/* Credit: never more than the guest allowed. */
				assert_true(echo_len + p->h.len - announced <=
					    g.buf_alloc);
				memcpy(echo + echo_len, payload(p), p->h.len);
				echo_len += p->h.len;
				g.fwd_cnt += p->h.len;
			}
		}
		while (echo_off < echo_len && burst < 8) {
			uint32_t credit = g.peer_buf_alloc - (g.tx_cnt - g.peer_fwd_cnt);
			size_t n = echo_len - echo_off;

			if (n > CHUNK)
				n = CHUNK;
			if (n > credit)
				n = credit;
			if (!n)
				break;
			gwrite(&g, echo + echo_off, (uint32_t)n);
			echo_off += n;
			announced = g.fwd_cnt;
			burst++;
		}
		if (g.fwd_cnt - announced >= 64 * 1024) {
			gctl(&g, OP(CREDIT_UPDATE), 0);
			announced = g.fwd_cnt;
		}
		pump();
		for (;;) {
			ssize_t r = recv(fd, back + got, TOTAL - got, MSG_DONTWAIT);

			if (r <= 0)
				break;
			got += (size_t)r;
		}
	}
	assert_memory_equal(back, data, TOTAL);
	assert_true(stats().buffered <= VSOCK_BUF_ALLOC);
	close(fd);
	free(data);
	free(back);
	free(echo);
}

/* With the real loop thread: handlers on it, the guest on this thread. */
static void real_loop_thread(void **state)
{
	struct gconn g = { .gport = 1800, .hport = 5000, .buf_alloc = 4096 };
	int lfd = host_listen(5000), fd = -1;
	char buf[8];
	unsigned int got = 0;

	(void)state;
	assert_int_equal(evloop_start(&loop), 0);
	gctl(&g, OP(REQUEST), 0);
	for (int t = 0; t < 5000 && (fd < 0 || got < 2); t++) {
		uint32_t id, len;

		usleep(1000);
		while (vfd_used(&d, RXQ, &id, &len)) {
			struct hdr h;

			hdr_get(host(rx_gpa[id], HDR), &h);
			assert_int_equal(h.dst_port, 1800);
			if (h.op == OP(RESPONSE)) {
				g.peer_buf_alloc = h.buf_alloc;
				gwrite(&g, "thr", 3);
				got++;
			} else {
				assert_int_equal(h.op, OP(RW));
				assert_memory_equal(host(rx_gpa[id] + HDR, 4), "ead!", 4);
				got++;
			}
		}
		if (fd < 0)
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0 && got == 1 && recv(fd, buf, 3, MSG_DONTWAIT) == 3) {
			assert_memory_equal(buf, "thr", 3);
			assert_int_equal(send(fd, "ead!", 4, MSG_NOSIGNAL), 4);
		}
	}
	assert_int_equal(got, 2);
	evloop_stop(&loop);
	close(fd);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(identity),
		T(create_errors),
		T(host_initiated),
		T(host_refused),
		T(bad_lines),
		T(guest_initiated),
		T(guest_refused),
		T(credit_host_to_guest),
		T(credit_updates),
		T(guest_stops_reading),
		T(guest_exceeds_credit),
		T(guest_to_slow_host),
		T(malformed_chains),
		T(shutdown_host_first),
		T(shutdown_guest_first),
		T(resets),
		T(device_reset),
		T(limits_and_backpressure),
		T(too_many_connections),
		T(echo_bulk),
		T(real_loop_thread),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
