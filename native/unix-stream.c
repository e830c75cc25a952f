/*
 * Unix stream sockets served from C: accept, read and write with plain
 * system calls, and one call into JavaScript per event-loop turn carrying
 * everything that arrived on every connection in that turn.
 *
 * Why not node:net: each read there is a callback into JavaScript of its
 * own (with the stream machinery and the tick queue after it) and each
 * write a request object with its own completion. Measured on the dom0
 * socket (docs/design.md "The socket transport"), that runtime cost per
 * request was as large as the daemon's own work. Node.js has no way to read
 * several sockets in one callback, nor to write without a request object.
 *
 * Model: every descriptor (listener or connection) is a libuv poll handle
 * on the main loop. Poll callbacks only read into a staging area and queue
 * events; a check handle, run once after each poll phase, hands the queue
 * to JavaScript in one callback: an Int32Array of (kind, id, offset,
 * length) quads, their count, and a Buffer holding the turn's input (a
 * pooled one: views of it stay valid). Input is handed over in whole
 * xenstore packets (the rest waits for the next read), so a request
 * written in pieces costs one call into JavaScript, not one per piece. JavaScript writes
 * replies synchronously (`write`); what the socket does not take at once
 * is copied and sent when it becomes writable, and JavaScript is told
 * (`drained`) once it all went. A connection's id is its slot, reused only
 * after its `closed` event has been delivered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

enum { EV_DATA = 1, EV_DRAINED = 2, EV_CLOSED = 3, EV_ACCEPTED = 4 };

/* At most this much is read from one connection per turn (fairness; the poll is level-triggered). */
#define READ_MAX (64 * 1024)

/*
 * Packets announcing a larger payload are handed over at once, whole or
 * not: the daemon refuses them as soon as it sees the header (xs_wire.h's
 * XENSTORE_PAYLOAD_MAX; cx closes the connection there and then).
 */
#define FRAME_MAX 4096

typedef struct slot {
	uv_poll_t poll;
	int fd;
	int id;
	int listener;		/* accepts connections (its `id` is the listener's tag) */
	int accept_paused;	/* listener: out of descriptors, not watched until S.retry fires */
	int tag;		/* listener: the tag given to `serve`; connection: its listener's tag */
	int closing;		/* close requested: no more events but `closed` */
	int receiving;		/* connection: reading input */
	int shut_after_flush;	/* shutdown(SHUT_WR) once the pending output is sent */
	unsigned events;	/* what the poll handle watches now */
	char *pending;		/* output the socket did not take yet */
	char *partial;		/* input after the last whole packet, not handed over yet */
	size_t partial_len, partial_cap;
	size_t pending_len, pending_off, pending_cap;
} slot_t;

static struct {
	napi_env env;
	napi_ref callback;
	napi_async_context async;
	uv_loop_t *loop;
	uv_check_t check;	/* delivers the turn's events */
	uv_idle_t idle;		/* while events wait: the loop must not block before delivering them */
	uv_timer_t retry;	/* listeners that could not accept (out of descriptors) watch again when it fires */
	int started;
	slot_t **slots;
	int nslots;
	int32_t *events;	/* quads */
	size_t nevents, events_cap;
	char *input;		/* the turn's input */
	size_t input_len, input_cap;
	napi_ref quads_ref;	/* the Int32Array handed to JavaScript each turn (reused: read before the call returns) */
	int32_t *quads;
	size_t quads_cap;	/* in quads */
	napi_ref pool_ref;	/* the Buffer the turns' input is copied into, until it is full (then a new one) */
	char *pool;
	size_t pool_cap, pool_used;
} S;

/* Input handed to JavaScript is copied into a pool this large (or larger, for one turn's input). */
#define POOL_SIZE (256 * 1024)

static int fcntl_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

static napi_value int_value(napi_env env, int64_t v)
{
	napi_value out;
	napi_create_int64(env, v, &out);
	return out;
}

static void check_cb(uv_check_t *h);
static void idle_cb(uv_idle_t *h)
{
	(void)h;
}

