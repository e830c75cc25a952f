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
 *                                           hot path (16 connections), WRITES writes,
 *                                           each once all events of the last arrived:
 *                                           writes/s and events/s
 *   xsload SOCKET tx CONNS N shared|disjoint
 *                                           CONNS connections, each committing N
 *                                           read-increment-write transactions on one
 *                                           shared counter or on its own subtree,
 *                                           retrying on EAGAIN; checks the counters
 *   xsload SOCKET boot CONNS FIRST COUNT    libxl-style creation of COUNT guests
 *                                           (domids FIRST..), CONNS toolstack
 *                                           connections, one request in flight each
 *   xsload SOCKET teardown CONNS FIRST COUNT
 *                                           the matching destruction (tx rm, RELEASE)
 *   xsload SOCKET populate CONNS DEPTH FIRST COUNT [vbd]
 *                                           the same guest trees without the vbd
 *                                           (no transactions, watches or INTRODUCE),
 *                                           DEPTH requests in flight per connection;
 *                                           with `vbd`, the disk too: the same
 *                                           nodes a guest as `boot` creates
 *   xsload - run CMD [ARGS...]              run CMD; print its CPU time as JSON on
 *                                           stderr after it exits (exit status kept)
 *   OP: read | write | dir | mkdirrm
 * Output: one line of JSON on stdout. Client CPU time is included so that
 * the benchmark can show the client is not the limit. With XSLOAD_DAEMON_PID
 * set, "daemon_cpu_ns" is the daemon's CPU time (nanoseconds, from the scheduler)
 * over the timed part only; -1 without it. With XSLOAD_CPU=N, xsload (and the
 * command of `run`) runs on CPU N only.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
	XS_DIRECTORY = 1, XS_READ = 2, XS_WATCH = 4, XS_UNWATCH = 5, XS_TX_START = 6, XS_TX_END = 7,
	XS_INTRODUCE = 8, XS_RELEASE = 9, XS_WRITE = 11, XS_MKDIR = 12, XS_RM = 13, XS_SET_PERMS = 14,
	XS_WATCH_EVENT = 15, XS_ERROR = 16
};

struct hdr { uint32_t type, req_id, tx_id, len; };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double tv(struct timeval t)
{
	return t.tv_sec + t.tv_usec / 1e6;
}

static double cpu_self(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return tv(ru.ru_utime) + tv(ru.ru_stime);
}

/*
 * CPU time of the daemon under test, in nanoseconds, when XSLOAD_DAEMON_PID
 * names it; -1 otherwise. The sum over its threads of the scheduler's
 * run time (/proc/PID/task/TID/schedstat, nanosecond resolution); where
 * that is missing, utime + stime from /proc/PID/stat (clock ticks). Sampled
 * at the edges of the timed part only, so set-up work is not counted.
 */
static long long daemon_cpu_ns(void)
{
	static int pid = -2;
	char path[320], buf[1024], *p;
	unsigned long ut, st;
	unsigned long long ns, sum = 0;
	int found = 0;
	FILE *f;
	size_t n;
	DIR *d;
	struct dirent *e;

	if (pid == -2) {
		const char *env = getenv("XSLOAD_DAEMON_PID");
		pid = env && *env ? atoi(env) : -1;
	}
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	if ((d = opendir(path))) {
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", pid, e->d_name);
			if (!(f = fopen(path, "r")))
				continue;
			if (fscanf(f, "%llu", &ns) == 1) {
				sum += ns;
				found = 1;
			}
			fclose(f);
		}
		closedir(d);
		if (found)
			return (long long)sum;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15. */
	if (!(p = strrchr(buf, ')')) || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st) * (1000000000LL / sysconf(_SC_CLK_TCK));
}

static long long dt0;

static void daemon_mark(void)
{
	dt0 = daemon_cpu_ns();
}

/* Nanoseconds of daemon CPU since daemon_mark(), or -1. */
static long long daemon_used(void)
{
	long long t = daemon_cpu_ns();
	return t < 0 || dt0 < 0 ? -1 : t - dt0;
}

