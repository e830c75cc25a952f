/*
 * echo: the smallest server that speaks the xenstore framing, as the floor
 * of this transport on this machine. Every request (16-byte little-endian
 * header + payload) is answered with a reply of the same type, req_id and
 * tx_id whose payload is "OK\0". No store, no parsing of the payload.
 *
 *   echo SOCKET        listen on the Unix socket SOCKET until SIGTERM/SIGINT
 *
 * Single-threaded, poll(2), non-blocking; replies to all complete requests
 * in one read are written together (as a real daemon batches its output).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct hdr { uint32_t type, req_id, tx_id, len; };

struct client {
	int fd;
	char *in, *out;
	size_t inlen, incap, outlen, outoff, outcap;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void *grow(void *p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return p;
	while (*cap < need)
		*cap = *cap ? *cap * 2 : 65536;
	p = realloc(p, *cap);
	if (!p) {
		perror("echo: realloc");
		exit(1);
	}
	return p;
}

/* Answer every complete request in c->in; returns 0 when the client must go. */
static int serve(struct client *c)
{
	size_t off = 0;
	while (c->inlen - off >= sizeof(struct hdr)) {
		struct hdr h;
		memcpy(&h, c->in + off, sizeof(h));
		if (h.len > 65536)
			return 0;
		if (c->inlen - off < sizeof(h) + h.len)
			break;
		off += sizeof(h) + h.len;
		h.len = 3;
		c->out = grow(c->out, &c->outcap, c->outlen + sizeof(h) + 3);
		memcpy(c->out + c->outlen, &h, sizeof(h));
		memcpy(c->out + c->outlen + sizeof(h), "OK", 3);
		c->outlen += sizeof(h) + 3;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return 1;
}

static int flush(struct client *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0) {
			if (errno == EAGAIN)
				return 1;
			if (errno == EINTR)
				continue;
			return 0;
		}
		c->outoff += n;
	}
	c->outoff = c->outlen = 0;
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct client *cl = NULL;
	struct pollfd *pf = NULL;
	int lfd, n = 0, cap = 0, i;

	if (argc != 2) {
		fprintf(stderr, "usage: echo SOCKET\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	strncpy(sa.sun_path, argv[1], sizeof(sa.sun_path) - 1);
	unlink(argv[1]);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 512) < 0) {
		perror("echo: listen");
		return 1;
	}
	while (!stop) {
		if (n + 1 > cap) {
			cap = cap ? cap * 2 : 64;
			pf = realloc(pf, (cap + 1) * sizeof(*pf));
			cl = realloc(cl, cap * sizeof(*cl));
			if (!pf || !cl) {
				perror("echo: realloc");
				return 1;
			}
		}
		pf[0].fd = lfd;
		pf[0].events = POLLIN;
		for (i = 0; i < n; i++) {
			pf[i + 1].fd = cl[i].fd;
			pf[i + 1].events = POLLIN | (cl[i].outlen ? POLLOUT : 0);
		}
		if (poll(pf, n + 1, 1000) < 0) {
			if (errno == EINTR)
				continue;
			perror("echo: poll");
			return 1;
		}
		for (i = n - 1; i >= 0; i--) {
			struct client *c = &cl[i];
			int ok = 1;
			short re = pf[i + 1].revents;
			if (re & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t r;
				c->in = grow(c->in, &c->incap, c->inlen + 65536);
				r = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
				if (r > 0) {
					c->inlen += r;
					ok = serve(c);
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR))
					ok = 0;
			}
			if (ok && c->outlen)
				ok = flush(c);
			if (!ok) {
				close(c->fd);
				free(c->in);
				free(c->out);
				cl[i] = cl[--n];
			}
		}
		if (pf[0].revents & POLLIN) {
			int fd;
			while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
				if (n + 1 > cap)
					break; /* picked up on the next round */
				memset(&cl[n], 0, sizeof(cl[n]));
				cl[n++].fd = fd;
			}
			if (fd >= 0) { /* no room this round: grow and keep it */
				cap *= 2;
				pf = realloc(pf, (cap + 1) * sizeof(*pf));
				cl = realloc(cl, cap * sizeof(*cl));
				if (!pf || !cl) {
					perror("echo: realloc");
					return 1;
				}
				memset(&cl[n], 0, sizeof(cl[n]));
				cl[n++].fd = fd;
			}
		}
	}
	unlink(argv[1]);
	return 0;
}