static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n;
	void *q;

	if (need <= *cap)
		return 0;
	n = *cap ? *cap : 64;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

static void queue_event(int kind, int id, size_t off, size_t len)
{
	if (reserve((void **)&S.events, &S.events_cap, (S.nevents + 1) * 4, sizeof(int32_t)) < 0)
		abort();	/* out of memory: nothing sensible is left to do */
	S.events[S.nevents * 4] = kind;
	S.events[S.nevents * 4 + 1] = id;
	S.events[S.nevents * 4 + 2] = (int32_t)off;
	S.events[S.nevents * 4 + 3] = (int32_t)len;
	S.nevents++;
	if (S.nevents == 1) {
		uv_check_start(&S.check, check_cb);
		uv_idle_start(&S.idle, idle_cb);
	}
}

static slot_t *slot_get(int id)
{
	if (id < 0 || id >= S.nslots)
		return NULL;
	return S.slots[id];
}

static slot_t *slot_new(int fd)
{
	int id;
	slot_t *s;

	for (id = 0; id < S.nslots; id++)
		if (!S.slots[id])
			break;
	if (id == S.nslots) {
		slot_t **n = realloc(S.slots, (size_t)(S.nslots ? S.nslots * 2 : 16) * sizeof(*n));
		if (!n)
			return NULL;
		memset(n + S.nslots, 0, (size_t)(S.nslots ? S.nslots : 16) * sizeof(*n));
		S.slots = n;
		S.nslots = S.nslots ? S.nslots * 2 : 16;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (uv_poll_init(S.loop, &s->poll, fd) != 0) {
		free(s);
		return NULL;
	}
	s->fd = fd;
	s->id = id;
	s->poll.data = s;
	S.slots[id] = s;
	return s;
}

static void on_poll(uv_poll_t *h, int status, int events);

static void watch(slot_t *s)
{
	unsigned want = 0;

	if (s->closing)
		return;
	if (s->listener ? !s->accept_paused : s->receiving)
		want |= UV_READABLE;
	if (s->pending_len > s->pending_off)
		want |= UV_WRITABLE;
	if (want == s->events)
		return;
	s->events = want;
	if (want)
		uv_poll_start(&s->poll, (int)want, on_poll);
	else
		uv_poll_stop(&s->poll);
}

static void on_closed(uv_handle_t *h)
{
	slot_t *s = h->data;

	close(s->fd);
	free(s->pending);
	free(s->partial);
	/* The slot stays taken until JavaScript has seen `closed` (check_cb frees it). */
	queue_event(EV_CLOSED, s->id, 0, 0);
}

/* Stop watching and close; `closed` follows (connections only). */
static void slot_close(slot_t *s)
{
	if (s->closing)
		return;
	s->closing = 1;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_closed);
}

/* Send what is pending; -1 when the connection broke (it is then closing). */
static int flush(slot_t *s)
{
	while (s->pending_off < s->pending_len) {
		ssize_t n = send(s->fd, s->pending + s->pending_off, s->pending_len - s->pending_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			slot_close(s);
			return -1;
		}
		s->pending_off += (size_t)n;
	}
	if (s->pending_off == s->pending_len) {
		s->pending_off = s->pending_len = 0;
		if (s->shut_after_flush)
			shutdown(s->fd, SHUT_WR);
	}
	return 0;
}

/* ACCEPT_RETRY_MS after running out of descriptors, listeners try again. */
#define ACCEPT_RETRY_MS 100

static void on_retry(uv_timer_t *t)
{
	(void)t;
	for (int id = 0; id < S.nslots; id++) {
		slot_t *l = S.slots[id];
		if (l && l->listener && l->accept_paused) {
			l->accept_paused = 0;
			watch(l);
		}
	}
}