static void die(const char *what)
{
	fprintf(stderr, "xsload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "xsload: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void *xalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p)
		die("calloc");
	return p;
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

static char payload[65536];

/* Read one packet (skipping watch events when skip_events); returns its type. */
static int recv_packet(int fd, int skip_events, long *events)
{
	struct hdr h;
	for (;;) {
		read_all(fd, &h, sizeof(h));
		if (h.len >= sizeof(payload)) {
			errno = EMSGSIZE;
			die("reply");
		}
		read_all(fd, payload, h.len);
		payload[h.len] = 0;
		if (h.type == XS_WATCH_EVENT && skip_events) {
			if (events)
				(*events)++;
			continue;
		}
		return h.type;
	}
}

/* One synchronous request on fd; returns the reply type, reply in payload. */
static int request(int fd, int type, const char *a, const char *b, size_t blen)
{
	static char buf[8192];
	write_all(fd, buf, build(buf, type, 1, a, b, blen));
	return recv_packet(fd, 1, NULL);
}

/* The request(s) of one logical operation. */
static int op_requests(const char *op, char *buf, uint32_t req, int conn, long i, size_t *lens)
{
	static char path[256];
	snprintf(path, sizeof(path), "/bench/c%d/k%ld", conn, i % 64);
	if (!strcmp(op, "read")) {
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
	char path[128];
	int fd = dial(sock), c, k;
	for (c = 0; c < conns; c++)
		for (k = 0; k < 64; k++) {
			snprintf(path, sizeof(path), "/bench/c%d/k%d", c, k);
			if (request(fd, XS_WRITE, path, "initial-value", 13) == XS_ERROR)
				fail("prepare %s: %s", path, payload);
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
	double *lat = xalloc(sizeof(double) * n);
	int fd, k, m;
	long i;
	long long dticks;
	double t0, t1, c0;

	prepare(sock, 1);
	fd = dial(sock);
	c0 = cpu_self();
	daemon_mark();
	t0 = now();
	for (i = 0; i < n; i++) {
		double s = now();
		size_t off = 0;
		m = op_requests(op, buf, (uint32_t)i * 2 + 1, 0, i, lens);
		for (k = 0; k < m; k++) {
			write_all(fd, buf + off, lens[k]);
			off += lens[k];
			if (recv_packet(fd, 1, NULL) == XS_ERROR)
				fail("error reply: %s", payload);
		}
		lat[i] = now() - s;
	}
	t1 = now();
	dticks = daemon_used();
	qsort(lat, n, sizeof(double), cmp_double);
	printf("{\"mode\":\"seq\",\"op\":\"%s\",\"ops\":%ld,\"seconds\":%.6f,\"ops_per_s\":%.1f,"
	       "\"p50_us\":%.2f,\"p99_us\":%.2f,\"client_cpu_s\":%.4f,\"daemon_cpu_ns\":%lld}\n",
	       op, n, t1 - t0, n / (t1 - t0), lat[n / 2] * 1e6, lat[(long)(n * 0.99)] * 1e6, cpu_self() - c0, dticks);
	close(fd);
	free(lat);
}

static void par(const char *sock, const char *op, int conns, int depth, long total)
{
	int *fds = xalloc(conns * sizeof(int));
	long *sent = xalloc(conns * sizeof(long)), *done = xalloc(conns * sizeof(long));
	long per = total / conns, completed = 0;
	struct pollfd *pfd = xalloc(conns * sizeof(struct pollfd));
	char buf[64 * 1024];
	size_t lens[2];
	double t0, t1, c0;
	int c, k, m;
	/* Partial-read state per connection. */
	char **rbuf = xalloc(conns * sizeof(char *));
	size_t *rlen = xalloc(conns * sizeof(size_t));

	prepare(sock, conns);
	for (c = 0; c < conns; c++) {
		fds[c] = dial(sock);
		rbuf[c] = xalloc(1 << 20);
	}
	m = op_requests(op, buf, 0, 0, 0, lens); /* requests per op */
	c0 = cpu_self();
	daemon_mark();
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
		if (poll(pfd, conns, 30000) <= 0)
			die("poll");
		for (c = 0; c < conns; c++) {
			ssize_t n;
			size_t off = 0, wo = 0;
			long replies = 0;
			if (!(pfd[c].revents & (POLLIN | POLLHUP | POLLERR)))
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
				if (h.type == XS_ERROR)
					fail("error reply: %.*s", (int)h.len, rbuf[c] + off + sizeof(h));
				if (h.type != XS_WATCH_EVENT)
					replies++;
				off += sizeof(h) + h.len;
			}
			memmove(rbuf[c], rbuf[c] + off, rlen[c] - off);
			rlen[c] -= off;
			/* An op is done when all its requests are answered. */
			done[c] += replies / m;
			completed += replies / m;
			if (replies % m)
				fail("unaligned replies");
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
	       "\"ops_per_s\":%.1f,\"client_cpu_s\":%.4f,\"daemon_cpu_ns\":%lld}\n",
	       op, conns, depth, per * conns, t1 - t0, per * conns / (t1 - t0), cpu_self() - c0, daemon_used());
	for (c = 0; c < conns; c++)
		close(fds[c]);
}

/* ---- Buffered connections: read whatever is there, hand out whole packets. ---- */

struct rconn {
	int fd;
	char *buf;
	size_t len, cap, off;
};

static void rconn_init(struct rconn *r, int fd)
{
	r->fd = fd;
	r->cap = 1 << 16;
	r->buf = xalloc(r->cap);
	r->len = r->off = 0;
}

/* One read() into the buffer; dies on EOF. */
static void rconn_fill(struct rconn *r)
{
	ssize_t n;
	if (r->off) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->cap - r->len < 4096) {
		r->cap *= 2;
		r->buf = realloc(r->buf, r->cap);
		if (!r->buf)
			die("realloc");
	}
	do
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n == 0)
			errno = EPIPE;
		die("read");
	}
	r->len += n;
}

/* Next complete packet in the buffer, or NULL. */
static struct hdr *rconn_next(struct rconn *r, char **body)
{
	static struct hdr h;
	if (r->len - r->off < sizeof(h))
		return NULL;
	memcpy(&h, r->buf + r->off, sizeof(h));
	if (r->len - r->off < sizeof(h) + h.len) {
		if (sizeof(h) + h.len > r->cap / 2) {
			r->cap = 2 * (sizeof(h) + h.len) + 4096;
			r->buf = realloc(r->buf, r->cap);
			if (!r->buf)
				die("realloc");
		}
		return NULL;
	}
	*body = r->buf + r->off + sizeof(h);
	r->off += sizeof(h) + h.len;
	return &h;
}

