/* SPDX-License-Identifier: MIT */
/* virtio-console, multiport (virtio 1.2 section 5.3); see console.h. */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/virtio_console.h>

#include "../../../guest-init/abi.h"
#include "../../log.h"

/* Control messages the device owes a port (sent in this order). */
enum {
	OWE_ADD = 1u << 0,     /* PORT_ADD */
	OWE_CONSOLE = 1u << 1, /* CONSOLE_PORT 1 */
	OWE_RESIZE = 1u << 2,  /* RESIZE with cols, rows */
	/* PORT_OPEN before PORT_NAME: guest-init finds a port by its name and
	 * may read it at once; it must already see the host side open. */
	OWE_OPEN = 1u << 3,    /* PORT_OPEN with host_open */
	OWE_NAME = 1u << 4,    /* PORT_NAME */
};

/* 5.3.6.2: struct virtio_console_control is 8 bytes; RESIZE adds
 * struct virtio_console_resize { le16 cols; le16 rows; }. */
#define CTRL_HDR 8u
#define CTRL_MSG_MAX (CTRL_HDR + 32u)

/* Bytes of device configuration (5.3.4): cols, rows, max_nr_ports,
 * emerg_wr. */
#define CONFIG_SIZE 12u

static const char *const port_names[VCON_NR_PORTS] = {
	[VCON_PORT_STDIN] = COCOON_PORT_STDIN,
	[VCON_PORT_STDOUT] = COCOON_PORT_STDOUT,
	[VCON_PORT_STDERR] = COCOON_PORT_STDERR,
	[VCON_PORT_CONTROL] = COCOON_PORT_CONTROL,
};

/* Guest-visible state of one port: plain data, snapshot-ready. */
struct vcon_port_state {
	bool ready;      /* the driver sent PORT_READY 1 */
	bool guest_open; /* the driver's last PORT_OPEN */
	bool host_open;  /* what the device says (or will say) in PORT_OPEN */
	uint8_t owed;    /* OWE_* */
};

struct vcon_state {
	uint16_t cols, rows;
	struct vcon_port_state port[VCON_NR_PORTS];
	uint32_t signal_len;
	char signal_buf[VCON_SIGNAL_BUF]; /* for the control port */
};

/* One host fd. */
struct vcon_stream {
	struct vcon *con;
	const char *name;    /* for log lines */
	struct ev_handler h; /* h.fd: the fd, or -1 */
	uint32_t events;     /* EPOLLIN or EPOLLOUT */
	bool pollable;       /* epoll takes it; else I/O never waits */
	bool socket;         /* use MSG_DONTWAIT instead of O_NONBLOCK */
	bool watched;        /* registered with the loop */
	bool want;           /* the last I/O hit EAGAIN: wait for readiness */
	bool failed;         /* an error: output dropped / input ended */
	bool eof;
	int restore_flags;   /* file status flags to put back, or -1 */
};

/* A chain the device keeps across turns (host side, refers to guest RAM). */
struct vcon_held {
	bool held;
	uint32_t done; /* bytes of its readable part already written out */
	struct virtq_chain chain;
};

struct vcon {
	struct virtio_dev vdev;
	struct vcon_state st;
	/* Host side. */
	struct evloop *loop;
	struct ev_handler kick; /* every queue's ioeventfd, and self-kicks */
	bool kick_watched;
	bool tty;
	struct vcon_stream in, out, err;
	struct vcon_held tx[VCON_NR_PORTS]; /* transmit chains being written */
	struct vcon_held rx;                /* receive chain waiting for input */
	uint32_t pushed;                    /* queues pushed to this turn */
};

static struct vcon *to_vcon(struct virtio_dev *dev)
{
	return container_of(dev, struct vcon, vdev);
}

static void kick_self(struct vcon *con)
{
	uint64_t one = 1;

	if (write(con->kick.fd, &one, sizeof(one)) < 0)
		log_debug("virtio-console: kick: %s", strerror(errno));
}

static bool multiport(const struct vcon *con)
{
	return virtio_dev_has_feature(&con->vdev, VIRTIO_CONSOLE_F_MULTIPORT);
}

