/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock with Unix-socket host ends (virtio 1.2 section 5.10); see
 * vsock.h for what the device does. The file reads top to bottom:
 *   1. packet headers, lists, the connection table
 *   2. watching host sockets
 *   3. packets to the guest: the rx queue (control packets, then data)
 *   4. packets from the guest: the tx queue
 *   5. host clients: the listening socket and the CONNECT line
 *   6. event-loop handlers
 *   7. transport callbacks and life cycle
 *
 * Every function here runs with the device lock held, on the event-loop
 * thread (the handlers of section 6 take it); the transport callbacks of
 * section 7 only answer registers and kick the loop.
 */
#include "vsock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/virtio_vsock.h>

#include "../../log.h"

#define RXQ 0u
#define TXQ 1u
#define EVQ 2u

#define CID_HOST 2u          /* VMADDR_CID_HOST */
#define HASH_SIZE 256u       /* connection hash buckets, a power of two */
#define ACCEPT_BATCH 16u     /* host clients accepted per turn */
#define PEND_MIN (16u * 1024) /* first allocation of a connection's buffer */
#define TX_TURN (1024u * 1024) /* tx payload bytes per turn */
#define PORT_SUFFIX_MAX sizeof("_4294967295")

/* ---- 1. packet headers, lists, the connection table ------------------------ */

/* struct virtio_vsock_hdr (5.10.6), decoded: the guest's copy is never used
 * again once read. */
struct pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

_Static_assert(sizeof(struct virtio_vsock_hdr) == VSOCK_HDR_SIZE, "vsock header size");

#define HDR_OFF(f) offsetof(struct virtio_vsock_hdr, f)

static void pkt_decode(const uint8_t *b, struct pkt *p)
{
	p->src_cid = get_le64(b + HDR_OFF(src_cid));
	p->dst_cid = get_le64(b + HDR_OFF(dst_cid));
	p->src_port = get_le32(b + HDR_OFF(src_port));
	p->dst_port = get_le32(b + HDR_OFF(dst_port));
	p->len = get_le32(b + HDR_OFF(len));
	p->type = get_le16(b + HDR_OFF(type));
	p->op = get_le16(b + HDR_OFF(op));
	p->flags = get_le32(b + HDR_OFF(flags));
	p->buf_alloc = get_le32(b + HDR_OFF(buf_alloc));
	p->fwd_cnt = get_le32(b + HDR_OFF(fwd_cnt));
}

static void pkt_encode(const struct pkt *p, uint8_t *b)
{
	put_le64(b + HDR_OFF(src_cid), p->src_cid);
	put_le64(b + HDR_OFF(dst_cid), p->dst_cid);
	put_le32(b + HDR_OFF(src_port), p->src_port);
	put_le32(b + HDR_OFF(dst_port), p->dst_port);
	put_le32(b + HDR_OFF(len), p->len);
	put_le16(b + HDR_OFF(type), p->type);
	put_le16(b + HDR_OFF(op), p->op);
	put_le32(b + HDR_OFF(flags), p->flags);
	put_le32(b + HDR_OFF(buf_alloc), p->buf_alloc);
	put_le32(b + HDR_OFF(fwd_cnt), p->fwd_cnt);
}

/* A circular doubly-linked list; an unlinked node points at itself. */
struct vsock_link {
	struct vsock_link *prev, *next;
};

static void link_init(struct vsock_link *l)
{
	l->prev = l->next = l;
}

static bool link_empty(const struct vsock_link *l)
{
	return l->next == l;
}