static void fanout(const char *sock, int watches, long writes)
{
	/*
	 * Watchers spread over 16 connections, on the ancestors of the hot path.
	 * Each write waits until its reply and all its events have arrived, so
	 * every write is delivered to every watch (no daemon can coalesce events
	 * that were already read) and events/s = writes/s x watches.
	 */
	enum { WCONNS = 16 };
	struct rconn w[WCONNS + 1];
	struct pollfd ps[WCONNS + 1];
	int i, c, wfd;
	char buf[1024], path[256], token[32];
	long events = 0, expected, acked = 0, pending = 0;
	double t0, t1, c0;
	const char *hot = "/fan/a/b/c/d/hot";
	const char *anc[] = { "/", "/fan", "/fan/a", "/fan/a/b", "/fan/a/b/c", "/fan/a/b/c/d", "/fan/a/b/c/d/hot" };

	for (c = 0; c < WCONNS; c++)
		rconn_init(&w[c], dial(sock));
	for (i = 0; i < watches; i++) {
		c = i % WCONNS;
		snprintf(token, sizeof(token), "w%d", i);
		snprintf(path, sizeof(path), "%s", anc[i % 7]);
		{
			struct hdr h = { XS_WATCH, 1, 0, 0 };
			size_t pl = strlen(path) + 1, tl = strlen(token) + 1;
			memcpy(buf + sizeof(h), path, pl);
			memcpy(buf + sizeof(h) + pl, token, tl);
			h.len = pl + tl;
			memcpy(buf, &h, sizeof(h));
			write_all(w[c].fd, buf, sizeof(h) + h.len);
			if (recv_packet(w[c].fd, 0, NULL) == XS_ERROR) /* ack */
				fail("watch %s: %s", path, payload);
			recv_packet(w[c].fd, 0, NULL); /* initial event */
		}
	}
	wfd = dial(sock);
	rconn_init(&w[WCONNS], wfd);
	expected = (long)watches * writes;
	c0 = cpu_self();
	daemon_mark();
	t0 = now();
	while (acked < writes) {
		int n;
		if (!pending) {
			write_all(wfd, buf, build(buf, XS_WRITE, acked + 1, hot, "v", 1));
			pending = 1 + watches; /* the reply and the events */
		}
		for (c = 0; c <= WCONNS; c++) {
			ps[c].fd = w[c].fd;
			ps[c].events = POLLIN;
		}
		n = poll(ps, WCONNS + 1, 10000);
		if (n < 0)
			die("poll");
		if (n == 0)
			fail("fanout: write %ld: %ld of %d events missing after 10 s", acked + 1, pending, watches);
		for (c = 0; c <= WCONNS; c++) {
			struct hdr *h;
			char *body;
			if (!(ps[c].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			rconn_fill(&w[c]);
			while ((h = rconn_next(&w[c], &body))) {
				if (h->type == XS_WATCH_EVENT) {
					events++;
					pending--;
				} else if (c == WCONNS) {
					if (h->type == XS_ERROR)
						fail("write: %.*s", (int)h->len, body);
					pending--;
				}
			}
		}
		if (pending < 0)
			fail("fanout: more events than watches");
		if (!pending)
			acked++;
	}
	t1 = now();
	printf("{\"mode\":\"fanout\",\"watches\":%d,\"writes\":%ld,\"seconds\":%.6f,\"writes_per_s\":%.1f,"
	       "\"events\":%ld,\"expected_events\":%ld,\"events_per_s\":%.1f,\"client_cpu_s\":%.4f,\"daemon_cpu_ns\":%lld}\n",
	       watches, acked, t1 - t0, acked / (t1 - t0), events, expected, events / (t1 - t0), cpu_self() - c0,
	       daemon_used());
}

/* ---- Scripted connections: a list of steps per job, one request in flight. ---- */

enum { S_REQ, S_WAITEV };
enum {
	F_TX = 1,	   /* sent inside the current transaction */
	F_ENOENT_OK = 2,   /* ENOENT is an expected answer (rm of a missing node) */
	F_SAVE = 4,	   /* keep the reply (a counter read) */
	F_INCR = 8,	   /* WRITE path: the saved value + 1 */
	F_MARK = 16,	   /* count watch events from here (a WATCH) */
};

struct step {
	uint8_t kind, flags;
	uint32_t type, len, off;
	int arg; /* S_WAITEV: events needed since the mark */
};

struct steps {
	struct step *v;
	int n, cap;
	char *data;
	size_t dlen, dcap;
};

static void steps_reset(struct steps *s)
{
	s->n = 0;
	s->dlen = 0;
}

static struct step *steps_add(struct steps *s, int kind, int type, int flags, const char *data, size_t len)
{
	struct step *st;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			die("realloc");
	}
	if (s->dlen + len > s->dcap) {
		s->dcap = (s->dcap + len) * 2 + 1024;
		s->data = realloc(s->data, s->dcap);
		if (!s->data)
			die("realloc");
	}
	st = &s->v[s->n++];
	st->kind = kind;
	st->type = type;
	st->flags = flags;
	st->off = s->dlen;
	st->len = len;
	st->arg = 0;
	memcpy(s->data + s->dlen, data, len);
	s->dlen += len;
	return st;
}

/* A request whose payload is the NUL-terminated strings given (NULL ends the list). */
static void req_strs(struct steps *s, int type, int flags, ...)
{
	char buf[4096];
	size_t len = 0;
	const char *a;
	va_list ap;
	va_start(ap, flags);
	while ((a = va_arg(ap, const char *))) {
		size_t l = strlen(a) + 1;
		memcpy(buf + len, a, l);
		len += l;
	}
	va_end(ap);
	steps_add(s, S_REQ, type, flags, buf, len);
}

/* WRITE path value (the value is not NUL-terminated on the wire). */
static void req_write(struct steps *s, int flags, const char *path, const char *value)
{
	char buf[4096];
	size_t pl = strlen(path) + 1, vl = strlen(value);
	memcpy(buf, path, pl);
	memcpy(buf + pl, value, vl);
	steps_add(s, S_REQ, XS_WRITE, flags, buf, pl + vl);
}

static void wait_events(struct steps *s, int n)
{
	steps_add(s, S_WAITEV, 0, 0, "", 0)->arg = n;
}

struct sconn {
	struct rconn r;
	struct steps st;
	int pos, txbegin, inflight, aborting, done;
	uint32_t txid, req;
	long job, events, mark;
	char saved[64];
};

struct stats {
	long requests, commits, eagain, events, jobs;
};

typedef int (*jobfn)(struct steps *s, int conn, int conns, long k);

static struct stats st;

static void send_req(struct sconn *c, int type, uint32_t txid, const char *data, size_t len)
{
	char buf[8192];
	struct hdr h = { type, ++c->req, txid, len };
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), data, len);
	write_all(c->r.fd, buf, sizeof(h) + len);
	c->inflight = 1;
	st.requests++;
}