/* Without MULTIPORT (5.3.6.1) there is only port 0, a console from the
 * start. */
static bool guest_open(const struct vcon *con, unsigned int p)
{
	return multiport(con) ? con->st.port[p].guest_open : p == VCON_PORT_CONSOLE;
}

static void push(struct vcon *con, unsigned int q, uint16_t head, uint32_t len)
{
	virtio_dev_push(&con->vdev, q, head, len);
	con->pushed |= 1u << q;
}

/*
 * Pop from queue q into *chain. Returns 1 for a chain to serve, 0 when the
 * queue is empty (or broken); completes malformed chains with 0 itself and
 * reports them as served (-1) so that the caller counts them.
 */
static int pop(struct vcon *con, unsigned int q, struct virtq_chain *chain)
{
	int ret = virtio_dev_pop(&con->vdev, q, chain);

	if (ret == -EAGAIN || ret == -EIO)
		return 0;
	if (ret == -EBADMSG) {
		push(con, q, chain->head, 0);
		return -1;
	}
	return 1;
}

/* ---- host fds ------------------------------------------------------------ */

int vcon_open_host_fd(int fd, bool for_write)
{
	struct stat st;
	char path[32];
	int nfd;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode) && !S_ISSOCK(st.st_mode)) {
		/* A new open file description of the same pipe or terminal:
		 * O_NONBLOCK on it leaves the caller's (the shell's) alone. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		nfd = open(path, (for_write ? O_WRONLY : O_RDONLY) | O_NONBLOCK |
				 O_CLOEXEC | O_NOCTTY);
		if (nfd >= 3)
			return nfd;
		if (nfd >= 0) {
			/* 0-2 were closed: keep them free for what they mean. */
			int high = fcntl(nfd, F_DUPFD_CLOEXEC, 3);

			close(nfd);
			return high < 0 ? -errno : high;
		}
		log_debug("virtio-console: reopening fd %d: %s; sharing it", fd,
			  strerror(errno));
	}
	/* Files keep their offset and O_APPEND shared with the caller, as
	 * they must when stdout and stderr are one file. */
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return nfd < 0 ? -errno : nfd;
}

static void stream_init(struct vcon *con, struct vcon_stream *s, const char *name,
			int fd, uint32_t events)
{
	struct stat st;
	int flags;

	*s = (struct vcon_stream){ .con = con, .name = name, .h.fd = fd,
		.events = events, .pollable = true, .restore_flags = -1 };
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0) {
		s->socket = S_ISSOCK(st.st_mode);
		/* epoll refuses regular files; they never make I/O wait. */
		s->pollable = !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
	}
	flags = fcntl(fd, F_GETFL);
	if (!s->socket && s->pollable && flags >= 0 && !(flags & O_NONBLOCK)) {
		/* Shared with someone (vcon_open_host_fd could not reopen
		 * it): non-blocking anyway, the loop thread must never wait;
		 * put back at destroy. */
		if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0)
			s->restore_flags = flags;
	}
}

static void stream_unwatch(struct vcon_stream *s)
{
	struct evloop *loop = s->con->loop;

	if (s->watched && loop && loop->epfd >= 0)
		evloop_del(loop, &s->h);
	s->watched = false;
}

static void stream_close(struct vcon_stream *s)
{
	stream_unwatch(s);
	if (s->h.fd < 0)
		return;
	if (s->restore_flags >= 0)
		(void)fcntl(s->h.fd, F_SETFL, s->restore_flags);
	close(s->h.fd);
	s->h.fd = -1;
}

/* The stream cannot go on: from now on output is dropped, input is EOF. */
static void stream_fail(struct vcon_stream *s, int err)
{
	if (!s->failed && err != EPIPE)
		log_warn("%s: %s; its data is dropped from now on", s->name,
			 strerror(err));
	else if (!s->failed)
		log_debug("%s: closed by the reader; its data is dropped", s->name);
	s->failed = true;
	s->want = false;
}

