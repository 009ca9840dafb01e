/* SPDX-License-Identifier: MIT */
/* The host-side TCP forwarder for published ports; see portfwd.h. */
#include "portfwd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "sandbox.h"

struct pf_listener {
	struct ev_handler h;
	struct portfwd *pf;
	uint16_t host_port;
	uint16_t guest_port;
};

/* One direction: bytes read from `from`, not yet written to the other side. */
struct pf_pipe {
	uint8_t *buf;
	size_t head, len;
	bool eof;      /* `from` has reached end of stream */
	bool shut;     /* shutdown(to, SHUT_WR) done */
};

struct pf_side {
	struct ev_handler h;
	struct pf_conn *conn;
	uint32_t events; /* what is registered now */
	bool parked;     /* taken off epoll: done both ways, only HUP left */
};

struct pf_conn {
	struct portfwd *pf;
	struct pf_side client, guest;
	struct pf_pipe up;   /* client -> guest */
	struct pf_pipe down; /* guest -> client */
	bool connecting;     /* the guest connection is not yet established */
	struct pf_conn *prev, *next;
};

struct portfwd {
	struct evloop loop;
	bool loop_ok;
	uint32_t guest_ip;
	unsigned int nr;
	struct pf_listener *ls;
	struct pf_conn *conns;
	unsigned int nr_conns;
};

static void conn_free(struct pf_conn *c)
{
	struct portfwd *pf = c->pf;

	if (!c->client.parked)
		evloop_del(&pf->loop, &c->client.h);
	close(c->client.h.fd);
	if (!c->guest.parked)
		evloop_del(&pf->loop, &c->guest.h);
	close(c->guest.h.fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		pf->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pf->nr_conns--;
	free(c->up.buf);
	free(c->down.buf);
	free(c);
}

/* Read what fits from fd into p. -1: the connection must go. */
static int pipe_fill(struct pf_pipe *p, int fd)
{
	while (!p->eof && p->len < PORTFWD_BUF) {
		size_t tail, room;
		ssize_t n;

		if (p->len == 0)
			p->head = 0;
		tail = (p->head + p->len) % PORTFWD_BUF;
		/* Contiguous free space at tail: to the end of the buffer when
		 * the data does not wrap, else up to head. */
		room = tail > p->head || p->len == 0 ? PORTFWD_BUF - tail : p->head - tail;
		n = read(fd, p->buf + tail, room);
		if (n > 0) {
			p->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			p->eof = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break;
		return -1;
	}
	return 0;
}

/* Write what p holds to fd, then pass an EOF on. -1: the connection must go. */
static int pipe_drain(struct pf_pipe *p, int fd)
{
	while (p->len) {
		size_t chunk = PORTFWD_BUF - p->head < p->len ? PORTFWD_BUF - p->head : p->len;
		ssize_t n = send(fd, p->buf + p->head, chunk, MSG_NOSIGNAL);

		if (n > 0) {
			p->head = (p->head + (size_t)n) % PORTFWD_BUF;
			p->len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		return -1;
	}
	if (p->eof && !p->shut) {
		p->shut = true;
		if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
			return -1;
	}
	return 0;
}

/*
 * Register `events` for side s. A side that has read its EOF and been shut
 * for writing waits for nothing, but epoll would still report its HUP on
 * every turn: take it off epoll until the other side is done too.
 */
static void side_set(struct portfwd *pf, struct pf_side *s, uint32_t events, bool done)
{
	if (s->parked)
		return;
	if (!events && done) {
		evloop_del(&pf->loop, &s->h);
		s->parked = true;
		return;
	}
	if (events != s->events && evloop_mod(&pf->loop, &s->h, events) == 0)
		s->events = events;
}

/* Register what each side waits for now; free the connection when done. */
static void conn_update(struct pf_conn *c)
{
	struct portfwd *pf = c->pf;
	uint32_t ce = 0, ge = 0;

	if (c->up.shut && c->down.shut) {
		conn_free(c);
		return;
	}
	if (c->connecting) {
		ge = EPOLLOUT;
	} else {
		if (!c->up.eof && c->up.len < PORTFWD_BUF)
			ce |= EPOLLIN;
		if (c->up.len || (c->up.eof && !c->up.shut))
			ge |= EPOLLOUT;
		if (!c->down.eof && c->down.len < PORTFWD_BUF)
			ge |= EPOLLIN;
		if (c->down.len || (c->down.eof && !c->down.shut))
			ce |= EPOLLOUT;
	}
	side_set(pf, &c->client, ce, c->up.eof && c->down.shut);
	side_set(pf, &c->guest, ge, c->down.eof && c->up.shut);
}

static void side_event(struct ev_handler *h, uint32_t events)
{
	struct pf_side *s = container_of(h, struct pf_side, h);
	struct pf_conn *c = s->conn;
	int cfd = c->client.h.fd, gfd = c->guest.h.fd;

	if (c->connecting) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (s != &c->guest) {
			/* The client hung up before the guest answered. */
			if (events & (EPOLLHUP | EPOLLERR))
				conn_free(c);
			return;
		}
		if (getsockopt(gfd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			err = errno;
		if (err) {
			log_debug("published port: connecting to the guest: %s", strerror(err));
			conn_free(c);
			return;
		}
		c->connecting = false;
		events |= EPOLLOUT | EPOLLIN;
	}
	if (events & EPOLLERR) {
		conn_free(c);
		return;
	}
	/* Level-triggered: do whatever both sides allow, then re-register. */
	if (pipe_fill(&c->up, cfd) || pipe_fill(&c->down, gfd) ||
	    pipe_drain(&c->up, gfd) || pipe_drain(&c->down, cfd)) {
		conn_free(c);
		return;
	}
	conn_update(c);
}

static void accept_one(struct pf_listener *l, int cfd)
{
	struct portfwd *pf = l->pf;
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(l->guest_port),
		.sin_addr.s_addr = htonl(pf->guest_ip),
	};
	struct pf_conn *c;
	int one = 1, gfd;

	if (pf->nr_conns >= PORTFWD_MAX_CONNS) {
		log_guest_once("published port %u: more than %u connections; closing new ones",
			       l->host_port, PORTFWD_MAX_CONNS);
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->up.buf = malloc(PORTFWD_BUF)) || !(c->down.buf = malloc(PORTFWD_BUF)))
		goto err_free;
	gfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (gfd < 0)
		goto err_free;
	(void)setsockopt(gfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(gfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS) {
		log_debug("published port %u: connect: %s", l->host_port, strerror(errno));
		close(gfd);
		goto err_free;
	}
	c->pf = pf;
	c->connecting = true;
	c->client = (struct pf_side){ .h = { .fd = cfd, .cb = side_event }, .conn = c };
	c->guest = (struct pf_side){ .h = { .fd = gfd, .cb = side_event }, .conn = c,
				     .events = EPOLLOUT };
	if (evloop_add(&pf->loop, &c->client.h, 0) ||
	    evloop_add(&pf->loop, &c->guest.h, EPOLLOUT)) {
		evloop_del(&pf->loop, &c->client.h);
		close(gfd);
		goto err_free;
	}
	c->next = pf->conns;
	if (c->next)
		c->next->prev = c;
	pf->conns = c;
	pf->nr_conns++;
	return;
err_free:
	if (c) {
		free(c->up.buf);
		free(c->down.buf);
	}
	free(c);
	close(cfd);
}

static void listener_event(struct ev_handler *h, uint32_t events)
{
	struct pf_listener *l = container_of(h, struct pf_listener, h);

	(void)events;
	/* A bounded batch per turn, so one port cannot starve the others. */
	for (int i = 0; i < 64; i++) {
		int cfd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("published port %u: accept: %s", l->host_port,
					 strerror(errno));
			return;
		}
		accept_one(l, cfd);
	}
}

static int listen_on(struct pf_listener *l, const struct vm_port *p, char *why,
		     size_t why_len)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(p->host_port),
		.sin_addr.s_addr = htonl(p->host_ip),
	};
	char ip[INET_ADDRSTRLEN];
	socklen_t sl = sizeof(sin);
	int one = 1, fd;

	inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return why_fail(why, why_len, -errno, "-p %s:%u: socket: %s", ip,
				p->host_port, strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) < 0) {
		int err = errno;

		close(fd);
		return why_fail(why, why_len, -err, "-p %s:%u: %s", ip, p->host_port,
				strerror(err));
	}
	l->h.fd = fd;
	l->h.cb = listener_event;
	l->host_port = ntohs(sin.sin_port);
	l->guest_port = p->guest_port;
	return 0;
}