/* Send the next request of c's script (moving on to its next job when one ends). */
static void advance(struct sconn *c, int ci, int conns, jobfn job)
{
	for (;;) {
		struct step *s;
		if (c->done || c->inflight)
			return;
		if (c->pos == c->st.n) {
			steps_reset(&c->st);
			c->pos = 0;
			if (!job(&c->st, ci, conns, c->job++)) {
				c->done = 1;
				return;
			}
			st.jobs++;
			continue;
		}
		s = &c->st.v[c->pos];
		if (s->kind == S_WAITEV) {
			if (c->events - c->mark < s->arg)
				return; /* wait for the events */
			c->pos++;
			continue;
		}
		if (s->flags & F_MARK)
			c->mark = c->events;
		if (s->flags & F_INCR) {
			char buf[512];
			size_t pl = strlen(c->st.data + s->off) + 1;
			int vl;
			memcpy(buf, c->st.data + s->off, pl);
			vl = snprintf(buf + pl, sizeof(buf) - pl, "%ld", atol(c->saved) + 1);
			send_req(c, s->type, c->txid, buf, pl + vl);
		} else
			send_req(c, s->type, (s->flags & F_TX) ? c->txid : 0, c->st.data + s->off, s->len);
		return;
	}
}

static void on_packet(struct sconn *c, struct hdr *h, char *body)
{
	struct step *s;
	if (h->type == XS_WATCH_EVENT) {
		c->events++;
		st.events++;
		return;
	}
	if (!c->inflight)
		fail("unexpected reply (type %u)", h->type);
	c->inflight = 0;
	s = &c->st.v[c->pos];
	if (c->aborting) { /* the TX_END F after a failed request in a transaction */
		c->aborting = 0;
		c->txid = 0;
		c->pos = c->txbegin;
		return;
	}
	if (h->type == XS_ERROR) {
		char err[32];
		snprintf(err, sizeof(err), "%.*s", (int)(h->len < 31 ? h->len : 31), body);
		if (!strcmp(err, "EAGAIN") && (s->type == XS_TX_END || c->txid)) {
			st.eagain++;
			if (s->type == XS_TX_END) {
				c->txid = 0;
				c->pos = c->txbegin;
			} else {
				c->aborting = 1;
				send_req(c, XS_TX_END, c->txid, "F", 2);
			}
			return;
		}
		if (!strcmp(err, "ENOENT") && (s->flags & F_ENOENT_OK)) {
			c->pos++;
			return;
		}
		fail("request type %u on %.*s: %s", s->type, (int)s->len, c->st.data + s->off, err);
	}
	if (h->type != s->type)
		fail("reply type %u to request type %u", h->type, s->type);
	if (s->type == XS_TX_START) {
		c->txid = strtoul(body, NULL, 10);
		c->txbegin = c->pos;
	} else if (s->type == XS_TX_END) {
		c->txid = 0;
		st.commits++;
	}
	if (s->flags & F_SAVE)
		snprintf(c->saved, sizeof(c->saved), "%.*s", (int)h->len, body);
	c->pos++;
}

static long long run_ticks;