static void do_accept(slot_t *l)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		slot_t *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/*
				 * The connection stays queued and the socket readable: watched
				 * on, the loop would spin. Wait for descriptors to come free.
				 */
				l->accept_paused = 1;
				watch(l);
				uv_timer_start(&S.retry, on_retry, ACCEPT_RETRY_MS, 0);
			}
			return;	/* EAGAIN, or a connection that went away before it was taken */
		}
		c = slot_new(fd);
		if (!c) {
			close(fd);
			return;
		}
		c->tag = l->tag;
		c->receiving = 1;
		watch(c);
		queue_event(EV_ACCEPTED, c->id, (size_t)l->tag, 0);
	}
}

/*
 * The length of the longest prefix of buf made of whole xenstore packets
 * (a 16-byte header whose last word is the payload's length, then the
 * payload). A header announcing more than FRAME_MAX makes it all: the
 * daemon's parser refuses it and drops the connection.
 */
static size_t whole_packets(const char *buf, size_t len)
{
	size_t off = 0;

	while (len - off >= 16) {
		const unsigned char *h = (const unsigned char *)buf + off + 12;
		uint32_t plen = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
		if (plen > FRAME_MAX)
			return len;
		if (len - off - 16 < plen)
			break;
		off += 16 + (size_t)plen;
	}
	return off;
}

/*
 * `got` bytes of s's input were read into S.input at `start`: hand over the
 * whole packets among them (after what s kept from before), keep the rest.
 * Clients write a request's header and payload separately (libxenstore
 * does): JavaScript then runs once per request, not once per write.
 */
static void take_input(slot_t *s, size_t start, size_t got)
{
	size_t whole;

	if (s->partial_len) {
		if (reserve((void **)&s->partial, &s->partial_cap, s->partial_len + got, 1) < 0)
			abort();
		memcpy(s->partial + s->partial_len, S.input + start, got);
		s->partial_len += got;
		S.input_len = start;
		whole = whole_packets(s->partial, s->partial_len);
		if (whole == 0)
			return;
		if (reserve((void **)&S.input, &S.input_cap, start + whole, 1) < 0)
			abort();
		memcpy(S.input + start, s->partial, whole);
		S.input_len = start + whole;
		memmove(s->partial, s->partial + whole, s->partial_len - whole);
		s->partial_len -= whole;
	} else {
		whole = whole_packets(S.input + start, got);
		if (whole < got) {
			if (reserve((void **)&s->partial, &s->partial_cap, got - whole, 1) < 0)
				abort();
			memcpy(s->partial, S.input + start + whole, got - whole);
			s->partial_len = got - whole;
			S.input_len = start + whole;
		}
		if (whole == 0)
			return;
	}
	queue_event(EV_DATA, s->id, start, whole);
}

