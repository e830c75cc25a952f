/*
 * xsload: a small xenstore load generator in C, so that the benchmark's
 * client is never the bottleneck. Speaks the wire protocol directly
 * (16-byte little-endian header + payload) over the Unix socket.
 *
 *   xsload SOCKET seq  OP N                 one connection, one request at a time:
 *                                           prints ops/s and latency percentiles
 *   xsload SOCKET par  OP CONNS DEPTH N     CONNS connections, DEPTH requests in
 *                                           flight on each, N requests in all
 *   xsload SOCKET fanout WATCHES WRITES     WATCHES watches on the ancestors of a
 *                                           hot path (own connections), WRITES writes:
 *                                           writes/s and events/s delivered
 *   OP: read | write | dir | mkdirrm
 * Output: one line of JSON. Client CPU time is included so that the
 * benchmark can show the client is not the limit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { XS_DIRECTORY = 1, XS_READ = 2, XS_WATCH = 4, XS_WRITE = 11, XS_MKDIR = 12, XS_RM = 13, XS_WATCH_EVENT = 15, XS_ERROR = 16 };

struct hdr { uint32_t type, req_id, tx_id, len; };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_self(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "xsload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, tries;

	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	for (tries = 0;; tries++) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		if (errno != EAGAIN || tries > 1000)
			die("connect");
		usleep(1000);
	}
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		p += n;
		len -= n;
	}
}

static void read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				errno = EPIPE;
			die("read");
		}
		p += n;
		len -= n;
	}
}

/* Build the request for an op into buf; returns its length. */
static size_t build(char *buf, int type, uint32_t req, const char *a, const char *b, size_t blen)
{
	struct hdr h = { type, req, 0, 0 };
	size_t alen = strlen(a) + 1;
	memcpy(buf + sizeof(h), a, alen);
	if (b)
		memcpy(buf + sizeof(h) + alen, b, blen);
	h.len = alen + (b ? blen : 0);
	memcpy(buf, &h, sizeof(h));
	return sizeof(h) + h.len;
}

static char payload[8192];

/* Read one packet (skipping watch events when skip_events); returns its type. */
static int recv_packet(int fd, int skip_events, long *events)
{
	struct hdr h;
	for (;;) {
		read_all(fd, &h, sizeof(h));
		if (h.len > sizeof(payload)) {
			errno = EMSGSIZE;
			die("reply");
		}
		read_all(fd, payload, h.len);
		if (h.type == XS_WATCH_EVENT && skip_events) {
			if (events)
				(*events)++;
			continue;
		}
		return h.type;
	}
}

/* The request(s) of one logical operation. */
static int op_requests(const char *op, char *buf, uint32_t req, int conn, long i, size_t *lens)
{
	static char path[256];
	snprintf(path, sizeof(path), "/bench/c%d/k%ld", conn, i % 64);
	if (!strcmp(op, "read")) {
		snprintf(path, sizeof(path), "/bench/c%d/k%ld", conn, i % 64);
		lens[0] = build(buf, XS_READ, req, path, NULL, 0);
		return 1;
	}
	if (!strcmp(op, "write")) {
		lens[0] = build(buf, XS_WRITE, req, path, "some-value-1234", 15);
		return 1;
	}
	if (!strcmp(op, "dir")) {
		snprintf(path, sizeof(path), "/bench/c%d", conn);
		lens[0] = build(buf, XS_DIRECTORY, req, path, NULL, 0);
		return 1;
	}
	if (!strcmp(op, "mkdirrm")) {
		snprintf(path, sizeof(path), "/bench/c%d/tmp%ld", conn, i % 64);
		lens[0] = build(buf, XS_MKDIR, req, path, NULL, 0);
		lens[1] = build(buf + lens[0], XS_RM, req + 1, path, NULL, 0);
		return 2;
	}
	fprintf(stderr, "xsload: unknown op %s\n", op);
	exit(2);
}