/* Run job scripts over conns connections until every connection has no jobs left. */
static double run_scripts(const char *sock, int conns, jobfn job)
{
	struct sconn *cs = xalloc(conns * sizeof(*cs));
	struct pollfd *ps = xalloc(conns * sizeof(*ps));
	int c, left = conns;
	double t0;

	for (c = 0; c < conns; c++)
		rconn_init(&cs[c].r, dial(sock));
	daemon_mark();
	t0 = now();
	for (c = 0; c < conns; c++)
		advance(&cs[c], c, conns, job);
	for (;;) {
		left = 0;
		for (c = 0; c < conns; c++) {
			ps[c].fd = cs[c].done ? -1 : cs[c].r.fd;
			ps[c].events = POLLIN;
			left += !cs[c].done;
		}
		if (!left)
			break;
		if (poll(ps, conns, 30000) <= 0) {
			for (c = 0; c < conns; c++)
				if (!cs[c].done) {
					struct step *s = &cs[c].st.v[cs[c].pos];
					fprintf(stderr, "xsload: connection %d stuck at step %d/%d (type %u %s%s, %ld events)\n",
						c, cs[c].pos, cs[c].st.n, s->type, s->kind == S_WAITEV ? "waiting for events " : "",
						s->kind == S_WAITEV ? "" : cs[c].st.data + s->off, cs[c].events - cs[c].mark);
				}
			fail("no reply for 30 s");
		}
		for (c = 0; c < conns; c++) {
			struct hdr *h;
			char *body;
			if (!(ps[c].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			rconn_fill(&cs[c].r);
			while ((h = rconn_next(&cs[c].r, &body))) {
				on_packet(&cs[c], h, body);
				advance(&cs[c], c, conns, job);
			}
		}
	}
	t0 = now() - t0;
	run_ticks = daemon_used();
	for (c = 0; c < conns; c++)
		close(cs[c].r.fd);
	return t0;
}

/* ---- Transactions: read-increment-write of a counter. ---- */

static long tx_per_conn;
static int tx_shared;

static void tx_counter(char *buf, size_t n, int conn)
{
	if (tx_shared)
		snprintf(buf, n, "/bench/tx/shared/counter");
	else
		snprintf(buf, n, "/bench/tx/d%d/counter", conn);
}

static int tx_job(struct steps *s, int conn, int conns, long k)
{
	char path[128];
	(void)conns;
	if (k >= tx_per_conn)
		return 0;
	tx_counter(path, sizeof(path), conn);
	req_strs(s, XS_TX_START, 0, "", NULL);
	req_strs(s, XS_READ, F_TX | F_SAVE, path, NULL);
	req_strs(s, XS_WRITE, F_TX | F_INCR, path, NULL);
	req_strs(s, XS_TX_END, F_TX, "T", NULL);
	return 1;
}

static void tx(const char *sock, int conns, long n, const char *kind)
{
	char path[128];
	int fd = dial(sock), c, ok = 1;
	long total = 0, want;
	double secs, c0;

	tx_per_conn = n;
	tx_shared = !strcmp(kind, "shared");
	if (!tx_shared && strcmp(kind, "disjoint"))
		fail("tx: shared or disjoint, not %s", kind);
	for (c = 0; c < (tx_shared ? 1 : conns); c++) {
		tx_counter(path, sizeof(path), c);
		if (request(fd, XS_WRITE, path, "0", 1) == XS_ERROR)
			fail("init %s: %s", path, payload);
	}
	c0 = cpu_self();
	secs = run_scripts(sock, conns, tx_job);
	c0 = cpu_self() - c0;
	want = tx_shared ? n * conns : n;
	for (c = 0; c < (tx_shared ? 1 : conns); c++) {
		long v;
		tx_counter(path, sizeof(path), c);
		if (request(fd, XS_READ, path, NULL, 0) == XS_ERROR)
			fail("read %s: %s", path, payload);
		v = atol(payload);
		total += v;
		if (v != want) {
			fprintf(stderr, "xsload: %s is %ld, expected %ld\n", path, v, want);
			ok = 0;
		}
	}
	close(fd);
	printf("{\"mode\":\"tx\",\"kind\":\"%s\",\"conns\":%d,\"commits\":%ld,\"seconds\":%.6f,\"commits_per_s\":%.1f,"
	       "\"eagain\":%ld,\"requests\":%ld,\"final\":%ld,\"expected\":%ld,\"exact\":%s,\"client_cpu_s\":%.4f,"
	       "\"daemon_cpu_ns\":%lld}\n",
	       kind, conns, st.commits, secs, st.commits / secs, st.eagain, st.requests, total,
	       tx_shared ? want : want * conns, ok ? "true" : "false", c0, run_ticks);
	if (!ok)
		exit(3);
}

/* ---- Guests, the way libxl creates and destroys them. ---- */

enum { G_BOOT, G_TEARDOWN, G_POPULATE };
static int g_mode, g_first;
/* Populate: the vbd too (the boot's whole tree). */
static int g_vbd;
static long g_count;

static char *fmt(const char *f, ...)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ & 7];
	va_list ap;
	va_start(ap, f);
	vsnprintf(b, 512, f, ap);
	va_end(ap);
	return b;
}

/*
 * mkdir + set_perms (libxl's libxl__xs_mknod). In populate mode the same nodes
 * are made without transactions.
 */
static void mknod(struct steps *s, int tx, const char *path, const char *p1, const char *p2)
{
	req_strs(s, XS_MKDIR, tx, path, NULL);
	req_strs(s, XS_SET_PERMS, tx, path, p1, p2, NULL);
}