static void do_read(slot_t *s)
{
	size_t got = 0, start = S.input_len;

	while (got < READ_MAX) {
		ssize_t n;

		if (reserve((void **)&S.input, &S.input_cap, S.input_len + 16384, 1) < 0)
			abort();
		n = read(s->fd, S.input + S.input_len, S.input_cap - S.input_len < READ_MAX - got ? S.input_cap - S.input_len : READ_MAX - got);
		if (n > 0) {
			S.input_len += (size_t)n;
			got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (got)
			take_input(s, start, got);
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			slot_close(s);	/* the peer is gone */
		return;
	}
	take_input(s, start, got);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	slot_t *s = h->data;

	if (s->closing)
		return;
	if (s->listener) {
		do_accept(s);
		return;
	}
	if (status < 0) {
		slot_close(s);
		return;
	}
	if (events & UV_WRITABLE) {
		if (flush(s) < 0)
			return;
		if (s->pending_len == 0)
			queue_event(EV_DRAINED, s->id, 0, 0);
	}
	if ((events & (UV_READABLE | UV_DISCONNECT)) && s->receiving)
		do_read(s);
	watch(s);
}

/* The Int32Array of at least `n` quads, reused while large enough. */
static napi_value quads_array(napi_env env, size_t n)
{
	napi_value ab, arr;
	void *data;

	if (n > S.quads_cap || !S.quads_ref) {
		size_t cap = S.quads_cap ? S.quads_cap : 1024;
		while (cap < n)
			cap *= 2;
		if (S.quads_ref)
			napi_delete_reference(env, S.quads_ref);
		napi_create_arraybuffer(env, cap * 4 * sizeof(int32_t), &data, &ab);
		napi_create_typedarray(env, napi_int32_array, cap * 4, ab, 0, &arr);
		napi_create_reference(env, arr, 1, &S.quads_ref);
		S.quads = data;
		S.quads_cap = cap;
		return arr;
	}
	napi_get_reference_value(env, S.quads_ref, &arr);
	return arr;
}

/*
 * The pool Buffer with room for `len` more bytes at S.pool_used. Input is
 * handed over as views of it: JavaScript may keep them (queued requests),
 * so a full pool is never written again, only dropped for a new one.
 */
static napi_value input_pool(napi_env env, size_t len)
{
	napi_value buf;
	void *data;

	if (!S.pool_ref || S.pool_cap - S.pool_used < len) {
		size_t cap = len > POOL_SIZE ? len : POOL_SIZE;
		if (S.pool_ref)
			napi_delete_reference(env, S.pool_ref);
		napi_create_buffer(env, cap, &data, &buf);
		napi_create_reference(env, buf, 1, &S.pool_ref);
		S.pool = data;
		S.pool_cap = cap;
		S.pool_used = 0;
		return buf;
	}
	napi_get_reference_value(env, S.pool_ref, &buf);
	return buf;
}

/* After each poll phase: hand the turn's events to JavaScript, in one call. */
static void check_cb(uv_check_t *h)
{
	napi_env env = S.env;
	napi_handle_scope scope;
	napi_value cb, recv, argv[3], result;
	size_t n = S.nevents, base;

	(void)h;
	uv_check_stop(&S.check);
	uv_idle_stop(&S.idle);
	if (n == 0)
		return;
	napi_open_handle_scope(env, &scope);
	argv[0] = quads_array(env, n);
	argv[2] = input_pool(env, S.input_len);
	base = S.pool_used;
	memcpy(S.pool + base, S.input, S.input_len);
	S.pool_used += S.input_len;
	for (size_t i = 0; i < n; i++) {
		int32_t *q = S.quads + i * 4;
		memcpy(q, S.events + i * 4, 4 * sizeof(int32_t));
		if (q[0] == EV_DATA)
			q[2] += (int32_t)base;
		else if (q[0] == EV_CLOSED) {
			/* Slots whose `closed` is now delivered may be reused. */
			free(S.slots[q[1]]);
			S.slots[q[1]] = NULL;
		}
	}
	napi_create_uint32(env, (uint32_t)n, &argv[1]);
	S.nevents = 0;
	S.input_len = 0;
	napi_get_reference_value(env, S.callback, &cb);
	napi_get_global(env, &recv);	/* make_callback wants an object */
	/* make_callback: the tick and microtask queues run after it, as after any I/O callback. */
	if (napi_make_callback(env, S.async, recv, cb, 3, argv, &result) == napi_pending_exception) {
		napi_value e;
		napi_get_and_clear_last_exception(env, &e);
		napi_fatal_exception(env, e);
	}
	napi_close_handle_scope(env, scope);
}

/* start(callback(quads: Int32Array, count: number, input: Buffer)): once, before anything else. */
static napi_value start(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], name;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1)
		return int_value(env, -EINVAL);
	if (S.started)
		return int_value(env, -EBUSY);
	if (napi_get_uv_event_loop(env, &S.loop) != napi_ok)
		return int_value(env, -EINVAL);
	S.env = env;
	napi_create_reference(env, argv[0], 1, &S.callback);
	napi_create_string_utf8(env, "tsxs.unix-stream", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, NULL, name, &S.async);
	uv_check_init(S.loop, &S.check);
	uv_unref((uv_handle_t *)&S.check);
	/* Referenced: events waiting to be delivered keep the loop alive (a last `closed`, say). */
	uv_idle_init(S.loop, &S.idle);
	uv_timer_init(S.loop, &S.retry);
	S.started = 1;
	return int_value(env, 0);
}