/* Make sure /bench/cN/k0..k63 exist for reads and directories. */
static void prepare(const char *sock, int conns)
{
	char buf[512], path[128];
	int fd = dial(sock), c, k;
	for (c = 0; c < conns; c++)
		for (k = 0; k < 64; k++) {
			snprintf(path, sizeof(path), "/bench/c%d/k%d", c, k);
			write_all(fd, buf, build(buf, XS_WRITE, 1, path, "initial-value", 13));
			recv_packet(fd, 1, NULL);
		}
	close(fd);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void seq(const char *sock, const char *op, long n)
{
	char buf[1024];
	size_t lens[2];
	double *lat = malloc(sizeof(double) * n);
	int fd, k, m;
	long i;
	double t0, t1, c0;

	prepare(sock, 1);
	fd = dial(sock);
	c0 = cpu_self();
	t0 = now();
	for (i = 0; i < n; i++) {
		double s = now();
		size_t off = 0;
		m = op_requests(op, buf, (uint32_t)i * 2 + 1, 0, i, lens);
		for (k = 0; k < m; k++) {
			write_all(fd, buf + off, lens[k]);
			off += lens[k];
			if (recv_packet(fd, 1, NULL) == XS_ERROR) {
				fprintf(stderr, "xsload: error reply: %s\n", payload);
				exit(1);
			}
		}
		lat[i] = now() - s;
	}
	t1 = now();
	qsort(lat, n, sizeof(double), cmp_double);
	printf("{\"mode\":\"seq\",\"op\":\"%s\",\"ops\":%ld,\"seconds\":%.6f,\"ops_per_s\":%.1f,"
	       "\"p50_us\":%.2f,\"p99_us\":%.2f,\"client_cpu_s\":%.4f}\n",
	       op, n, t1 - t0, n / (t1 - t0), lat[n / 2] * 1e6, lat[(long)(n * 0.99)] * 1e6, cpu_self() - c0);
	close(fd);
	free(lat);
}

static void par(const char *sock, const char *op, int conns, int depth, long total)
{
	int *fds = calloc(conns, sizeof(int));
	long *sent = calloc(conns, sizeof(long)), *done = calloc(conns, sizeof(long));
	long per = total / conns, completed = 0;
	struct pollfd *pfd = calloc(conns, sizeof(struct pollfd));
	char buf[64 * 1024];
	size_t lens[2];
	double t0, t1, c0;
	int c, k, m;
	/* Partial-read state per connection. */
	char **rbuf = calloc(conns, sizeof(char *));
	size_t *rlen = calloc(conns, sizeof(size_t));

	prepare(sock, conns);
	for (c = 0; c < conns; c++) {
		fds[c] = dial(sock);
		rbuf[c] = malloc(1 << 20);
	}
	m = op_requests(op, buf, 0, 0, 0, lens); /* requests per op */
	c0 = cpu_self();
	t0 = now();
	/* Fill every pipeline. */
	for (c = 0; c < conns; c++) {
		size_t off = 0;
		while (sent[c] < per && sent[c] - done[c] < depth) {
			int j = op_requests(op, buf + off, (uint32_t)sent[c] * 2 + 1, c, sent[c], lens);
			for (k = 0; k < j; k++)
				off += lens[k];
			sent[c]++;
		}
		write_all(fds[c], buf, off);
	}
	while (completed < per * conns) {
		for (c = 0; c < conns; c++) {
			pfd[c].fd = done[c] < per ? fds[c] : -1;
			pfd[c].events = POLLIN;
		}
		if (poll(pfd, conns, 10000) <= 0)
			die("poll");
		for (c = 0; c < conns; c++) {
			ssize_t n;
			size_t off = 0, wo = 0;
			long replies = 0;
			if (!(pfd[c].revents & POLLIN))
				continue;
			n = read(fds[c], rbuf[c] + rlen[c], (1 << 20) - rlen[c]);
			if (n <= 0)
				die("read");
			rlen[c] += n;
			while (rlen[c] - off >= sizeof(struct hdr)) {
				struct hdr h;
				memcpy(&h, rbuf[c] + off, sizeof(h));
				if (rlen[c] - off < sizeof(h) + h.len)
					break;
				if (h.type == XS_ERROR) {
					fprintf(stderr, "xsload: error reply\n");
					exit(1);
				}
				if (h.type != XS_WATCH_EVENT)
					replies++;
				off += sizeof(h) + h.len;
			}
			memmove(rbuf[c], rbuf[c] + off, rlen[c] - off);
			rlen[c] -= off;
			/* An op is done when all its requests are answered. */
			done[c] += replies / m;
			completed += replies / m;
			if (replies % m) {
				fprintf(stderr, "xsload: unaligned replies\n");
				exit(1);
			}
			while (sent[c] < per && sent[c] - done[c] < depth) {
				int j = op_requests(op, buf + wo, (uint32_t)sent[c] * 2 + 1, c, sent[c], lens);
				for (k = 0; k < j; k++)
					wo += lens[k];
				sent[c]++;
			}
			if (wo)
				write_all(fds[c], buf, wo);
		}
	}
	t1 = now();
	printf("{\"mode\":\"par\",\"op\":\"%s\",\"conns\":%d,\"depth\":%d,\"ops\":%ld,\"seconds\":%.6f,"
	       "\"ops_per_s\":%.1f,\"client_cpu_s\":%.4f}\n",
	       op, conns, depth, per * conns, t1 - t0, per * conns / (t1 - t0), cpu_self() - c0);
	for (c = 0; c < conns; c++)
		close(fds[c]);
}

static void fanout(const char *sock, int watches, long writes)
{
	/* Watchers spread over 16 connections, on the ancestors of the hot path. */
	enum { WCONNS = 16 };
	int wfd[WCONNS], fd, i, c;
	char buf[1024], path[256], token[32];
	long events = 0, expected;
	double t0, t1, c0;
	const char *hot = "/fan/a/b/c/d/hot";
	const char *anc[] = { "/", "/fan", "/fan/a", "/fan/a/b", "/fan/a/b/c", "/fan/a/b/c/d", "/fan/a/b/c/d/hot" };

	for (c = 0; c < WCONNS; c++)
		wfd[c] = dial(sock);
	for (i = 0; i < watches; i++) {
		c = i % WCONNS;
		snprintf(token, sizeof(token), "w%d", i);
		snprintf(path, sizeof(path), "%s", anc[i % 7]);
		memset(buf, 0, sizeof(buf));
		{
			struct hdr h = { XS_WATCH, 1, 0, 0 };
			size_t pl = strlen(path) + 1, tl = strlen(token) + 1;
			memcpy(buf + sizeof(h), path, pl);
			memcpy(buf + sizeof(h) + pl, token, tl);
			h.len = pl + tl;
			memcpy(buf, &h, sizeof(h));
			write_all(wfd[c], buf, sizeof(h) + h.len);
			recv_packet(wfd[c], 1, NULL); /* ack */
			recv_packet(wfd[c], 0, NULL); /* initial event */
		}
	}
	fd = dial(sock);
	c0 = cpu_self();
	t0 = now();
	for (i = 0; i < writes; i++) {
		write_all(fd, buf, build(buf, XS_WRITE, i + 1, hot, "v", 1));
		recv_packet(fd, 1, NULL);
	}
	t1 = now();
	/* Count events: each write reaches every watch. */
	expected = (long)watches * writes;
	while (events < expected) {
		for (c = 0; c < WCONNS; c++) {
			struct pollfd p = { wfd[c], POLLIN, 0 };
			while (poll(&p, 1, 0) > 0) {
				recv_packet(wfd[c], 0, NULL);
				events++;
			}
		}
		if (events < expected) {
			struct pollfd ps[WCONNS];
			for (c = 0; c < WCONNS; c++) {
				ps[c].fd = wfd[c];
				ps[c].events = POLLIN;
			}
			if (poll(ps, WCONNS, 10000) <= 0)
				break;
		}
	}
	{
		double t2 = now();
		printf("{\"mode\":\"fanout\",\"watches\":%d,\"writes\":%ld,\"write_seconds\":%.6f,\"writes_per_s\":%.1f,"
		       "\"events\":%ld,\"expected_events\":%ld,\"events_per_s\":%.1f,\"client_cpu_s\":%.4f}\n",
		       watches, writes, t1 - t0, writes / (t1 - t0), events, expected, events / (t2 - t0), cpu_self() - c0);
	}
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[2], "seq"))
		seq(argv[1], argv[3], atol(argv[4]));
	else if (argc >= 7 && !strcmp(argv[2], "par"))
		par(argv[1], argv[3], atoi(argv[4]), atoi(argv[5]), atol(argv[6]));
	else if (argc >= 5 && !strcmp(argv[2], "fanout"))
		fanout(argv[1], atoi(argv[3]), atol(argv[4]));
	else {
		fprintf(stderr, "usage: xsload SOCKET seq OP N | par OP CONNS DEPTH N | fanout WATCHES WRITES\n");
		return 2;
	}
	return 0;
}