/* Frontend and backend of one device (libxl__device_generic_add), in one transaction. */
static void device(struct steps *s, int tx, int domid, const char *kind, int devid, const char **be_kv, const char **fe_kv)
{
	char fe[128], be[128], lx[128], dn[16];
	int i;
	snprintf(fe, sizeof(fe), "/local/domain/%d/device/%s/%d", domid, kind, devid);
	snprintf(be, sizeof(be), "/local/domain/0/backend/%s/%d/%d", kind, domid, devid);
	snprintf(lx, sizeof(lx), "/libxl/%d/device/%s/%d", domid, kind, devid);
	snprintf(dn, sizeof(dn), "%d", domid);
	if (tx) {
		req_strs(s, XS_TX_START, 0, "", NULL);
		req_strs(s, XS_RM, tx | F_ENOENT_OK, fe, NULL);
		req_strs(s, XS_RM, tx | F_ENOENT_OK, be, NULL);
	}
	mknod(s, tx, be, "n0", fmt("r%d", domid));
	mknod(s, tx, fe, fmt("n%d", domid), "r0");
	req_write(s, tx, fmt("%s/frontend", lx), fe);
	req_write(s, tx, fmt("%s/backend", lx), be);
	req_write(s, tx, fmt("%s/frontend", be), fe);
	req_write(s, tx, fmt("%s/frontend-id", be), dn);
	req_write(s, tx, fmt("%s/online", be), "1");
	req_write(s, tx, fmt("%s/state", be), "1");
	for (i = 0; be_kv[i]; i += 2)
		req_write(s, tx, fmt("%s/%s", be, be_kv[i]), be_kv[i + 1]);
	req_write(s, tx, fmt("%s/backend", fe), be);
	req_write(s, tx, fmt("%s/backend-id", fe), "0");
	req_write(s, tx, fmt("%s/state", fe), "1");
	for (i = 0; fe_kv[i]; i += 2)
		req_write(s, tx, fmt("%s/%s", fe, fe_kv[i]), fe_kv[i + 1]);
	if (tx) {
		req_strs(s, XS_TX_END, tx, "T", NULL);
		/*
		 * libxl then watches the backend's state until the backend driver
		 * moves it to InitWait (2); here the toolstack connection plays the
		 * backend too: watch (its first event), state 2 (the second: its own
		 * event, as the first has been read by then), then
		 * the hotplug script's status, then unwatch.
		 */
		req_strs(s, XS_WATCH, F_MARK, fmt("%s/state", be), fmt("be-%s-%d", kind, devid), NULL);
		wait_events(s, 1); /* else cx coalesces the two identical events */
		req_write(s, 0, fmt("%s/state", be), "2");
		wait_events(s, 2);
		req_write(s, 0, fmt("%s/hotplug-status", be), "connected");
		req_strs(s, XS_UNWATCH, 0, fmt("%s/state", be), fmt("be-%s-%d", kind, devid), NULL);
	} else {
		req_write(s, 0, fmt("%s/hotplug-status", be), "connected");
	}
}

static void guest_uuid(char *buf, size_t n, int domid)
{
	snprintf(buf, n, "6b1f2a3c-0000-4000-8000-%012d", domid);
}

static void guest_create(struct steps *s, int domid)
{
	int tx = g_mode == G_BOOT ? F_TX : 0;
	char home[64], vm[96], lx[64], uuid[40], dn[16], ro[16], rw[16];
	static const char *ro_dirs[] = { "cpu", "memory", "control", "device", NULL };
	static const char *rw_nodes[] = { "control/shutdown", "control/feature-poweroff", "control/feature-reboot",
					  "control/feature-suspend", "control/sysrq", "data", "drivers", "feature",
					  "attr", "error", NULL };
	char mac[32], params[64];
	const char *vif_be[] = { "script", "/etc/xen/scripts/vif-bridge", "mac", mac, "bridge", "xenbr0",
				 "handle", "0", "type", "vif", NULL };
	const char *vif_fe[] = { "handle", "0", "mac", mac, NULL };
	const char *vbd_be[] = { "params", params, "script", "/etc/xen/scripts/block", "mode", "w",
				 "removable", "0", "bootable", "1", "type", "phy", "dev", "xvda",
				 "device-type", "disk", "discard-enable", "1", NULL };
	const char *vbd_fe[] = { "virtual-device", "51712", "device-type", "disk", NULL };
	int i;

	guest_uuid(uuid, sizeof(uuid), domid);
	snprintf(home, sizeof(home), "/local/domain/%d", domid);
	snprintf(vm, sizeof(vm), "/vm/%s", uuid);
	snprintf(lx, sizeof(lx), "/libxl/%d", domid);
	snprintf(dn, sizeof(dn), "%d", domid);
	snprintf(ro, sizeof(ro), "r%d", domid);
	snprintf(rw, sizeof(rw), "n%d", domid);
	snprintf(mac, sizeof(mac), "00:16:3e:%02x:%02x:%02x", (domid >> 16) & 255, (domid >> 8) & 255, domid & 255);
	snprintf(params, sizeof(params), "/dev/vg0/guest-%d", domid);

	/* libxl__domain_make: the home, /vm and /libxl trees in one transaction. */
	if (tx) {
		req_strs(s, XS_TX_START, 0, "", NULL);
		req_strs(s, XS_RM, tx | F_ENOENT_OK, home, NULL);
		req_strs(s, XS_RM, tx | F_ENOENT_OK, vm, NULL);
		req_strs(s, XS_RM, tx | F_ENOENT_OK, lx, NULL);
	}
	mknod(s, tx, home, "n0", ro);
	mknod(s, tx, vm, "n0", ro);
	mknod(s, tx, lx, "n0", NULL);
	mknod(s, tx, fmt("%s/device", lx), "n0", NULL);
	for (i = 0; ro_dirs[i]; i++)
		mknod(s, tx, fmt("%s/%s", home, ro_dirs[i]), "n0", ro);
	for (i = 0; rw_nodes[i]; i++)
		mknod(s, tx, fmt("%s/%s", home, rw_nodes[i]), rw, NULL);
	req_write(s, tx, fmt("%s/vm", home), vm);
	req_write(s, tx, fmt("%s/name", home), fmt("guest-%d", domid));
	req_write(s, tx, fmt("%s/uuid", vm), uuid);
	req_write(s, tx, fmt("%s/name", vm), fmt("guest-%d", domid));
	req_write(s, tx, fmt("%s/start_time", vm), "1700000000.00");
	req_write(s, tx, fmt("%s/image/ostype", vm), "linux");
	req_write(s, tx, fmt("%s/type", lx), "pv");
	req_write(s, tx, fmt("%s/dm-version", lx), "qemu_xen");
	if (tx)
		req_strs(s, XS_TX_END, tx, "T", NULL);

	/* libxl__build_post: the domain's keys, in a second transaction. */
	if (tx)
		req_strs(s, XS_TX_START, 0, "", NULL);
	req_write(s, tx, fmt("%s/domid", home), dn);
	req_write(s, tx, fmt("%s/memory/static-max", home), "1048576");
	req_write(s, tx, fmt("%s/memory/target", home), "1048576");
	req_write(s, tx, fmt("%s/memory/videoram", home), "-1");
	req_write(s, tx, fmt("%s/cpu/0/availability", home), "online");
	req_write(s, tx, fmt("%s/cpu/1/availability", home), "online");
	req_write(s, tx, fmt("%s/store/port", home), "1");
	req_write(s, tx, fmt("%s/store/ring-ref", home), fmt("%d", 0x100000 + domid));
	req_write(s, tx, fmt("%s/console/port", home), "2");
	req_write(s, tx, fmt("%s/console/ring-ref", home), fmt("%d", 0x200000 + domid));
	req_write(s, tx, fmt("%s/console/limit", home), "1048576");
	req_write(s, tx, fmt("%s/console/type", home), "xenconsoled");
	req_write(s, tx, fmt("%s/control/platform-feature-multiprocessor-suspend", home), "1");
	req_write(s, tx, fmt("%s/control/platform-feature-xs_reset_watches", home), "1");
	if (tx)
		req_strs(s, XS_TX_END, tx, "T", NULL);

	device(s, tx, domid, "vif", 0, vif_be, vif_fe);
	if (g_mode == G_BOOT || g_vbd) /* populate without `vbd`: 68 nodes a guest, without the disk */
		device(s, tx, domid, "vbd", 51712, vbd_be, vbd_fe);

	if (g_mode == G_BOOT)
		req_strs(s, XS_INTRODUCE, 0, dn, fmt("%d", 0x100000 + domid), "1", NULL);
}