/* bindListen(path, backlog) -> a listening socket's fd, or -errno. */
static napi_value bind_listen(napi_env env, napi_callback_info info)
{
	size_t argc = 2, len = 0;
	napi_value argv[2];
	struct sockaddr_un sa;
	int32_t backlog = 128;
	int fd;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1)
		return int_value(env, -EINVAL);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (napi_get_value_string_utf8(env, argv[0], sa.sun_path, sizeof(sa.sun_path), &len) != napi_ok || len == 0 ||
	    len >= sizeof(sa.sun_path) - 1)
		return int_value(env, -ENAMETOOLONG);
	if (argc > 1)
		napi_get_value_int32(env, argv[1], &backlog);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return int_value(env, -errno);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0) {
		int e = errno;
		close(fd);
		return int_value(env, -e);
	}
	return int_value(env, fd);
}

static int arg_ints(napi_env env, napi_callback_info info, int32_t *out, size_t want, napi_value *argv, size_t nargv)
{
	size_t argc = nargv;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want)
		return -1;
	for (size_t i = 0; i < want; i++)
		if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok)
			return -1;
	return 0;
}

/*
 * serve(fd, tag) -> a listener id, or -errno: accept connections on the
 * listening socket fd (non-blocking from now on); each is reported as an
 * `accepted` event whose id is the connection's and whose offset is `tag`.
 */
static napi_value serve(napi_env env, napi_callback_info info)
{
	int32_t a[2];
	napi_value argv[2];
	slot_t *s;

	if (!S.started || arg_ints(env, info, a, 2, argv, 2) < 0 || a[0] < 0)
		return int_value(env, -EINVAL);
	if (fcntl_nonblock(a[0]) < 0)
		return int_value(env, -errno);
	s = slot_new(a[0]);
	if (!s)
		return int_value(env, -ENOMEM);
	s->listener = 1;
	s->tag = a[1];
	watch(s);
	return int_value(env, s->id);
}

/*
 * write(id, buffer, force) -> bytes taken: all of them (sent, or copied to
 * be sent when the socket can take them), or 0 while earlier output is
 * still waiting (the caller keeps it and writes again after `drained`);
 * with force, queued behind that output instead (shutting down). Output to
 * a connection that is closing is taken and dropped.
 */
static napi_value write_conn(napi_env env, napi_callback_info info)
{
	size_t argc = 3, len = 0, off = 0;
	napi_value argv[3];
	int32_t id;
	bool force = false;
	char *data;
	slot_t *s;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
	    napi_get_value_int32(env, argv[0], &id) != napi_ok ||
	    napi_get_buffer_info(env, argv[1], (void **)&data, &len) != napi_ok)
		return int_value(env, -EINVAL);
	if (argc > 2)
		napi_get_value_bool(env, argv[2], &force);
	s = slot_get(id);
	if (!s || s->listener)
		return int_value(env, -EBADF);
	if (s->closing)
		return int_value(env, (int64_t)len);
	if (s->pending_len > s->pending_off) {
		if (!force)
			return int_value(env, 0);
		/* Appended; what was sent is dropped from the front only once it is most of the buffer. */
		if (s->pending_off > s->pending_len / 2) {
			memmove(s->pending, s->pending + s->pending_off, s->pending_len - s->pending_off);
			s->pending_len -= s->pending_off;
			s->pending_off = 0;
		}
		if (reserve((void **)&s->pending, &s->pending_cap, s->pending_len + len, 1) < 0)
			abort();
		memcpy(s->pending + s->pending_len, data, len);
		s->pending_len += len;
		return int_value(env, (int64_t)len);
	}
	while (off < len) {
		ssize_t n = send(s->fd, data + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			slot_close(s);	/* the peer is gone: `closed` follows */
			return int_value(env, (int64_t)len);
		}
		off += (size_t)n;
	}
	if (off < len) {
		size_t rest = len - off;
		if (reserve((void **)&s->pending, &s->pending_cap, rest, 1) < 0)
			abort();
		memcpy(s->pending, data + off, rest);
		s->pending_off = 0;
		s->pending_len = rest;
		watch(s);
	}
	return int_value(env, (int64_t)len);
}