int portfwd_create(struct portfwd **out, const struct vm_port *ports, unsigned int nr,
		   uint32_t guest_ip, char *why, size_t why_len)
{
	struct portfwd *pf = calloc(1, sizeof(*pf));
	int ret;

	*out = NULL;
	if (!pf || !(pf->ls = calloc(nr ? nr : 1, sizeof(*pf->ls)))) {
		free(pf);
		return why_fail(why, why_len, -ENOMEM, "published ports: out of memory");
	}
	pf->guest_ip = guest_ip;
	ret = evloop_init(&pf->loop);
	pf->loop.sb_thread = SB_PORTFWD;
	if (ret) {
		free(pf->ls);
		free(pf);
		return why_fail(why, why_len, ret, "published ports: event loop: %s",
				strerror(-ret));
	}
	pf->loop_ok = true;
	for (unsigned int i = 0; i < nr; i++) {
		pf->ls[i].pf = pf;
		ret = listen_on(&pf->ls[i], &ports[i], why, why_len);
		if (ret)
			goto err;
		pf->nr++;
		ret = evloop_add(&pf->loop, &pf->ls[i].h, EPOLLIN);
		if (ret) {
			why_fail(why, why_len, ret, "published ports: epoll: %s", strerror(-ret));
			goto err;
		}
	}
	*out = pf;
	return 0;
err:
	portfwd_destroy(pf);
	return ret;
}

int portfwd_start(struct portfwd *pf)
{
	return evloop_start(&pf->loop);
}

uint16_t portfwd_host_port(const struct portfwd *pf, unsigned int i)
{
	return i < pf->nr ? pf->ls[i].host_port : 0;
}

void portfwd_destroy(struct portfwd *pf)
{
	if (!pf)
		return;
	if (pf->loop_ok)
		evloop_stop(&pf->loop);
	while (pf->conns)
		conn_free(pf->conns);
	for (unsigned int i = 0; i < pf->nr; i++) {
		evloop_del(&pf->loop, &pf->ls[i].h);
		close(pf->ls[i].h.fd);
	}
	if (pf->loop_ok)
		evloop_destroy(&pf->loop);
	free(pf->ls);
	free(pf);
}