static void guest_destroy(struct steps *s, int domid)
{
	char uuid[40], dn[16];
	guest_uuid(uuid, sizeof(uuid), domid);
	snprintf(dn, sizeof(dn), "%d", domid);
	/* Devices: the backend is told to close, then the trees go, all in one transaction. */
	req_strs(s, XS_TX_START, 0, "", NULL);
	req_write(s, F_TX, fmt("/local/domain/0/backend/vif/%d/0/online", domid), "0");
	req_write(s, F_TX, fmt("/local/domain/0/backend/vbd/%d/51712/online", domid), "0");
	req_strs(s, XS_RM, F_TX | F_ENOENT_OK, fmt("/local/domain/0/backend/vif/%d", domid), NULL);
	req_strs(s, XS_RM, F_TX | F_ENOENT_OK, fmt("/local/domain/0/backend/vbd/%d", domid), NULL);
	req_strs(s, XS_RM, F_TX | F_ENOENT_OK, fmt("/local/domain/%d", domid), NULL);
	req_strs(s, XS_RM, F_TX | F_ENOENT_OK, fmt("/vm/%s", uuid), NULL);
	req_strs(s, XS_RM, F_TX | F_ENOENT_OK, fmt("/libxl/%d", domid), NULL);
	req_strs(s, XS_TX_END, F_TX, "T", NULL);
	req_strs(s, XS_RELEASE, 0, dn, NULL);
}

static int guest_job(struct steps *s, int conn, int conns, long k)
{
	long idx = conn + k * conns;
	if (idx >= g_count)
		return 0;
	if (g_mode == G_TEARDOWN)
		guest_destroy(s, g_first + idx);
	else
		guest_create(s, g_first + idx);
	return 1;
}

static void guests(const char *sock, const char *mode, int conns, int first, long count)
{
	double secs, c0;
	g_mode = !strcmp(mode, "boot") ? G_BOOT : G_TEARDOWN;
	g_first = first;
	g_count = count;
	c0 = cpu_self();
	secs = run_scripts(sock, conns, guest_job);
	printf("{\"mode\":\"%s\",\"conns\":%d,\"guests\":%ld,\"seconds\":%.6f,\"guests_per_s\":%.1f,"
	       "\"transactions\":%ld,\"eagain\":%ld,\"requests\":%ld,\"events\":%ld,\"client_cpu_s\":%.4f,"
	       "\"daemon_cpu_ns\":%lld}\n",
	       mode, conns, count, secs, count / secs, st.commits, st.eagain, st.requests, st.events,
	       cpu_self() - c0, run_ticks);
}

/* How many nodes one guest's script creates (its paths and their parents, less the shared ones). */
static int guest_nodes(struct steps *s)
{
	static const char *shared[] = { "/local", "/local/domain", "/local/domain/0", "/local/domain/0/backend",
					"/local/domain/0/backend/vif", "/local/domain/0/backend/vbd", "/vm", "/libxl",
					NULL };
	char *seen[1024];
	int n = 0, i, j, k;
	for (i = 0; i < s->n; i++) {
		char path[512], *p;
		if (s->v[i].kind != S_REQ || (s->v[i].type != XS_WRITE && s->v[i].type != XS_MKDIR))
			continue;
		snprintf(path, sizeof(path), "%s", s->data + s->v[i].off);
		for (p = path + strlen(path); p > path; *(p = strrchr(path, '/')) = 0) {
			int dup = 0;
			for (k = 0; shared[k] && !dup; k++)
				dup = !strcmp(shared[k], path);
			for (j = 0; j < n && !dup; j++)
				dup = !strcmp(seen[j], path);
			if (!dup && n < 1024)
				seen[n++] = strdup(path);
		}
	}
	for (j = 0; j < n; j++)
		free(seen[j]);
	return n;
}