static void link_add_tail(struct vsock_link *head, struct vsock_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

static void link_del(struct vsock_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	link_init(l);
}

enum conn_state {
	CONN_FREE,        /* slot unused */
	CONN_HANDSHAKE,   /* host client connected; reading its CONNECT line */
	CONN_REQUESTED,   /* host client: REQUEST owed or sent, awaiting RESPONSE */
	CONN_ESTABLISHED, /* data flows (either direction may be shut down) */
	CONN_CLOSING,     /* host socket closed; an RST is owed to the guest */
};

/* Control packets a connection owes the guest, sent in this order. */
enum {
	OWE_REQUEST = 1u << 0,
	OWE_RESPONSE = 1u << 1,
	OWE_CREDIT = 1u << 2,   /* CREDIT_UPDATE */
	OWE_SHUTDOWN = 1u << 3, /* SHUTDOWN(SEND): the host side reached EOF */
	OWE_RST = 1u << 4,
};

struct vsock_conn {
	struct vsock *vs;
	struct ev_handler h;    /* h.fd: the host socket, -1 when none */
	enum conn_state state;
	uint32_t watched;       /* epoll events registered; 0: not registered */
	uint32_t host_port;     /* our end: P of PATH_P, or an ephemeral port */
	uint32_t guest_port;
	/* 5.10.6.3, all free-running counters of payload bytes. */
	uint32_t peer_buf_alloc, peer_fwd_cnt; /* the guest's last header */
	uint32_t tx_cnt;        /* sent to the guest */
	uint32_t rx_cnt;        /* received from the guest */
	uint32_t fwd_cnt;       /* of those, written to the host socket */
	uint32_t fwd_cnt_sent;  /* fwd_cnt in the last header we sent */
	/* Guest -> host bytes the host socket did not take yet:
	 * pend[pend_off, pend_off + pend_len), at most VSOCK_BUF_ALLOC. */
	uint8_t *pend;
	uint32_t pend_off, pend_len, pend_cap;
	uint8_t owed;           /* OWE_* */
	bool host_eof;          /* read EOF from the host socket */
	bool host_shut_wr;      /* shutdown(SHUT_WR) done on it */
	bool guest_shut_send;   /* the guest will send no more */
	bool guest_shut_rcv;    /* the guest will receive no more */
	bool wait_rx;           /* on vs->rx_waiting: no rx buffer for its data */
	bool hashed;
	uint8_t line_len;
	char line[VSOCK_LINE_MAX]; /* the CONNECT line so far */
	struct vsock_link owe_link; /* on vs->owing while owed != 0 */
	struct vsock_link rx_link;  /* on vs->rx_waiting while wait_rx */
	struct vsock_conn *hnext;   /* hash chain */
	struct vsock_conn *next_free;
};

struct vsock {
	struct virtio_dev vdev;
	uint64_t guest_cid;         /* guest-visible: the configuration space */
	/* Host side. */
	struct evloop *loop;
	struct ev_handler kick;     /* every queue's ioeventfd, and self-kicks */
	bool kick_watched;
	int kick_fds[VSOCK_NR_QUEUES];
	struct ev_handler listener; /* listener.fd: the socket at path */
	bool listener_watched;
	bool listener_paused;       /* out of fds: accept again once one closes */
	bool listener_bound;        /* path is ours to unlink */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/* Connection slots: never freed while the device lives, so an epoll
	 * event queued for a closed connection still finds valid memory. */
	struct vsock_conn *conns;
	struct vsock_conn *free_conns;
	unsigned int nr_conns;
	struct vsock_conn *hash[HASH_SIZE];
	struct vsock_link owing;      /* connections owing control packets, oldest 1st */
	struct vsock_link rx_waiting; /* connections whose data waits for rx buffers */
	/* RSTs for packets that belong to no connection (ring). */
	uint8_t rst[VSOCK_MAX_PENDING_RST][VSOCK_HDR_SIZE];
	unsigned int rst_head, rst_count;
	bool tx_stalled;            /* tx stopped because the RST ring is full */
	uint32_t next_port;         /* next host port to try for a client */
	uint32_t pushed;            /* queues pushed to this turn (bit per queue) */
	uint32_t reset_seen;        /* vdev.reset_count when we last synced */
	bool rx_held;               /* rx holds a popped chain not yet used */
	struct virtq_chain rx;
};

static void on_conn(struct ev_handler *h, uint32_t events);

static struct vsock *to_vsock(struct virtio_dev *dev)
{
	return container_of(dev, struct vsock, vdev);
}

static void kick_self(struct vsock *vs)
{
	uint64_t one = 1;

	/* Cannot block: an eventfd counter saturates long after. */
	if (write(vs->kick.fd, &one, sizeof(one)) < 0)
		log_debug("virtio-vsock: kick: %s", strerror(errno));
}

/* 5.10.6.3: what the guest can still take, by its last header. */
static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* A connection is (host port, guest port): the CIDs are always 2 and
 * guest_cid. */
static unsigned int hash_of(uint32_t host_port, uint32_t guest_port)
{
	uint32_t h = host_port * 0x9e3779b1u ^ guest_port * 0x85ebca6bu;

	return (h ^ h >> 16) & (HASH_SIZE - 1);
}

static struct vsock_conn *conn_lookup(struct vsock *vs, uint32_t host_port,
				      uint32_t guest_port)
{
	struct vsock_conn *c = vs->hash[hash_of(host_port, guest_port)];

	while (c && (c->host_port != host_port || c->guest_port != guest_port))
		c = c->hnext;
	return c;
}

static void conn_hash(struct vsock_conn *c)
{
	struct vsock_conn **head = &c->vs->hash[hash_of(c->host_port, c->guest_port)];

	c->hnext = *head;
	*head = c;
	c->hashed = true;
}

static void conn_unhash(struct vsock_conn *c)
{
	struct vsock_conn **p = &c->vs->hash[hash_of(c->host_port, c->guest_port)];

	if (!c->hashed)
		return;
	while (*p != c)
		p = &(*p)->hnext;
	*p = c->hnext;
	c->hashed = false;
}

/* A slot in `state` (not CONN_FREE), or NULL when all are taken. */
static struct vsock_conn *conn_alloc(struct vsock *vs, enum conn_state state)
{
	struct vsock_conn *c = vs->free_conns;

	if (!c)
		return NULL;
	vs->free_conns = c->next_free;
	*c = (struct vsock_conn){ .vs = vs, .h = { .fd = -1, .cb = on_conn },
				  .state = state };
	link_init(&c->owe_link);
	link_init(&c->rx_link);
	vs->nr_conns++;
	return c;
}

static void conn_owe(struct vsock_conn *c, uint8_t what)
{
	c->owed |= what;
	if (link_empty(&c->owe_link))
		link_add_tail(&c->vs->owing, &c->owe_link);
}

static void listener_resume(struct vsock *vs);

static void conn_unwatch(struct vsock_conn *c)
{
	struct evloop *loop = c->vs->loop;

	/* The loop may already be gone at destroy (vm_destroy stops it
	 * first); its epfd is then -1. */
	if (c->watched && loop->epfd >= 0)
		evloop_del(loop, &c->h);
	c->watched = 0;
}

/* Release the host side: the socket and the buffered data. */
static void conn_close_host(struct vsock_conn *c)
{
	conn_unwatch(c);
	if (c->h.fd >= 0)
		close(c->h.fd);
	c->h.fd = -1;
	free(c->pend);
	c->pend = NULL;
	c->pend_off = c->pend_len = c->pend_cap = 0;
	if (c->wait_rx)
		link_del(&c->rx_link);
	c->wait_rx = false;
}

/* Forget the connection without telling the guest. */
static void conn_free(struct vsock_conn *c)
{
	struct vsock *vs = c->vs;

	if (c->state == CONN_FREE)
		return;
	conn_close_host(c);
	conn_unhash(c);
	if (!link_empty(&c->owe_link))
		link_del(&c->owe_link);
	c->owed = 0;
	c->state = CONN_FREE;
	c->next_free = vs->free_conns;
	vs->free_conns = c;
	vs->nr_conns--;
	listener_resume(vs);
}

/*
 * The connection is over. Close the host side now; when the guest knows of
 * the connection, owe it an RST (5.10.6 "Stream Sockets": RST forcibly
 * disconnects) and free the slot once that is sent.
 */
static void conn_reset(struct vsock_conn *c)
{
	bool guest_knows = c->state == CONN_ESTABLISHED ||
			   (c->state == CONN_REQUESTED && !(c->owed & OWE_REQUEST));

	if (c->state == CONN_FREE || c->state == CONN_CLOSING)
		return;
	if (!guest_knows) {
		conn_free(c);
		return;
	}
	conn_close_host(c);
	c->state = CONN_CLOSING;
	/* An RST says it all; a SHUTDOWN still owed goes first, so that the
	 * guest tells a clean end from an abort. */
	c->owed &= OWE_SHUTDOWN;
	conn_owe(c, OWE_RST);
}

/* ---- 2. watching host sockets ------------------------------------------------ */

/* Whether to read the host socket now: the guest accepted the connection,
 * still receives, has credit, and had rx buffers last time we looked. */
static bool conn_can_read(const struct vsock_conn *c)
{
	return c->state == CONN_ESTABLISHED && !c->host_eof && !c->guest_shut_rcv &&
	       !(c->owed & OWE_RESPONSE) && !c->wait_rx && peer_credit(c) > 0;
}

/*
 * Register exactly the events the connection can act on. A connection with
 * nothing to do is taken out of epoll altogether: a socket whose peer hung
 * up reports EPOLLHUP whatever the mask, and the loop would spin on it.
 * Handlers treat events as hints (a slot may be reused while an event for
 * its previous socket is still queued): they try I/O and go by its result.
 */
static void conn_update_watch(struct vsock_conn *c)
{
	struct evloop *loop = c->vs->loop;
	uint32_t want = 0;
	int ret;

	if (c->state == CONN_HANDSHAKE) {
		want = EPOLLIN;
	} else if (c->state == CONN_ESTABLISHED) {
		if (conn_can_read(c))
			want |= EPOLLIN;
		if (c->pend_len)
			want |= EPOLLOUT;
	}
	if (want == c->watched)
		return;
	if (!want) {
		conn_unwatch(c);
		return;
	}
	ret = c->watched ? evloop_mod(loop, &c->h, want) : evloop_add(loop, &c->h, want);
	if (ret) {
		log_warn("virtio-vsock: epoll: %s; connection reset", strerror(-ret));
		conn_reset(c);
		return;
	}
	c->watched = want;
}

static ssize_t sock_readv(int fd, const struct iovec *iov, unsigned int n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t r;

	do {
		r = recvmsg(fd, &m, MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

static ssize_t sock_writev(int fd, const struct iovec *iov, unsigned int n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t r;

	do {
		r = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

/* ---- 3. packets to the guest: the rx queue ------------------------------------ */

static void push(struct vsock *vs, unsigned int q, uint16_t head, uint32_t len)
{
	virtio_dev_push(&vs->vdev, q, head, len);
	vs->pushed |= 1u << q;
}

static void notify(struct vsock *vs)
{
	if (vs->pushed & (1u << RXQ))
		virtio_dev_notify_queue(&vs->vdev, RXQ);
	if (vs->pushed & (1u << TXQ))
		virtio_dev_notify_queue(&vs->vdev, TXQ);
	vs->pushed = 0;
}

/*
 * The rx chain to fill next, or NULL when the guest has posted none. A
 * chain popped but not used (the host socket had nothing after all) is
 * held for the next packet. 5.10.6.4: rx buffers are device-writable only;
 * a chain with a readable part or without room for a header is completed
 * empty (Linux drops a used buffer shorter than the header).
 */
static struct virtq_chain *rx_chain(struct vsock *vs)
{
	for (unsigned int n = 0; !vs->rx_held; n++) {
		int ret;

		if (n == VSOCK_QUEUE_SIZE) {
			kick_self(vs); /* a run of bad chains: go on next turn */
			return NULL;
		}
		ret = virtio_dev_pop(&vs->vdev, RXQ, &vs->rx);
		if (ret == -EAGAIN || ret == -EIO)
			return NULL;
		if (ret == 0 && !vs->rx.nr_readable &&
		    vs->rx.writable_len >= VSOCK_HDR_SIZE) {
			vs->rx_held = true;
			break;
		}
		if (ret == 0)
			log_guest_once("virtio-vsock: rx buffer with a readable part or "
				       "under %u writable bytes", VSOCK_HDR_SIZE);
		push(vs, RXQ, vs->rx.head, 0);
	}
	return &vs->rx;
}

static void rx_done(struct vsock *vs, uint32_t len)
{
	push(vs, RXQ, vs->rx.head, len);
	vs->rx_held = false;
}

/* Write a header for connection c into `chain`. Every packet carries our
 * credit (5.10.6.3 "MUST contain valid information"); the guest now knows
 * this fwd_cnt. */
static void conn_put_hdr(struct vsock_conn *c, struct virtq_chain *chain, uint16_t op,
			 uint32_t flags, uint32_t len)
{
	struct pkt p = {
		.src_cid = CID_HOST, .dst_cid = c->vs->guest_cid,
		.src_port = c->host_port, .dst_port = c->guest_port,
		.len = len, .type = VIRTIO_VSOCK_TYPE_STREAM, .op = op, .flags = flags,
		.buf_alloc = VSOCK_BUF_ALLOC, .fwd_cnt = c->fwd_cnt,
	};
	uint8_t b[VSOCK_HDR_SIZE];

	pkt_encode(&p, b);
	virtq_chain_write(chain, 0, b, sizeof(b));
	c->fwd_cnt_sent = c->fwd_cnt;
}

/* Send a header-only packet for c; false when there is no rx buffer. */
static bool conn_send(struct vsock_conn *c, uint16_t op, uint32_t flags)
{
	struct virtq_chain *chain = rx_chain(c->vs);

	if (!chain)
		return false;
	conn_put_hdr(c, chain, op, flags, 0);
	rx_done(c->vs, VSOCK_HDR_SIZE);
	return true;
}

static bool conn_send_owed(struct vsock_conn *c)
{
	static const struct {
		uint8_t bit;
		uint16_t op;
	} order[] = {
		{ OWE_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
		{ OWE_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
		{ OWE_CREDIT, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
		{ OWE_SHUTDOWN, VIRTIO_VSOCK_OP_SHUTDOWN },
		{ OWE_RST, VIRTIO_VSOCK_OP_RST },
	};

	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		uint32_t flags =
			order[i].bit == OWE_SHUTDOWN ? VIRTIO_VSOCK_SHUTDOWN_SEND : 0;

		if (!(c->owed & order[i].bit))
			continue;
		if (!conn_send(c, order[i].op, flags))
			return false;
		c->owed &= (uint8_t)~order[i].bit;
	}
	return true;
}

/*
 * Send what is owed, oldest first, while rx buffers last: the RSTs for
 * packets of no connection, then each connection's control packets.
 * Control packets go before data (every handler calls this first), so a
 * RESPONSE always precedes the connection's first RW.
 */
static void flush_ctrl(struct vsock *vs)
{
	while (vs->rst_count) {
		struct virtq_chain *chain = rx_chain(vs);

		if (!chain)
			return;
		virtq_chain_write(chain, 0, vs->rst[vs->rst_head], VSOCK_HDR_SIZE);
		rx_done(vs, VSOCK_HDR_SIZE);
		vs->rst_head = (vs->rst_head + 1) % VSOCK_MAX_PENDING_RST;
		vs->rst_count--;
		if (vs->tx_stalled) {
			vs->tx_stalled = false;
			kick_self(vs); /* room again: go on with the tx queue */
		}
	}
	while (!link_empty(&vs->owing)) {
		struct vsock_conn *c = container_of(vs->owing.next, struct vsock_conn,
						    owe_link);
		bool rst = c->owed & OWE_RST;

		if (!conn_send_owed(c))
			return;
		link_del(&c->owe_link);
		if (rst)
			conn_free(c);
		else
			conn_update_watch(c); /* after RESPONSE: data may flow */
	}
}

static void conn_check_done(struct vsock_conn *c);

/*
 * Host -> guest: read the host socket straight into rx buffers, after the
 * header, while the guest has credit and buffers and this turn's budget
 * lasts. Level-triggered epoll brings us back for the rest.
 */
static void conn_read_host(struct vsock_conn *c)
{
	struct vsock *vs = c->vs;
	struct iovec iov[VIRTQ_MAX_SEGS];
	uint32_t budget = VSOCK_CONN_TURN;

	for (unsigned int pkts = 0; pkts < VSOCK_QUEUE_SIZE && budget && conn_can_read(c);
	     pkts++) {
		struct virtq_chain *chain = rx_chain(vs);
		uint32_t want;
		unsigned int n;
		ssize_t got;

		if (!chain) {
			/* Resumed when the guest posts rx buffers (on_kick). */
			c->wait_rx = true;
			link_add_tail(&vs->rx_waiting, &c->rx_link);
			break;
		}
		want = chain->writable_len - VSOCK_HDR_SIZE;
		if (!want) {
			/* Room for a header only: a credit update is always
			 * valid (5.10.6.3) and uses up the buffer. */
			conn_send(c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
			continue;
		}
		if (want > VSOCK_MAX_PAYLOAD)
			want = VSOCK_MAX_PAYLOAD;
		if (want > peer_credit(c))
			want = peer_credit(c);
		if (want > budget)
			want = budget;
		n = virtq_chain_iov(chain, true, VSOCK_HDR_SIZE, want, iov,
				    VIRTQ_MAX_SEGS);
		got = sock_readv(c->h.fd, iov, n);
		if (got == -EAGAIN)
			break; /* the chain stays held for the next packet */
		if (got < 0) {
			log_debug("virtio-vsock: port %u: read: %s; connection reset",
				  c->host_port, strerror((int)-got));
			conn_reset(c);
			break;
		}
		if (got == 0) {
			/* 5.10.6 "Stream Sockets": we will send no more. */
			c->host_eof = true;
			conn_owe(c, OWE_SHUTDOWN);
			conn_check_done(c);
			break;
		}
		conn_put_hdr(c, chain, VIRTIO_VSOCK_OP_RW, 0, (uint32_t)got);
		rx_done(vs, VSOCK_HDR_SIZE + (uint32_t)got);
		c->tx_cnt += (uint32_t)got;
		budget -= (uint32_t)got;
	}
}

/* The guest posted rx buffers: connections that had data but nowhere to put
 * it watch their sockets again. */
static void wake_rx_waiting(struct vsock *vs)
{
	if (link_empty(&vs->rx_waiting) || !rx_chain(vs))
		return;
	while (!link_empty(&vs->rx_waiting)) {
		struct vsock_conn *c =
			container_of(vs->rx_waiting.next, struct vsock_conn, rx_link);

		link_del(&c->rx_link);
		c->wait_rx = false;
		conn_update_watch(c);
	}
}

/* ---- 4. packets from the guest: the tx queue ----------------------------------- */

/* Answer a packet that has no connection with RST (not an RST: 5.10.6
 * "Stream Sockets" never answers one). Sent from the address the guest
 * wrote to, so that its lookup finds the socket. */
static void reply_rst(struct vsock *vs, const struct pkt *in)
{
	struct pkt p = {
		.src_cid = in->dst_cid, .dst_cid = in->src_cid,
		.src_port = in->dst_port, .dst_port = in->src_port,
		.type = in->type, .op = VIRTIO_VSOCK_OP_RST,
	};

	if (in->op == VIRTIO_VSOCK_OP_RST)
		return;
	/* process_tx stops before the ring can be full. */
	if (vs->rst_count == VSOCK_MAX_PENDING_RST)
		return;
	pkt_encode(&p, vs->rst[(vs->rst_head + vs->rst_count) % VSOCK_MAX_PENDING_RST]);
	vs->rst_count++;
}

/* fwd_cnt moved: once the guest's picture of it lags by half our buffer,
 * tell it (5.10.6.3: an unasked CREDIT_UPDATE is valid). */
static void conn_forwarded(struct vsock_conn *c, uint32_t n)
{
	c->fwd_cnt += n;
	if (!c->guest_shut_send && c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_CREDIT_UPDATE_AT)
		conn_owe(c, OWE_CREDIT);
}

/* Both directions are done: host EOF seen or the guest receives no more,
 * and the guest sends no more and all it sent was written. */
static void conn_check_done(struct vsock_conn *c)
{
	if (c->state == CONN_ESTABLISHED && c->host_shut_wr &&
	    (c->host_eof || c->guest_shut_rcv))
		conn_reset(c);
}

/* Guest SHUTDOWN(SEND): pass it on once its data is written. */
static void conn_shut_wr(struct vsock_conn *c)
{
	if (c->state == CONN_ESTABLISHED && c->guest_shut_send && !c->pend_len &&
	    !c->host_shut_wr) {
		/* ENOTCONN when the peer is gone: nothing to tell it then. */
		(void)shutdown(c->h.fd, SHUT_WR);
		c->host_shut_wr = true;
	}
	conn_check_done(c);
}

/* Write out what the host socket did not take before. */
static void conn_flush_pend(struct vsock_conn *c)
{
	while (c->pend_len) {
		struct iovec iov = { .iov_base = c->pend + c->pend_off,
				     .iov_len = c->pend_len };
		ssize_t w = sock_writev(c->h.fd, &iov, 1);

		if (w == -EAGAIN)
			return;
		if (w < 0) {
			log_debug("virtio-vsock: port %u: write: %s; connection reset",
				  c->host_port, strerror((int)-w));
			conn_reset(c);
			return;
		}
		c->pend_off += (uint32_t)w;
		c->pend_len -= (uint32_t)w;
		conn_forwarded(c, (uint32_t)w);
	}
	c->pend_off = 0;
	conn_shut_wr(c);
}

/* Keep `len` bytes of the chain's readable part from `off`. The credit
 * check made sure that they fit in VSOCK_BUF_ALLOC. */
static bool pend_append(struct vsock_conn *c, const struct virtq_chain *chain,
			uint32_t off, uint32_t len)
{
	uint32_t need = c->pend_len + len;

	if (need > VSOCK_BUF_ALLOC)
		return false;
	if (c->pend_off + need > c->pend_cap) {
		if (need > c->pend_cap) {
			uint32_t cap = c->pend_cap ? c->pend_cap : PEND_MIN;
			uint8_t *p;

			while (cap < need)
				cap *= 2;
			if (cap > VSOCK_BUF_ALLOC)
				cap = VSOCK_BUF_ALLOC;
			p = realloc(c->pend, cap);
			if (!p)
				return false;
			c->pend = p;
			c->pend_cap = cap;
		}
		memmove(c->pend, c->pend + c->pend_off, c->pend_len);
		c->pend_off = 0;
	}
	virtq_chain_read(chain, off, c->pend + c->pend_off + c->pend_len, len);
	c->pend_len = need;
	return true;
}

/* An RW packet's payload: to the host socket, or kept while it would block. */
static void conn_guest_data(struct vsock_conn *c, const struct virtq_chain *chain,
			    uint32_t len)
{
	struct iovec iov[VIRTQ_MAX_SEGS];
	uint32_t done = 0;

	if (!len)
		return;
	if (c->guest_shut_send) {
		log_guest_once("virtio-vsock: data after SHUTDOWN(SEND); "
			       "connection reset");
		conn_reset(c);
		return;
	}
	/* 5.10.6.3: the guest may have at most buf_alloc bytes outstanding
	 * by the last fwd_cnt we told it. More would grow our buffer. */
	if ((uint64_t)(c->rx_cnt - c->fwd_cnt_sent) + len > VSOCK_BUF_ALLOC) {
		log_guest_once("virtio-vsock: data beyond the credit given; "
			       "connection reset, data dropped");
		conn_reset(c);
		return;
	}
	c->rx_cnt += len;
	if (!c->pend_len) {
		unsigned int n = virtq_chain_iov(chain, false, VSOCK_HDR_SIZE, len, iov,
						 VIRTQ_MAX_SEGS);
		ssize_t w = sock_writev(c->h.fd, iov, n);

		if (w < 0 && w != -EAGAIN) {
			log_debug("virtio-vsock: port %u: write: %s; connection reset",
				  c->host_port, strerror((int)-w));
			conn_reset(c);
			return;
		}
		if (w > 0) {
			done = (uint32_t)w;
			conn_forwarded(c, done);
		}
	}
	if (done < len && !pend_append(c, chain, VSOCK_HDR_SIZE + done, len - done)) {
		log_warn("virtio-vsock: port %u: out of memory; connection reset",
			 c->host_port);
		conn_reset(c);
	}
}

/* The guest accepted a host client's connection: tell the client. */
static void client_accepted(struct vsock_conn *c)
{
	char ok[24];
	int n = snprintf(ok, sizeof(ok), "OK %" PRIu32 "\n", c->host_port);
	struct iovec iov = { .iov_base = ok, .iov_len = (size_t)n };

	/* Nothing was written to the client before: its socket buffer is
	 * empty and a short line fits. */
	if (sock_writev(c->h.fd, &iov, 1) != n) {
		log_debug("virtio-vsock: client of port %u gone before OK",
			  c->guest_port);
		conn_reset(c);
		return;
	}
	c->state = CONN_ESTABLISHED;
}

/* A guest REQUEST: connect to PATH_<dst_port>. */
static void guest_connect(struct vsock *vs, const struct pkt *p, struct vsock_conn *old)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_conn *c;
	int fd, n, err;

	if (p->dst_cid != CID_HOST) {
		reply_rst(vs, p); /* only the host is reachable */
		return;
	}
	if (old) {
		/* The guest forgot it (it would not reuse a live tuple). */
		log_guest_once("virtio-vsock: REQUEST for a live connection; the old "
			       "one is dropped");
		conn_free(old);
	}
	c = conn_alloc(vs, CONN_ESTABLISHED);
	if (!c) {
		log_debug("virtio-vsock: %u connections; guest connection to "
			  "port %" PRIu32 " refused", VSOCK_MAX_CONNS, p->dst_port);
		reply_rst(vs, p);
		return;
	}
	/* vsock_create made sure the suffix fits. */
	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%" PRIu32, vs->path,
		     p->dst_port);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* AF_UNIX connects at once or fails (EAGAIN: the listener's backlog
	 * is full); there is no EINPROGRESS to wait for. */
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path) || fd < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		log_debug("virtio-vsock: guest connection to port %" PRIu32 ": %s",
			  p->dst_port, strerror(err));
		if (fd >= 0)
			close(fd);
		conn_free(c);
		reply_rst(vs, p);
		return;
	}
	c->h.fd = fd;
	c->host_port = p->dst_port;
	c->guest_port = p->src_port;
	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	conn_hash(c);
	conn_owe(c, OWE_RESPONSE);
}

/* One packet from the guest (a tx chain). */
static void guest_packet(struct vsock *vs, const struct virtq_chain *chain)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_conn *c = NULL;
	struct pkt p;

	if (virtq_chain_read(chain, 0, raw, sizeof(raw)) != sizeof(raw)) {
		log_guest_once("virtio-vsock: tx chain shorter than the %u-byte header",
			       VSOCK_HDR_SIZE);
		return;
	}
	pkt_decode(raw, &p);
	if (p.len > VSOCK_MAX_PAYLOAD || p.len > chain->readable_len - VSOCK_HDR_SIZE) {
		log_guest_once("virtio-vsock: packet length %" PRIu32 " beyond its chain "
			       "(%" PRIu32 " bytes) or %u; dropped", p.len,
			       chain->readable_len, VSOCK_MAX_PAYLOAD);
		return;
	}
	/* 5.10.6.4: the driver uses guest_cid as source. Another source is
	 * not an address we could answer. */
	if (p.src_cid != vs->guest_cid) {
		log_guest_once("virtio-vsock: packet from CID %" PRIu64 "; dropped",
			       p.src_cid);
		return;
	}
	if (p.type != VIRTIO_VSOCK_TYPE_STREAM) {
		reply_rst(vs, &p); /* 5.10.6.4: RST for an unknown type */
		return;
	}
	if (p.dst_cid == CID_HOST)
		c = conn_lookup(vs, p.dst_port, p.src_port);
	if (p.op == VIRTIO_VSOCK_OP_REQUEST) {
		guest_connect(vs, &p, c);
		return;
	}
	if (!c) {
		reply_rst(vs, &p);
		return;
	}
	if (c->state == CONN_CLOSING) {
		/* Our RST is on its way; the guest's own RST ends it now. */
		if (p.op == VIRTIO_VSOCK_OP_RST)
			conn_free(c);
		return;
	}
	/* 5.10.6.3: every packet carries the guest's credit. */
	c->peer_buf_alloc = p.buf_alloc;
	c->peer_fwd_cnt = p.fwd_cnt;
	switch (p.op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state == CONN_REQUESTED && !(c->owed & OWE_REQUEST)) {
			client_accepted(c);
		} else {
			log_guest_once("virtio-vsock: RESPONSE to no REQUEST");
			conn_reset(c);
		}
		break;
	case VIRTIO_VSOCK_OP_RST:
		conn_free(c); /* refused or aborted: close the host socket now */
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c->state != CONN_ESTABLISHED) {
			conn_reset(c);
			break;
		}
		/* "permanent once sent": flags only ever add. */
		if (p.flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
			c->guest_shut_rcv = true;
		if (p.flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
			c->guest_shut_send = true;
		conn_shut_wr(c);
		break;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != CONN_ESTABLISHED) {
			conn_reset(c);
			break;
		}
		conn_guest_data(c, chain, p.len);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break; /* the credit was taken above */
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		if (c->state == CONN_ESTABLISHED)
			conn_owe(c, OWE_CREDIT);
		break;
	default:
		log_guest_once("virtio-vsock: unknown op %u; connection reset", p.op);
		conn_reset(c);
		break;
	}
	/* New credit may let reading resume; a reset one is unwatched. */
	conn_update_watch(c);
}

/*
 * Serve the tx queue, at most VSOCK_TX_BATCH chains and TX_TURN payload
 * bytes. Returns true when a limit stopped it with chains possibly left.
 * While the RST ring is full it stops (5.10.6.1): the guest must take its
 * rx buffers first; flush_ctrl kicks us when there is room.
 */
static bool process_tx(struct vsock *vs)
{
	struct virtq_chain chain;
	uint32_t bytes = 0;

	for (unsigned int n = 0; n < VSOCK_TX_BATCH && bytes < TX_TURN; n++) {
		int ret;

		if (vs->rst_count == VSOCK_MAX_PENDING_RST) {
			vs->tx_stalled = true;
			return false;
		}
		ret = virtio_dev_pop(&vs->vdev, TXQ, &chain);
		if (ret == -EAGAIN || ret == -EIO)
			return false;
		if (ret == 0) {
			guest_packet(vs, &chain);
			bytes += chain.readable_len;
		}
		/* 5.10.6.4: tx buffers are read-only; nothing was written. */
		push(vs, TXQ, chain.head, 0);
	}
	return true;
}

/* ---- 5. host clients ------------------------------------------------------------- */

/* "CONNECT <port>\n" (a "\r\n" is fine too); port in decimal, below 2^32-1
 * (VMADDR_PORT_ANY). */
static bool parse_connect(const char *s, size_t len, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	size_t i = sizeof(verb) - 1, digits = 0;
	uint64_t v = 0;

	if (len < i || memcmp(s, verb, i))
		return false;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (++digits > 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (!digits || v >= UINT32_MAX)
		return false;
	if (i < len && s[i] == '\r')
		i++;
	if (i + 1 != len || s[i] != '\n')
		return false;
	*port = (uint32_t)v;
	return true;
}

static bool host_port_in_use(const struct vsock *vs, uint32_t port)
{
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++)
		if (vs->conns[i].hashed && vs->conns[i].host_port == port)
			return true;
	return false;
}

/* The next free port of the ephemeral range [VSOCK_HOST_PORT_FIRST,
 * 2^32-1). At most VSOCK_MAX_CONNS are taken, so this ends. */
static uint32_t alloc_host_port(struct vsock *vs)
{
	for (;;) {
		uint32_t p = vs->next_port;

		vs->next_port = p + 1 == UINT32_MAX ? VSOCK_HOST_PORT_FIRST : p + 1;
		if (!host_port_in_use(vs, p))
			return p;
	}
}

/*
 * Read the client's CONNECT line. Only the line is consumed (peek for the
 * newline, then take up to it): what the client sends after it is the
 * connection's first data and stays in the socket until the guest accepts.
 */
static void client_line(struct vsock_conn *c)
{
	char *at = c->line + c->line_len, *nl;
	size_t room = VSOCK_LINE_MAX - c->line_len, take;
	uint32_t port;
	ssize_t n;

	n = recv(c->h.fd, at, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(c); /* gone before its line */
		return;
	}
	nl = memchr(at, '\n', (size_t)n);
	take = nl ? (size_t)(nl - at) + 1 : (size_t)n;
	if (recv(c->h.fd, at, take, MSG_DONTWAIT) != (ssize_t)take) {
		conn_free(c);
		return;
	}
	c->line_len = (uint8_t)(c->line_len + take);
	if (!nl) {
		if (c->line_len == VSOCK_LINE_MAX) {
			log_debug("virtio-vsock: client line over %u bytes; closed",
				  VSOCK_LINE_MAX);
			conn_free(c);
		}
		return;
	}
	if (!parse_connect(c->line, c->line_len, &port)) {
		log_debug("virtio-vsock: client did not send CONNECT <port>; closed");
		conn_free(c);
		return;
	}
	c->host_port = alloc_host_port(c->vs);
	c->guest_port = port;
	conn_hash(c);
	c->state = CONN_REQUESTED;
	conn_owe(c, OWE_REQUEST);
}

static void listener_watch(struct vsock *vs, bool on)
{
	int ret;

	if (on == vs->listener_watched || vs->listener.fd < 0 || vs->loop->epfd < 0)
		return;
	if (!on) {
		evloop_del(vs->loop, &vs->listener);
		vs->listener_watched = false;
		return;
	}
	ret = evloop_add(vs->loop, &vs->listener, EPOLLIN);
	if (ret)
		log_warn("virtio-vsock: epoll: %s; no new clients", strerror(-ret));
	else
		vs->listener_watched = true;
}

/* Out of fds made accept fail: accept again once a connection closed. */
static void listener_resume(struct vsock *vs)
{
	if (!vs->listener_paused)
		return;
	vs->listener_paused = false;
	listener_watch(vs, true);
}

static void accept_clients(struct vsock *vs)
{
	for (unsigned int i = 0; i < ACCEPT_BATCH; i++) {
		struct vsock_conn *c;
		int fd = accept4(vs->listener.fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE and friends leave the client queued and the
			 * socket readable: stop watching, or the loop spins. */
			log_warn("virtio-vsock: accept: %s; new clients wait",
				 strerror(errno));
			vs->listener_paused = true;
			listener_watch(vs, false);
			return;
		}
		c = conn_alloc(vs, CONN_HANDSHAKE);
		if (!c) {
			log_debug("virtio-vsock: %u connections; client refused",
				  VSOCK_MAX_CONNS);
			close(fd);
			continue;
		}
		c->h.fd = fd;
		conn_update_watch(c);
	}
}

/* ---- 6. event-loop handlers ------------------------------------------------------- */

/*
 * Catch up with device resets (virtio 2.4) since the last handler: forget
 * the driver, close every connection the guest heard of. Host clients whose
 * REQUEST never went out stay (see vsock.h). Every handler calls this
 * first, with the lock held, so nothing acts on a connection of the old
 * driver.
 */
static void sync_reset(struct vsock *vs)
{
	if (vs->reset_seen == vs->vdev.reset_count)
		return;
	vs->reset_seen = vs->vdev.reset_count;
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &vs->conns[i];

		if (c->state == CONN_FREE || c->state == CONN_HANDSHAKE)
			continue;
		if (c->state == CONN_REQUESTED && (c->owed & OWE_REQUEST))
			continue;
		conn_free(c);
	}
	vs->rst_head = vs->rst_count = 0;
	vs->tx_stalled = false;
	vs->rx_held = false;
	vs->pushed = 0;
}

/* A queue was kicked (by the guest, or by ourselves to go on). */
static void on_kick(struct ev_handler *h, uint32_t events)
{
	struct vsock *vs = container_of(h, struct vsock, kick);
	bool more = false;
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("virtio-vsock: kick read: %s", strerror(errno));
	virtio_dev_lock(&vs->vdev);
	sync_reset(vs);
	listener_resume(vs);
	if (virtio_dev_is_active(&vs->vdev)) {
		flush_ctrl(vs); /* new rx buffers: replies first, may unstall tx */
		more = process_tx(vs);
		flush_ctrl(vs);
		wake_rx_waiting(vs);
		notify(vs);
	}
	if (more)
		kick_self(vs);
	virtio_dev_unlock(&vs->vdev);
}

/* A host socket is ready, or was: `events` is only a hint (see
 * conn_update_watch). */
static void on_conn(struct ev_handler *h, uint32_t events)
{
	struct vsock_conn *c = container_of(h, struct vsock_conn, h);
	struct vsock *vs = c->vs;

	(void)events;
	virtio_dev_lock(&vs->vdev);
	sync_reset(vs); /* may free c: then its state says so */
	switch (c->state) {
	case CONN_HANDSHAKE:
		client_line(c);
		break;
	case CONN_ESTABLISHED:
		flush_ctrl(vs);
		if (c->pend_len)
			conn_flush_pend(c);
		if (conn_can_read(c))
			conn_read_host(c);
		break;
	default:
		break; /* an event for a socket closed since */
	}
	conn_update_watch(c);
	flush_ctrl(vs);
	notify(vs);
	virtio_dev_unlock(&vs->vdev);
}

static void on_listener(struct ev_handler *h, uint32_t events)
{
	struct vsock *vs = container_of(h, struct vsock, listener);

	(void)events;
	virtio_dev_lock(&vs->vdev);
	sync_reset(vs);
	accept_clients(vs);
	virtio_dev_unlock(&vs->vdev);
}

/* ---- 7. transport callbacks (vCPU thread, lock held) and life cycle ------------ */

static void vsock_config_read(struct virtio_dev *dev, uint32_t off, void *data,
			      unsigned int size)
{
	uint8_t cfg[8];

	put_le64(cfg, to_vsock(dev)->guest_cid); /* 5.10.4 */
	memcpy(data, cfg + off, size);
}

static void vsock_config_write(struct virtio_dev *dev, uint32_t off, const void *data,
			       unsigned int size)
{
	(void)dev;
	(void)data;
	log_guest_once("virtio-vsock: config write at %u (%u bytes) ignored", off, size);
}

/* A kick that no ioeventfd caught: the work belongs on the event loop. */
static void vsock_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	(void)q;
	kick_self(to_vsock(dev));
}

static int vsock_activate(struct virtio_dev *dev)
{
	/* Requests of clients that connected before may now go out. */
	kick_self(to_vsock(dev));
	return 0;
}

/*
 * 2.4: the driver reset the device. Connections are closed by the loop
 * thread (sync_reset), before it does anything else: every epoll change
 * stays on that thread (evloop_del looks at the batch it is dispatching).
 */
static void vsock_reset(struct virtio_dev *dev)
{
	kick_self(to_vsock(dev));
}

static const struct virtio_dev_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	/* 5.10.3: no device feature means stream sockets only. */
	.features = VIRTIO_RING_FEATURES,
	.nr_queues = VSOCK_NR_QUEUES,
	.queue_max = { VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE },
	.config_size = 8,
	.config_read = vsock_config_read,
	.config_write = vsock_config_write,
	.queue_notify = vsock_queue_notify,
	.activate = vsock_activate,
	.reset = vsock_reset,
};