/* writev that never waits. Returns bytes written or -errno. */
static ssize_t stream_writev(struct vcon_stream *s, const struct iovec *iov,
			     unsigned int n)
{
	ssize_t r;

	do {
		if (s->socket) {
			struct msghdr m = { .msg_iov = (struct iovec *)iov,
					    .msg_iovlen = n };

			r = sendmsg(s->h.fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		} else {
			r = writev(s->h.fd, iov, (int)n);
		}
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

static ssize_t stream_readv(struct vcon_stream *s, const struct iovec *iov,
			    unsigned int n)
{
	ssize_t r;

	do {
		if (s->socket) {
			struct msghdr m = { .msg_iov = (struct iovec *)iov,
					    .msg_iovlen = n };

			r = recvmsg(s->h.fd, &m, MSG_DONTWAIT);
		} else {
			r = readv(s->h.fd, iov, (int)n);
		}
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

/* Watch exactly the streams whose last I/O had to wait. */
static void update_watch(struct vcon *con)
{
	struct vcon_stream *streams[] = { &con->in, &con->out, &con->err };

	if (!con->loop)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(streams); i++) {
		struct vcon_stream *s = streams[i];
		bool want = s->want && s->pollable && s->h.fd >= 0 && !s->failed &&
			    !s->eof;

		if (want && !s->watched) {
			int ret = evloop_add(con->loop, &s->h, s->events);

			if (ret == -EPERM) {
				/* Not pollable after all: I/O on it never
				 * waits, so just try again. */
				s->pollable = false;
				kick_self(con);
			} else if (ret) {
				log_warn("%s: epoll: %s", s->name, strerror(-ret));
				stream_fail(s, -ret);
			} else {
				s->watched = true;
			}
		} else if (!want && s->watched) {
			stream_unwatch(s);
		}
	}
}

/* ---- guest output -------------------------------------------------------- */

static struct vcon_stream *tx_stream(struct vcon *con, unsigned int p)
{
	switch (p) {
	case VCON_PORT_CONSOLE:
	case VCON_PORT_STDOUT:
		return &con->out;
	case VCON_PORT_STDERR:
		return &con->err;
	default:
		return NULL; /* host -> guest ports: the guest's writes are dropped */
	}
}

/*
 * Write port p's transmit chains to its host stream, at most *budget bytes
 * and VCON_QUEUE_SIZE chains. Returns false when a limit stopped it with
 * work left.
 */
static bool tx_port(struct vcon *con, unsigned int p, uint32_t *budget)
{
	struct vcon_stream *s = tx_stream(con, p);
	struct vcon_held *t = &con->tx[p];
	unsigned int q = vcon_txq(p), chains = 0;
	struct iovec iov[VIRTQ_MAX_SEGS];

	for (;;) {
		uint32_t len;
		unsigned int n;
		ssize_t w;

		if (!t->held) {
			int ret;

			if (!*budget || chains == VCON_QUEUE_SIZE)
				return false;
			ret = pop(con, q, &t->chain);
			if (ret == 0)
				return true;
			chains++;
			if (ret < 0)
				continue;
			/* 5.3.6.1: transmit buffers are driver-readable only. */
			if (t->chain.writable_len ||
			    t->chain.readable_len > VCON_MAX_TX_CHAIN) {
				log_guest_once("virtio-console: transmit chain with a "
					       "writable part or over %u bytes dropped",
					       VCON_MAX_TX_CHAIN);
				push(con, q, t->chain.head, 0);
				continue;
			}
			t->held = true;
			t->done = 0;
		}
		if (!s || s->failed || s->h.fd < 0 ||
		    t->done >= t->chain.readable_len) {
			/* Written out (or dropped): nothing was written into
			 * the chain, so its used length is 0. */
			push(con, q, t->chain.head, 0);
			t->held = false;
			continue;
		}
		if (s->want)
			return true;
		if (!*budget)
			return false;
		len = t->chain.readable_len - t->done;
		n = virtq_chain_iov(&t->chain, false, t->done, len, iov, VIRTQ_MAX_SEGS);
		w = stream_writev(s, iov, n);
		if (w == -EAGAIN) {
			s->want = true; /* resumed by EPOLLOUT */
			return true;
		}
		if (w < 0) {
			stream_fail(s, (int)-w);
			continue;
		}
		t->done += (uint32_t)w;
		*budget -= (uint32_t)w < *budget ? (uint32_t)w : *budget;
	}
}

/* ---- guest input --------------------------------------------------------- */

static unsigned int input_port(const struct vcon *con)
{
	return con->tty ? VCON_PORT_CONSOLE : VCON_PORT_STDIN;
}

/* Host input ended: tell the guest (PORT_OPEN 0 reads as EOF there). */
static void input_ended(struct vcon *con)
{
	unsigned int p = input_port(con);
	struct vcon_port_state *ps = &con->st.port[p];

	con->in.eof = true;
	con->in.want = false;
	/* The console port stays open: a terminal has no EOF of its own. */
	if (p == VCON_PORT_CONSOLE || !ps->host_open)
		return;
	ps->host_open = false;
	if (ps->ready)
		ps->owed |= OWE_OPEN;
}

/* Take the next receive chain of queue q that can hold data. 1, or 0 when
 * none (or the chain limit is reached; *chains counts). */
static int pop_rx(struct vcon *con, unsigned int q, struct virtq_chain *chain,
		  unsigned int *chains)
{
	while (*chains < VCON_QUEUE_SIZE) {
		int ret = pop(con, q, chain);

		if (ret == 0)
			return 0;
		++*chains;
		if (ret < 0)
			continue;
		/* 5.3.6.1: receive buffers are device-writable only. */
		if (chain->nr_readable || !chain->writable_len) {
			log_guest_once("virtio-console: receive chain with a readable "
				       "part or nothing writable");
			push(con, q, chain->head, 0);
			continue;
		}
		return 1;
	}
	return 0;
}

/* Host input into the input port's receive chains. Returns false when a
 * limit stopped it with work left. */
static bool rx_input(struct vcon *con, uint32_t *budget)
{
	struct vcon_stream *s = &con->in;
	struct vcon_held *r = &con->rx;
	unsigned int p = input_port(con), q = vcon_rxq(p), chains = 0;
	struct iovec iov[VIRTQ_MAX_SEGS];

	/* Linux drops data for a port nobody in the guest has open. */
	if (s->h.fd < 0 || s->eof || !guest_open(con, p))
		return true;
	for (;;) {
		uint32_t len;
		unsigned int n;
		ssize_t got;

		if (!*budget)
			return false;
		if (!r->held) {
			if (!pop_rx(con, q, &r->chain, &chains))
				return chains < VCON_QUEUE_SIZE;
			r->held = true;
		}
		len = r->chain.writable_len;
		if (len > VCON_MAX_RX_CHUNK)
			len = VCON_MAX_RX_CHUNK;
		if (len > *budget)
			len = *budget;
		n = virtq_chain_iov(&r->chain, true, 0, len, iov, VIRTQ_MAX_SEGS);
		got = stream_readv(s, iov, n);
		if (got == -EAGAIN) {
			s->want = true; /* resumed by EPOLLIN */
			return true;
		}
		if (got <= 0) {
			/* EOF, or an error that ends the input (a hung-up
			 * terminal's EIO). The held chain stays unused: a
			 * zero-length buffer would be a spurious EOF. */
			if (got < 0)
				log_debug("%s: %s: treated as end of input", s->name,
					  strerror((int)-got));
			input_ended(con);
			return true;
		}
		push(con, q, r->chain.head, (uint32_t)got);
		r->held = false;
		*budget -= (uint32_t)got;
	}
}

/* Pending "signal N" lines into the control port's receive chains. */
static void rx_signals(struct vcon *con)
{
	struct vcon_state *st = &con->st;
	unsigned int q = vcon_rxq(VCON_PORT_CONTROL), chains = 0;
	struct virtq_chain chain;

	if (!st->signal_len || !guest_open(con, VCON_PORT_CONTROL))
		return;
	while (st->signal_len && pop_rx(con, q, &chain, &chains)) {
		size_t n = virtq_chain_write(&chain, 0, st->signal_buf, st->signal_len);

		push(con, q, chain.head, (uint32_t)n);
		memmove(st->signal_buf, st->signal_buf + n, st->signal_len - n);
		st->signal_len -= (uint32_t)n;
	}
}

/* ---- control queues (5.3.6.2) -------------------------------------------- */

static void owe(struct vcon *con, unsigned int p, uint8_t what)
{
	con->st.port[p].owed |= what;
}

static void port_ready(struct vcon *con, unsigned int p)
{
	struct vcon_port_state *ps = &con->st.port[p];
	uint8_t what = 0;

	ps->ready = true;
	if (p == VCON_PORT_CONSOLE) {
		what |= OWE_CONSOLE;
		if (con->st.cols && con->st.rows)
			what |= OWE_RESIZE;
	}
	if (port_names[p])
		what |= OWE_NAME;
	if (ps->host_open)
		what |= OWE_OPEN;
	owe(con, p, what);
}

static void control_message(struct vcon *con, uint32_t id, uint16_t event,
			    uint16_t value)
{
	if (event != VIRTIO_CONSOLE_DEVICE_READY && id >= VCON_NR_PORTS) {
		log_guest_once("virtio-console: control event %u for port %u of %u",
			       event, id, VCON_NR_PORTS);
		return;
	}
	switch (event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		if (!value) {
			log_guest_once("virtio-console: the driver failed to set up");
			return;
		}
		for (unsigned int p = 0; p < VCON_NR_PORTS; p++)
			owe(con, p, OWE_ADD);
		return;
	case VIRTIO_CONSOLE_PORT_READY:
		if (!value) {
			log_guest_once("virtio-console: the driver could not add port %u",
				       id);
			return;
		}
		port_ready(con, id);
		return;
	case VIRTIO_CONSOLE_PORT_OPEN:
		con->st.port[id].guest_open = value != 0;
		return;
	default:
		log_guest_once("virtio-console: unknown control event %u ignored", event);
		return;
	}
}

/* The driver's control messages. Returns false when the limit stopped it. */
static bool ctrl_tx(struct vcon *con)
{
	struct virtq_chain chain;

	for (unsigned int i = 0; i < VCON_CTRL_BATCH; i++) {
		uint8_t msg[CTRL_HDR];
		int ret = pop(con, VCON_CTRL_TXQ, &chain);

		if (ret == 0)
			return true;
		if (ret < 0)
			continue;
		/* One copy, then only the copy is used (DESIGN rule 4). */
		if (virtq_chain_read(&chain, 0, msg, sizeof(msg)) < sizeof(msg))
			log_guest_once("virtio-console: control message of %u bytes",
				       chain.readable_len);
		else
			control_message(con, get_le32(msg), get_le16(msg + 4),
					get_le16(msg + 6));
		push(con, VCON_CTRL_TXQ, chain.head, 0);
	}
	return false;
}

/* Lay out the first message owed to port p; returns its length and clears
 * nothing (the caller does once it is delivered). */
static uint32_t build_message(const struct vcon *con, unsigned int p, uint8_t what,
			      uint8_t *msg)
{
	uint16_t event, value = 1;
	uint32_t len = CTRL_HDR;

	switch (what) {
	case OWE_ADD:
		event = VIRTIO_CONSOLE_PORT_ADD;
		break;
	case OWE_CONSOLE:
		event = VIRTIO_CONSOLE_CONSOLE_PORT;
		break;
	case OWE_RESIZE:
		event = VIRTIO_CONSOLE_RESIZE;
		value = 0;
		put_le16(msg + CTRL_HDR, con->st.cols);
		put_le16(msg + CTRL_HDR + 2, con->st.rows);
		len += 4;
		break;
	case OWE_NAME: {
		/* The name follows the header, without a NUL (5.3.6.2). */
		size_t n = strlen(port_names[p]);

		event = VIRTIO_CONSOLE_PORT_NAME;
		memcpy(msg + CTRL_HDR, port_names[p], n);
		len += (uint32_t)n;
		break;
	}
	default: /* OWE_OPEN */
		event = VIRTIO_CONSOLE_PORT_OPEN;
		value = con->st.port[p].host_open;
		break;
	}
	put_le32(msg, p);
	put_le16(msg + 4, event);
	put_le16(msg + 6, value);
	return len;
}

/* Send owed control messages into the driver's control receive buffers. */
static bool ctrl_rx(struct vcon *con)
{
	unsigned int chains = 0, p = 0;
	struct virtq_chain chain;

	while (p < VCON_NR_PORTS) {
		struct vcon_port_state *ps = &con->st.port[p];
		uint8_t msg[CTRL_MSG_MAX], what;
		uint32_t len;

		if (!ps->owed) {
			p++;
			continue;
		}
		if (!pop_rx(con, VCON_CTRL_RXQ, &chain, &chains))
			return chains < VCON_QUEUE_SIZE;
		what = ps->owed & (uint8_t)-ps->owed; /* lowest bit first */
		len = build_message(con, p, what, msg);
		if (chain.writable_len < len) {
			log_guest_once("virtio-console: control receive buffer of %u bytes",
				       chain.writable_len);
			push(con, VCON_CTRL_RXQ, chain.head, 0);
			continue;
		}
		virtq_chain_write(&chain, 0, msg, len);
		push(con, VCON_CTRL_RXQ, chain.head, len);
		ps->owed &= (uint8_t)~what;
	}
	return true;
}

/* ---- the turn ------------------------------------------------------------ */

static void notify_pushed(struct vcon *con)
{
	for (unsigned int q = 0; q < VCON_NR_QUEUES; q++)
		if (con->pushed & (1u << q))
			virtio_dev_notify_queue(&con->vdev, q);
	con->pushed = 0;
}

bool vcon_poll(struct vcon *con)
{
	struct virtio_dev *dev = &con->vdev;
	uint32_t out_budget = VCON_MAX_BATCH, err_budget = VCON_MAX_BATCH,
		 in_budget = VCON_MAX_BATCH;
	bool done = true;

	virtio_dev_lock(dev);
	/* Retry everything that waited: a spurious try costs one EAGAIN. */
	con->in.want = con->out.want = con->err.want = false;
	if (virtio_dev_is_active(dev)) {
		done &= ctrl_tx(con);
		for (unsigned int p = 0; p < VCON_NR_PORTS; p++) {
			uint32_t *b = p == VCON_PORT_STDERR ? &err_budget : &out_budget;
			uint32_t scratch = VCON_MAX_BATCH;

			if (!tx_stream(con, p))
				b = &scratch; /* dropped data costs no host I/O */
			done &= tx_port(con, p, b);
		}
		done &= rx_input(con, &in_budget);
		rx_signals(con);
		/* After the data: PORT_OPEN 0 must not overtake input. */
		done &= ctrl_rx(con);
		notify_pushed(con);
	}
	update_watch(con);
	if (!done)
		kick_self(con);
	virtio_dev_unlock(dev);
	return !done;
}

int vcon_drain(struct vcon *con, int abort_fd)
{
	struct virtio_dev *dev = &con->vdev;
	static const unsigned int ports[] = { VCON_PORT_CONSOLE, VCON_PORT_STDOUT,
					      VCON_PORT_STDERR };

	for (;;) {
		struct pollfd pfd[3];
		unsigned int n = 0;
		bool busy = false;

		virtio_dev_lock(dev);
		con->out.want = con->err.want = false;
		if (virtio_dev_is_active(dev)) {
			for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
				uint32_t budget = UINT32_MAX;

				/* A limit hit or a chain still held: more. */
				if (!tx_port(con, ports[i], &budget) ||
				    con->tx[ports[i]].held)
					busy = true;
			}
			notify_pushed(con);
		}
		if (con->out.want)
			pfd[n++] = (struct pollfd){ .fd = con->out.h.fd, .events = POLLOUT };
		if (con->err.want)
			pfd[n++] = (struct pollfd){ .fd = con->err.h.fd, .events = POLLOUT };
		virtio_dev_unlock(dev);
		if (!busy)
			return 0;
		if (!n)
			continue; /* a limit, not a wait */
		if (abort_fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = abort_fd, .events = POLLIN };
		if (poll(pfd, n, -1) < 0 && errno != EINTR)
			return -errno;
		if (abort_fd >= 0 && (pfd[n - 1].revents & POLLIN))
			return -EINTR;
	}
}

/* ---- outside callers ----------------------------------------------------- */

int vcon_send_signal(struct vcon *con, int signo)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "signal %d\n", signo);
	int ret = 0;

	virtio_dev_lock(&con->vdev);
	if (n < 0 || con->st.signal_len + (uint32_t)n > VCON_SIGNAL_BUF) {
		ret = -ENOSPC;
	} else {
		memcpy(con->st.signal_buf + con->st.signal_len, line, (size_t)n);
		con->st.signal_len += (uint32_t)n;
	}
	virtio_dev_unlock(&con->vdev);
	if (!ret)
		kick_self(con);
	return ret;
}

void vcon_set_winsize(struct vcon *con, uint16_t cols, uint16_t rows)
{
	struct virtio_dev *dev = &con->vdev;

	virtio_dev_lock(dev);
	con->st.cols = cols;
	con->st.rows = rows;
	if (multiport(con)) {
		/* Linux takes the size of a multiport device's console from
		 * RESIZE messages only (drivers/char/virtio_console.c). */
		if (con->st.port[VCON_PORT_CONSOLE].ready && cols && rows)
			owe(con, VCON_PORT_CONSOLE, OWE_RESIZE);
	} else {
		virtio_dev_config_changed(dev);
	}
	virtio_dev_unlock(dev);
	kick_self(con);
}

/* ---- transport callbacks (vCPU thread, lock held) ------------------------ */

static void vcon_config_read(struct virtio_dev *dev, uint32_t off, void *data,
			     unsigned int size)
{
	const struct vcon *con = to_vcon(dev);
	uint8_t cfg[CONFIG_SIZE];

	put_le16(cfg, con->st.cols);
	put_le16(cfg + 2, con->st.rows);
	put_le32(cfg + 4, VCON_NR_PORTS);
	put_le32(cfg + 8, 0); /* emerg_wr: F_EMERG_WRITE is not offered */
	memcpy(data, cfg + off, size);
}

static void vcon_config_write(struct virtio_dev *dev, uint32_t off, const void *data,
			      unsigned int size)
{
	(void)dev;
	(void)data;
	log_guest_once("virtio-console: config write at %u (%u bytes) ignored", off,
		       size);
}

/* A kick no ioeventfd caught: the work belongs on the event loop. */
static void vcon_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	(void)q;
	kick_self(to_vcon(dev));
}