/* Populate: the guest trees as plain requests, DEPTH in flight per connection. */
static void populate(const char *sock, int conns, int depth, int first, long count, int vbd)
{
	struct pc {
		struct rconn r;
		struct steps s;
		long job;
		int pos, inflight, done;
	} *cs = xalloc(conns * sizeof(struct pc));
	struct pollfd *ps = xalloc(conns * sizeof(*ps));
	char *out = xalloc(1 << 20);
	long requests = 0;
	long long dticks;
	double t0, c0;
	int c, left, nodes;

	g_mode = G_POPULATE;
	g_vbd = vbd;
	g_first = first;
	g_count = count;
	for (c = 0; c < conns; c++)
		rconn_init(&cs[c].r, dial(sock));
	c0 = cpu_self();
	daemon_mark();
	t0 = now();
	for (;;) {
		left = 0;
		for (c = 0; c < conns; c++) {
			struct pc *p = &cs[c];
			size_t o = 0;
			while (!p->done && p->inflight < depth) {
				struct step *s;
				struct hdr h;
				if (p->pos == p->s.n) {
					steps_reset(&p->s);
					p->pos = 0;
					if (!guest_job(&p->s, c, conns, p->job++)) {
						p->done = 1;
						break;
					}
					continue;
				}
				s = &p->s.v[p->pos++];
				if (s->kind != S_REQ)
					continue;
				h.type = s->type;
				h.req_id = ++requests;
				h.tx_id = 0;
				h.len = s->len;
				memcpy(out + o, &h, sizeof(h));
				memcpy(out + o + sizeof(h), p->s.data + s->off, s->len);
				o += sizeof(h) + s->len;
				p->inflight++;
			}
			if (o)
				write_all(p->r.fd, out, o);
			ps[c].fd = p->inflight ? p->r.fd : -1;
			ps[c].events = POLLIN;
			left += p->inflight > 0;
		}
		if (!left)
			break;
		if (poll(ps, conns, 30000) <= 0)
			fail("no reply for 30 s");
		for (c = 0; c < conns; c++) {
			struct hdr *h;
			char *body;
			if (!(ps[c].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			rconn_fill(&cs[c].r);
			while ((h = rconn_next(&cs[c].r, &body))) {
				if (h->type == XS_WATCH_EVENT)
					continue;
				if (h->type == XS_ERROR)
					fail("populate: %.*s", (int)h->len, body);
				cs[c].inflight--;
			}
		}
	}
	t0 = now() - t0;
	dticks = daemon_used();
	{
		struct steps one = { 0 };
		guest_create(&one, first);
		nodes = guest_nodes(&one);
	}
	printf("{\"mode\":\"populate\",\"conns\":%d,\"depth\":%d,\"guests\":%ld,\"vbd\":%s,\"nodes_per_guest\":%d,\"requests\":%ld,"
	       "\"seconds\":%.6f,\"requests_per_s\":%.1f,\"client_cpu_s\":%.4f,\"daemon_cpu_ns\":%lld}\n",
	       conns, depth, count, vbd ? "true" : "false", nodes, requests, t0, requests / t0, cpu_self() - c0, dticks);
	for (c = 0; c < conns; c++)
		close(cs[c].r.fd);
}

/* Run a command and report its CPU time (for clients we did not write, e.g. test-xenstore). */
static int run(char **argv)
{
	struct rusage ru;
	int status;
	double t0 = now();
	pid_t pid;
	daemon_mark();
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "xsload: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0)
		die("wait4");
	fflush(stdout);
	fprintf(stderr, "{\"mode\":\"run\",\"status\":%d,\"seconds\":%.6f,\"client_cpu_s\":%.4f,\"daemon_cpu_ns\":%lld}\n",
		WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), now() - t0,
		tv(ru.ru_utime) + tv(ru.ru_stime), daemon_used());
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
	const char *cpu = getenv("XSLOAD_CPU");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (cpu && *cpu) { /* run on this CPU only (and so does a `run` child) */
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(atoi(cpu), &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			die("sched_setaffinity");
	}
	if (argc >= 4 && !strcmp(argv[2], "run"))
		return run(argv + 3);
	if (argc >= 5 && !strcmp(argv[2], "seq"))
		seq(argv[1], argv[3], atol(argv[4]));
	else if (argc >= 7 && !strcmp(argv[2], "par"))
		par(argv[1], argv[3], atoi(argv[4]), atoi(argv[5]), atol(argv[6]));
	else if (argc >= 5 && !strcmp(argv[2], "fanout"))
		fanout(argv[1], atoi(argv[3]), atol(argv[4]));
	else if (argc >= 6 && !strcmp(argv[2], "tx"))
		tx(argv[1], atoi(argv[3]), atol(argv[4]), argv[5]);
	else if (argc >= 6 && (!strcmp(argv[2], "boot") || !strcmp(argv[2], "teardown")))
		guests(argv[1], argv[2], atoi(argv[3]), atoi(argv[4]), atol(argv[5]));
	else if (argc >= 7 && !strcmp(argv[2], "populate")) {
		if (argc >= 8 && strcmp(argv[7], "vbd"))
			fail("populate: the optional last argument is vbd, not %s", argv[7]);
		populate(argv[1], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atol(argv[6]), argc >= 8);
	}
	else {
		fprintf(stderr, "usage: xsload SOCKET seq OP N | par OP CONNS DEPTH N | fanout WATCHES WRITES\n"
				"       | tx CONNS N shared|disjoint | boot|teardown CONNS FIRST COUNT\n"
				"       | populate CONNS DEPTH FIRST COUNT [vbd]\n"
				"       xsload - run CMD [ARGS...]\n");
		return 2;
	}
	return 0;
}