/* Whether a process accepts connections on the socket at `path`. */
static bool socket_is_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return true; /* cannot tell: do not remove it */
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
	       (errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	return live;
}

static int listen_on(struct vsock *vs, char *why, size_t why_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	memcpy(sa.sun_path, vs->path, sizeof(sa.sun_path));
	if (lstat(vs->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return why_fail(why, why_len, -EEXIST,
					"exists and is not a socket");
		if (socket_is_live(&sa))
			return why_fail(why, why_len, -EADDRINUSE,
					"another process listens on it");
		/* Left over by a run that did not clean up. */
		if (unlink(vs->path) < 0 && errno != ENOENT)
			return why_fail(why, why_len, -errno,
					"removing the old socket: %s", strerror(errno));
	} else if (errno != ENOENT) {
		return why_fail(why, why_len, -errno, "%s", strerror(errno));
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return why_fail(why, why_len, -errno, "socket: %s", strerror(errno));
	vs->listener.fd = fd;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return why_fail(why, why_len, -errno, "bind: %s", strerror(errno));
	vs->listener_bound = true;
	if (listen(fd, SOMAXCONN) < 0)
		return why_fail(why, why_len, -errno, "listen: %s", strerror(errno));
	return 0;
}

int vsock_create(struct vsock **out, const struct guest_mem *mem, struct evloop *loop,
		 uint64_t guest_cid, const char *uds_path, char *why, size_t why_len)
{
	struct vsock *vs;
	size_t path_len = uds_path ? strlen(uds_path) : 0;
	int ret;

	if (!loop)
		return why_fail(why, why_len, -EINVAL, "no event loop");
	/* 5.10.4: 0, 1, 2 and 0xffffffff are reserved; the upper 32 bits
	 * are zero. */
	if (guest_cid < 3 || guest_cid >= 0xffffffffull)
		return why_fail(why, why_len, -EINVAL,
				"guest CID %" PRIu64 " is reserved (use 3 to 4294967294)",
				guest_cid);
	if (!path_len || path_len + PORT_SUFFIX_MAX > sizeof(vs->path))
		return why_fail(why, why_len, -ENAMETOOLONG,
				"socket path empty or longer than %zu bytes",
				sizeof(vs->path) - PORT_SUFFIX_MAX);
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return why_fail(why, why_len, -ENOMEM, "%s", strerror(ENOMEM));
	vs->loop = loop;
	vs->guest_cid = guest_cid;
	vs->kick.fd = vs->listener.fd = -1;
	memcpy(vs->path, uds_path, path_len + 1);
	vs->next_port = VSOCK_HOST_PORT_FIRST;
	link_init(&vs->owing);
	link_init(&vs->rx_waiting);

	vs->conns = calloc(VSOCK_MAX_CONNS, sizeof(*vs->conns));
	if (!vs->conns) {
		ret = why_fail(why, why_len, -ENOMEM, "%s", strerror(ENOMEM));
		goto err;
	}
	for (unsigned int i = VSOCK_MAX_CONNS; i-- > 0;) {
		struct vsock_conn *c = &vs->conns[i];

		*c = (struct vsock_conn){ .vs = vs, .h = { .fd = -1, .cb = on_conn } };
		link_init(&c->owe_link);
		link_init(&c->rx_link);
		c->next_free = vs->free_conns;
		vs->free_conns = c;
	}
	ret = virtio_dev_init(&vs->vdev, &vsock_ops, mem, NULL, NULL);
	if (ret) {
		why_fail(why, why_len, ret, "virtio device: %s", strerror(-ret));
		goto err;
	}
	vs->kick.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vs->kick.fd < 0) {
		ret = why_fail(why, why_len, -errno, "eventfd: %s", strerror(errno));
		goto err;
	}
	vs->kick.cb = on_kick;
	for (unsigned int q = 0; q < VSOCK_NR_QUEUES; q++)
		vs->kick_fds[q] = vs->kick.fd;
	ret = evloop_add(loop, &vs->kick, EPOLLIN);
	if (ret) {
		why_fail(why, why_len, ret, "event loop: %s", strerror(-ret));
		goto err;
	}
	vs->kick_watched = true;
	ret = listen_on(vs, why, why_len);
	if (ret)
		goto err;
	vs->listener.cb = on_listener;
	listener_watch(vs, true);
	if (!vs->listener_watched) {
		ret = why_fail(why, why_len, -ENOMEM,
			       "event loop: cannot watch the socket");
		goto err;
	}
	log_debug("virtio-vsock: guest CID %" PRIu64 ", host socket %s", guest_cid,
		  vs->path);
	*out = vs;
	return 0;

err:
	vsock_destroy(&vs->vdev);
	return ret;
}

struct virtio_dev *vsock_dev(struct vsock *vs)
{
	return &vs->vdev;
}

const int *vsock_kick_fds(const struct vsock *vs, unsigned int *nr)
{
	*nr = VSOCK_NR_QUEUES;
	return vs->kick_fds;
}

void vsock_get_stats(struct vsock *vs, struct vsock_stats *st)
{
	memset(st, 0, sizeof(*st));
	virtio_dev_lock(&vs->vdev);
	st->conns = vs->nr_conns;
	st->pending_rst = vs->rst_count;
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
		st->buffered += vs->conns[i].pend_len;
		st->buffer_capacity += vs->conns[i].pend_cap;
	}
	virtio_dev_unlock(&vs->vdev);
}

void vsock_destroy(struct virtio_dev *dev)
{
	struct vsock *vs;

	if (!dev)
		return;
	vs = to_vsock(dev);
	/* The listener first, so that freeing connections does not re-arm it. */
	listener_watch(vs, false);
	if (vs->listener.fd >= 0)
		close(vs->listener.fd);
	vs->listener.fd = -1;
	if (vs->listener_bound)
		unlink(vs->path);
	if (vs->conns) {
		for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++)
			conn_free(&vs->conns[i]);
		free(vs->conns);
	}
	if (vs->kick_watched && vs->loop->epfd >= 0)
		evloop_del(vs->loop, &vs->kick);
	if (vs->kick.fd >= 0)
		close(vs->kick.fd);
	virtio_dev_destroy(&vs->vdev);
	free(vs);
}