static int vcon_activate(struct virtio_dev *dev)
{
	kick_self(to_vcon(dev));
	return 0;
}

/* 2.4: forget the driver's state and every chain held; the host side
 * (fds, EOF seen, signals not yet delivered, window size) stays. */
static void vcon_reset(struct virtio_dev *dev)
{
	struct vcon *con = to_vcon(dev);

	for (unsigned int p = 0; p < VCON_NR_PORTS; p++) {
		struct vcon_port_state *ps = &con->st.port[p];

		ps->ready = ps->guest_open = false;
		ps->owed = 0;
		con->tx[p].held = false;
	}
	con->rx.held = false;
	con->pushed = 0;
}

static const struct virtio_dev_ops vcon_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.features = VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE) |
		    VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT) | VIRTIO_RING_FEATURES,
	.nr_queues = VCON_NR_QUEUES,
	.queue_max = {
		VCON_QUEUE_SIZE, VCON_QUEUE_SIZE,           /* port 0 */
		VCON_CTRL_QUEUE_SIZE, VCON_CTRL_QUEUE_SIZE, /* control */
		VCON_QUEUE_SIZE, VCON_QUEUE_SIZE,           /* port 1 */
		VCON_QUEUE_SIZE, VCON_QUEUE_SIZE,           /* port 2 */
		VCON_QUEUE_SIZE, VCON_QUEUE_SIZE,           /* port 3 */
		VCON_QUEUE_SIZE, VCON_QUEUE_SIZE,           /* port 4 */
	},
	.config_size = CONFIG_SIZE,
	.config_read = vcon_config_read,
	.config_write = vcon_config_write,
	.queue_notify = vcon_queue_notify,
	.activate = vcon_activate,
	.reset = vcon_reset,
};