/*
 * The arguments (id, then n - 1 more integers) of a call on one slot: 0 and
 * the slot, or -EINVAL (bad arguments), or -EBADF (no such slot, or a
 * listener where only a connection will do).
 */
static int slot_args(napi_env env, napi_callback_info info, int32_t *a, size_t n, int connection_only, slot_t **out)
{
	napi_value argv[2];

	if (arg_ints(env, info, a, n, argv, 2) < 0)
		return -EINVAL;
	*out = slot_get(a[0]);
	if (!*out || (connection_only && (*out)->listener))
		return -EBADF;
	return 0;
}

/* pending(id) -> bytes taken by `write` and not yet sent (-EBADF: no such connection). */
static napi_value pending(napi_env env, napi_callback_info info)
{
	int32_t a[1];
	slot_t *s;
	int rc = slot_args(env, info, a, 1, 0, &s);

	return int_value(env, rc ? rc : (int64_t)(s->pending_len - s->pending_off));
}

/* receive(id, on) -> 0: read the connection's input (on = 1) or leave it in the socket (0). */
static napi_value receive(napi_env env, napi_callback_info info)
{
	int32_t a[2];
	slot_t *s;
	int rc = slot_args(env, info, a, 2, 1, &s);

	if (rc == 0) {
		s->receiving = a[1] != 0;
		watch(s);
	}
	return int_value(env, rc);
}

/* endAfterFlush(id) -> 0: once all output is sent, shut the sending side (the peer reads EOF). */
static napi_value end_after_flush(napi_env env, napi_callback_info info)
{
	int32_t a[1];
	slot_t *s;
	int rc = slot_args(env, info, a, 1, 1, &s);

	if (rc == 0) {
		s->shut_after_flush = 1;
		if (!s->closing && s->pending_len == s->pending_off)
			shutdown(s->fd, SHUT_WR);
	}
	return int_value(env, rc);
}

/* close(id) -> 0: stop and close a listener or connection at once (unsent output is lost); `closed` follows. */
static napi_value close_slot(napi_env env, napi_callback_info info)
{
	int32_t a[1];
	slot_t *s;
	int rc = slot_args(env, info, a, 1, 0, &s);

	if (rc == 0)
		slot_close(s);
	return int_value(env, rc);
}

/* Whether fd is a listening Unix stream socket (systemd's inherited sockets are checked before `serve`). */
static napi_value is_unix_listener(napi_env env, napi_callback_info info)
{
	int32_t fd;
	napi_value argv[1], out;
	int type = 0, acc = 0;
	socklen_t l1 = sizeof(type), l2 = sizeof(acc);
	struct sockaddr_un sa;
	socklen_t sl = sizeof(sa);

	if (arg_ints(env, info, &fd, 1, argv, 1) < 0)
		return int_value(env, -EINVAL);
	napi_get_boolean(env,
			 getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) == 0 && type == SOCK_STREAM &&
				 getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l2) == 0 && acc &&
				 getsockname(fd, (struct sockaddr *)&sa, &sl) == 0 && sa.sun_family == AF_UNIX,
			 &out);
	return out;
}

NAPI_MODULE_INIT()
{
	static const struct {
		const char *name;
		napi_callback fn;
	} fns[] = {
		{ "start", start },		{ "bindListen", bind_listen },
		{ "serve", serve },		{ "write", write_conn },
		{ "pending", pending },		{ "receive", receive },
		{ "endAfterFlush", end_after_flush }, { "close", close_slot },
		{ "isUnixListener", is_unix_listener },
	};
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		napi_value f;
		napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
		napi_set_named_property(env, exports, fns[i].name, f);
	}
	return exports;
}