_Static_assert(VCON_NR_QUEUES <= VIRTIO_MAX_QUEUES, "too many queues");
_Static_assert(VCON_NR_QUEUES <= 32, "the pushed mask is 32 bits");

/* ---- life cycle ---------------------------------------------------------- */

static void on_kick(struct ev_handler *h, uint32_t events)
{
	uint64_t n;

	(void)events;
	if (read(h->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("virtio-console: kick read: %s", strerror(errno));
	vcon_poll(container_of(h, struct vcon, kick));
}

static void on_stream(struct ev_handler *h, uint32_t events)
{
	(void)events; /* errors and hang-ups show in the next read or write */
	vcon_poll(container_of(h, struct vcon_stream, h)->con);
}

int vcon_create(const struct guest_mem *mem, struct evloop *loop,
		const struct vcon_host *host, struct vcon **out)
{
	struct vcon *con = calloc(1, sizeof(*con));
	int ret;

	if (!con) {
		ret = -ENOMEM;
		goto err_fds;
	}
	con->kick.fd = -1;
	ret = virtio_dev_init(&con->vdev, &vcon_ops, mem, NULL, NULL);
	if (ret)
		goto err_free;
	con->tty = host->tty;
	con->st.cols = host->cols;
	con->st.rows = host->rows;
	stream_init(con, &con->in, "stdin", host->in_fd, EPOLLIN);
	stream_init(con, &con->out, "stdout", host->out_fd, EPOLLOUT);
	stream_init(con, &con->err, "stderr", host->err_fd, EPOLLOUT);
	con->in.h.cb = con->out.h.cb = con->err.h.cb = on_stream;
	/* The host side of each port (5.3.6.2 PORT_OPEN): the input port is
	 * open only when there is input; output ports are always open, so
	 * that guest writers never block on a host that went away. */
	con->st.port[VCON_PORT_CONSOLE].host_open = true;
	con->st.port[VCON_PORT_STDIN].host_open = !host->tty && host->in_fd >= 0;
	con->st.port[VCON_PORT_STDOUT].host_open = true;
	con->st.port[VCON_PORT_STDERR].host_open = true;
	con->st.port[VCON_PORT_CONTROL].host_open = true;

	con->kick.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (con->kick.fd < 0) {
		ret = -errno;
		goto err_dev;
	}
	con->kick.cb = on_kick;
	if (loop) {
		con->loop = loop;
		ret = evloop_add(loop, &con->kick, EPOLLIN);
		if (ret)
			goto err_dev;
		con->kick_watched = true;
	}
	*out = con;
	return 0;

err_dev:
	vcon_destroy(&con->vdev);
	return ret;
err_free:
	free(con);
err_fds:
	if (host->in_fd >= 0)
		close(host->in_fd);
	if (host->out_fd >= 0)
		close(host->out_fd);
	if (host->err_fd >= 0)
		close(host->err_fd);
	return ret;
}

struct virtio_dev *vcon_dev(struct vcon *con)
{
	return &con->vdev;
}

int vcon_kick_fd(const struct vcon *con)
{
	return con->kick.fd;
}

void vcon_destroy(struct virtio_dev *dev)
{
	struct vcon *con;

	if (!dev)
		return;
	con = to_vcon(dev);
	stream_close(&con->in);
	stream_close(&con->out);
	stream_close(&con->err);
	if (con->kick_watched && con->loop->epfd >= 0)
		evloop_del(con->loop, &con->kick);
	if (con->kick.fd >= 0)
		close(con->kick.fd);
	virtio_dev_destroy(&con->vdev);
	free(con);
}
