/*
 * tsxs_xen: what a xenstore server needs from Xen and Node.js cannot do.
 *
 *   - Event channels through libxenevtchn: bind a guest's port or a VIRQ,
 *     notify, and each handle's fd watched by libuv (uv_poll), so the event
 *     loop is woken by events and never blocks or polls.
 *   - Ring pages: a guest's page mapped through libxengnttab (grant
 *     reference 1, GNTTAB_RESERVED_XENSTORE, as cx 4.17+), or through
 *     libxenforeignmemory (the frame INTRODUCE names, as oxenstored) when
 *     that fails; dom0's own page by mmap of /proc/xen/xsd_kva; or, for
 *     tests, ordinary memory.
 *   - The ring protocol's copies (xs_wire.h, docs/misc/xenstore-ring.txt):
 *     read both indexes once, a full barrier, check them, copy, a full
 *     barrier, publish the new index. Never done from JavaScript.
 *   - Domain state (exists, shut down, dying) from libxenmanage (Xen 4.21+)
 *     or libxenctrl's xc_domain_getinfolist (older Xen).
 *
 * The Xen libraries are loaded at run time (dlopen), so the same build runs
 * where Xen is absent; `load` can also take one library providing all the
 * calls (tsxenstored's emulated hypervisor). Each function below says what
 * it returns; errors are negative errno values, never exceptions, except
 * for calls with wrong argument types (programming errors).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

/* ---- xs_wire.h, written from the specification ---- */

#define RING_SIZE 1024u
#define PAGE_SIZE_XS 4096u
#define GNTTAB_RESERVED_XENSTORE 1u
#define DOMID_FIRST_RESERVED 0x7ff0u

struct ring_page {
	char req[RING_SIZE];
	char rsp[RING_SIZE];
	uint32_t req_cons, req_prod;
	uint32_t rsp_cons, rsp_prod;
	uint32_t server_features;
	uint32_t connection;
	uint32_t error;
	uint32_t evtchn_port;
};

/* Field numbers shared with src/native/xen.ts. */
enum ring_field {
	F_REQ_CONS, F_REQ_PROD, F_RSP_CONS, F_RSP_PROD,
	F_SERVER_FEATURES, F_CONNECTION, F_ERROR, F_EVTCHN_PORT, F_COUNT
};

/* ---- the Xen library calls, resolved at load time ---- */

typedef void xenevtchn_handle;
typedef void xengnttab_handle;
typedef void xenforeignmemory_handle;
typedef void xc_interface;
typedef void xenmanage_handle;

static struct {
	xenevtchn_handle *(*evtchn_open)(void *logger, unsigned flags);
	int (*evtchn_fd)(xenevtchn_handle *);
	int (*evtchn_bind_interdomain)(xenevtchn_handle *, uint32_t domid, uint32_t remote_port);
	int (*evtchn_bind_virq)(xenevtchn_handle *, unsigned virq);
	int (*evtchn_unbind)(xenevtchn_handle *, uint32_t port);
	int (*evtchn_notify)(xenevtchn_handle *, uint32_t port);
	int (*evtchn_pending)(xenevtchn_handle *);
	int (*evtchn_unmask)(xenevtchn_handle *, uint32_t port);
	int (*evtchn_bind_unbound)(xenevtchn_handle *, uint32_t remote_domid);
	int (*evtchn_close)(xenevtchn_handle *);
	/* The emulated host's own calls (native/emu/xen-emu.c). */
	xenevtchn_handle *(*emu_open_as)(unsigned domid);
	int (*emu_create)(unsigned domid);
	int (*emu_set_state)(unsigned domid, const char *state);
	int (*emu_destroy)(unsigned domid);
	xengnttab_handle *(*gnttab_open)(void *logger, unsigned flags);
	int (*gnttab_set_max_grants)(xengnttab_handle *, uint32_t);
	void *(*gnttab_map_grant_ref)(xengnttab_handle *, uint32_t domid, uint32_t ref, int prot);
	int (*gnttab_unmap)(xengnttab_handle *, void *start, uint32_t count);
	xenforeignmemory_handle *(*fmem_open)(void *logger, unsigned flags);
	void *(*fmem_map)(xenforeignmemory_handle *, uint32_t dom, int prot, size_t pages, const uint64_t arr[], int err[]);
	int (*fmem_unmap)(xenforeignmemory_handle *, void *addr, size_t pages);
	xc_interface *(*xc_open)(void *logger, void *dombuild_logger, unsigned flags);
	int (*xc_getinfolist)(xc_interface *, uint32_t first, unsigned max, void *info);
	xenmanage_handle *(*manage_open)(void *logger, unsigned flags);
	int (*manage_info)(xenmanage_handle *, unsigned domid, unsigned *state, unsigned *caps, uint64_t *unique_id);
} X;

static struct {
	/* The daemon's own event channel handle (the first one opened). */
	xenevtchn_handle *evtchn;
	xengnttab_handle *gnttab;
	xenforeignmemory_handle *fmem;
	xc_interface *xc;
	xenmanage_handle *manage;
	int loaded;
} H;

/* ---- helpers ---- */

static napi_value num(napi_env env, double v)
{
	napi_value out;
	napi_create_double(env, v, &out);
	return out;
}

static napi_value undef(napi_env env)
{
	napi_value out;
	napi_get_undefined(env, &out);
	return out;
}

static napi_value null_value(napi_env env)
{
	napi_value out;
	napi_get_null(env, &out);
	return out;
}

static int args(napi_env env, napi_callback_info info, size_t want, napi_value *argv)
{
	size_t argc = want;
	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
		napi_throw_type_error(env, NULL, "missing arguments");
		return -1;
	}
	return 0;
}

static int u32_arg(napi_env env, napi_value v, uint32_t *out)
{
	if (napi_get_value_uint32(env, v, out) != napi_ok) {
		napi_throw_type_error(env, NULL, "expected a number");
		return -1;
	}
	return 0;
}

static void *sym(void *lib, const char *name)
{
	return lib ? dlsym(lib, name) : NULL;
}

/* dlopen the first of `names` (NUL-separated, ending with an empty one) that loads. */
static void *open_first(const char *names)
{
	for (const char *n = names; *n; n += strlen(n) + 1) {
		void *h = dlopen(n, RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
	}
	return NULL;
}

/*
 * load(emulation?: string) -> string | null
 * Resolve the Xen calls and open the handles: from `emulation` (one
 * library providing every call) if given, else from the Xen libraries.
 * Returns null on success, or why the hypervisor interface is unavailable.
 * Event channels and one way of mapping guest rings are required; domain
 * state is optional (without it, domains are never found dead).
 */
static napi_value load(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	char path[4096];
	void *ev, *gt, *fm, *xc, *mg;

	if (H.loaded)
		return null_value(env);
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc >= 1) {
		napi_valuetype t;
		napi_typeof(env, argv[0], &t);
		if (t == napi_string) {
			size_t len;
			napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len);
			ev = gt = fm = xc = mg = dlopen(path, RTLD_NOW | RTLD_LOCAL);
			if (!ev) {
				napi_create_string_utf8(env, dlerror(), NAPI_AUTO_LENGTH, &out);
				return out;
			}
			goto resolve;
		}
	}
	ev = open_first("libxenevtchn.so.1\0libxenevtchn.so\0");
	gt = open_first("libxengnttab.so.1\0libxengnttab.so\0");
	fm = open_first("libxenforeignmemory.so.1\0libxenforeignmemory.so\0");
	mg = open_first("libxenmanage.so.1\0libxenmanage.so\0");
	xc = mg ? NULL : open_first("libxenctrl.so.4.17\0libxenctrl.so.4.18\0libxenctrl.so.4.19\0libxenctrl.so.4.20\0"
				    "libxenctrl.so.4.21\0libxenctrl.so.4.22\0libxenctrl.so.4.16\0libxenctrl.so\0");
resolve:
	X.evtchn_open = sym(ev, "xenevtchn_open");
	X.evtchn_fd = sym(ev, "xenevtchn_fd");
	X.evtchn_bind_interdomain = sym(ev, "xenevtchn_bind_interdomain");
	X.evtchn_bind_virq = sym(ev, "xenevtchn_bind_virq");
	X.evtchn_unbind = sym(ev, "xenevtchn_unbind");
	X.evtchn_notify = sym(ev, "xenevtchn_notify");
	X.evtchn_pending = sym(ev, "xenevtchn_pending");
	X.evtchn_unmask = sym(ev, "xenevtchn_unmask");
	X.evtchn_bind_unbound = sym(ev, "xenevtchn_bind_unbound_port");
	X.evtchn_close = sym(ev, "xenevtchn_close");
	X.emu_open_as = sym(ev, "tsxs_emu_evtchn_open_as");
	X.emu_create = sym(ev, "tsxs_emu_domain_create");
	X.emu_set_state = sym(ev, "tsxs_emu_domain_set_state");
	X.emu_destroy = sym(ev, "tsxs_emu_domain_destroy");
	X.gnttab_open = sym(gt, "xengnttab_open");
	X.gnttab_set_max_grants = sym(gt, "xengnttab_set_max_grants");
	X.gnttab_map_grant_ref = sym(gt, "xengnttab_map_grant_ref");
	X.gnttab_unmap = sym(gt, "xengnttab_unmap");
	X.fmem_open = sym(fm, "xenforeignmemory_open");
	X.fmem_map = sym(fm, "xenforeignmemory_map");
	X.fmem_unmap = sym(fm, "xenforeignmemory_unmap");
	X.xc_open = sym(xc, "xc_interface_open");
	X.xc_getinfolist = sym(xc, "xc_domain_getinfolist");
	X.manage_open = sym(mg, "xenmanage_open");
	X.manage_info = sym(mg, "xenmanage_get_domain_info");

	if (!X.evtchn_open || !X.evtchn_fd || !X.evtchn_bind_interdomain || !X.evtchn_bind_virq ||
	    !X.evtchn_unbind || !X.evtchn_notify || !X.evtchn_pending || !X.evtchn_unmask) {
		napi_create_string_utf8(env, "libxenevtchn is not available", NAPI_AUTO_LENGTH, &out);
		return out;
	}
	/* The event channel device must open: without it there are no rings to serve. */
	H.evtchn = X.evtchn_open(NULL, 0);
	if (!H.evtchn) {
		napi_create_string_utf8(env, "cannot open the event channel device", NAPI_AUTO_LENGTH, &out);
		return out;
	}
	if (X.gnttab_open && X.gnttab_map_grant_ref && X.gnttab_unmap) {
		H.gnttab = X.gnttab_open(NULL, 0);
		/* One grant per domain at most (cx domain_init). */
		if (H.gnttab && X.gnttab_set_max_grants)
			X.gnttab_set_max_grants(H.gnttab, DOMID_FIRST_RESERVED);
	}
	if (X.fmem_open && X.fmem_map && X.fmem_unmap)
		H.fmem = X.fmem_open(NULL, 0);
	if (X.manage_open && X.manage_info)
		H.manage = X.manage_open(NULL, 0);
	else if (X.xc_open && X.xc_getinfolist)
		H.xc = X.xc_open(NULL, NULL, 0);
	H.loaded = 1;
	return null_value(env);
}

/* ---- event channels ---- */

/*
 * An event channel handle and the libuv watch of its fd. On Xen a daemon
 * has one; in the emulated host, a process emulating guests has one per
 * guest domain (each acting in that domain's port space).
 */
struct evtchn {
	xenevtchn_handle *xce;
	int own; /* opened by evtchnOpen (closed with it), not the daemon's first */
	uv_poll_t poll;
	napi_env env;
	napi_ref callback;
	napi_async_context context;
	int watching;
	/* The poll has not had its close callback yet: it still points at us. */
	int poll_open;
	/* The JS handle is gone: the poll's close callback frees us. */
	int orphan;
};

static void release_handle(struct evtchn *e)
{
	if (e->own && e->xce && X.evtchn_close)
		X.evtchn_close(e->xce);
	e->xce = NULL;
}

static void evtchn_finalize(napi_env env, void *data, void *hint)
{
	struct evtchn *e = data;
	(void)env;
	(void)hint;
	release_handle(e);
	if (e->poll_open)
		e->orphan = 1;
	else
		free(e);
}

/* Pending ports are read until none is left: the fd must not block. */
static void nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * evtchnOpen(asDomid?) -> handle, or -errno. Without `asDomid`, the
 * daemon's handle (opened by `load`). With it, a new handle acting as that
 * domain (the emulated host only: -ENOSYS on Xen).
 */
static napi_value evtchn_open(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	napi_valuetype t = napi_undefined;
	uint32_t domid;
	struct evtchn *e;
	xenevtchn_handle *xce;
	int own = 0;

	if (!H.loaded)
		return num(env, -ENODEV);
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc >= 1)
		napi_typeof(env, argv[0], &t);
	if (t == napi_number) {
		if (u32_arg(env, argv[0], &domid))
			return NULL;
		if (!X.emu_open_as)
			return num(env, -ENOSYS);
		xce = X.emu_open_as(domid);
		if (!xce)
			return num(env, errno ? -errno : -EIO);
		own = 1;
	} else {
		xce = H.evtchn;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return num(env, -ENOMEM);
	e->xce = xce;
	e->own = own;
	nonblocking(X.evtchn_fd(xce));
	napi_create_external(env, e, evtchn_finalize, NULL, &out);
	return out;
}

static struct evtchn *evtchn_arg(napi_env env, napi_value v)
{
	void *data = NULL;
	napi_valuetype t;
	napi_typeof(env, v, &t);
	if (t != napi_external || napi_get_value_external(env, v, &data) != napi_ok || !data) {
		napi_throw_type_error(env, NULL, "expected an event channel handle");
		return NULL;
	}
	if (!((struct evtchn *)data)->xce) {
		napi_throw_error(env, NULL, "the event channel handle is closed");
		return NULL;
	}
	return data;
}

/* bindInterdomain(handle, domid, remotePort) -> local port, or -errno */
static napi_value bind_interdomain(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct evtchn *e;
	uint32_t domid, port;
	int rc;

	if (args(env, info, 3, argv) || !(e = evtchn_arg(env, argv[0])) || u32_arg(env, argv[1], &domid) || u32_arg(env, argv[2], &port))
		return NULL;
	rc = X.evtchn_bind_interdomain(e->xce, domid, port);
	return num(env, rc < 0 ? -errno : rc);
}

/* bindUnbound(handle, remoteDomid) -> a new port `remoteDomid` may bind to, or -errno (a guest's end) */
static napi_value bind_unbound(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct evtchn *e;
	uint32_t domid;
	int rc;

	if (args(env, info, 2, argv) || !(e = evtchn_arg(env, argv[0])) || u32_arg(env, argv[1], &domid))
		return NULL;
	if (!X.evtchn_bind_unbound)
		return num(env, -ENOSYS);
	rc = X.evtchn_bind_unbound(e->xce, domid);
	return num(env, rc < 0 ? -errno : rc);
}

/* bindVirq(handle, virq) -> local port, or -errno */
static napi_value bind_virq(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct evtchn *e;
	uint32_t virq;
	int rc;

	if (args(env, info, 2, argv) || !(e = evtchn_arg(env, argv[0])) || u32_arg(env, argv[1], &virq))
		return NULL;
	rc = X.evtchn_bind_virq(e->xce, virq);
	return num(env, rc < 0 ? -errno : rc);
}

/* unbind(handle, port) -> 0, or -errno */
static napi_value unbind(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct evtchn *e;
	uint32_t port;

	if (args(env, info, 2, argv) || !(e = evtchn_arg(env, argv[0])) || u32_arg(env, argv[1], &port))
		return NULL;
	return num(env, X.evtchn_unbind(e->xce, port) < 0 ? -errno : 0);
}

/* notify(handle, port) -> 0, or -errno */
static napi_value notify(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct evtchn *e;
	uint32_t port;

	if (args(env, info, 2, argv) || !(e = evtchn_arg(env, argv[0])) || u32_arg(env, argv[1], &port))
		return NULL;
	return num(env, X.evtchn_notify(e->xce, port) < 0 ? -errno : 0);
}

/*
 * The event channel fd is readable: collect every pending port, hand them
 * to the callback in one call, then unmask them (cx handle_event).
 */
static void on_events(uv_poll_t *handle, int status, int events)
{
	struct evtchn *e = handle->data;
	uint32_t ports[256];
	uint32_t n = 0;
	napi_handle_scope scope;
	napi_value cb, global, arr, result;
	(void)events;

	if (status < 0 || !e->watching || !e->xce)
		return;
	while (n < sizeof(ports) / sizeof(ports[0])) {
		int p = X.evtchn_pending(e->xce);
		if (p < 0)
			break;
		ports[n++] = (uint32_t)p;
	}
	if (n == 0)
		return;
	napi_open_handle_scope(e->env, &scope);
	napi_create_array_with_length(e->env, n, &arr);
	for (uint32_t i = 0; i < n; i++)
		napi_set_element(e->env, arr, i, num(e->env, ports[i]));
	napi_get_reference_value(e->env, e->callback, &cb);
	napi_get_global(e->env, &global);
	napi_make_callback(e->env, e->context, global, cb, 1, &arr, &result);
	napi_close_handle_scope(e->env, scope);
	for (uint32_t i = 0; i < n; i++)
		X.evtchn_unmask(e->xce, ports[i]);
}

/*
 * watchEvents(handle, callback(ports: number[])) -> 0, or -errno
 * Deliver the handle's events to `callback`, from libuv's loop. The watch
 * does not keep the process alive on its own (the sockets do).
 */
static napi_value watch_events(napi_env env, napi_callback_info info)
{
	napi_value argv[2], name;
	struct evtchn *e;
	uv_loop_t *loop;
	int rc;

	if (args(env, info, 2, argv) || !(e = evtchn_arg(env, argv[0])))
		return NULL;
	if (e->watching)
		return num(env, -EBUSY);
	if (napi_get_uv_event_loop(env, &loop) != napi_ok)
		return num(env, -EINVAL);
	rc = uv_poll_init(loop, &e->poll, X.evtchn_fd(e->xce));
	if (rc < 0)
		return num(env, rc);
	e->poll.data = e;
	e->poll_open = 1;
	e->env = env;
	napi_create_reference(env, argv[1], 1, &e->callback);
	napi_create_string_utf8(env, "tsxs-evtchn", NAPI_AUTO_LENGTH, &name);
	napi_async_init(env, NULL, name, &e->context);
	e->watching = 1;
	uv_poll_start(&e->poll, UV_READABLE, on_events);
	uv_unref((uv_handle_t *)&e->poll);
	return num(env, 0);
}

static void poll_closed(uv_handle_t *h)
{
	struct evtchn *e = h->data;
	e->poll_open = 0;
	if (e->orphan)
		free(e);
}

/*
 * closeEvents(handle, close) -> undefined: stop delivering the handle's
 * events; with `close`, also close a handle evtchnOpen opened (its ports
 * go with it). The handle is unusable after a close.
 */
static napi_value close_events(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct evtchn *e;
	bool close = false;

	void *data = NULL;
	if (args(env, info, 2, argv) || napi_get_value_external(env, argv[0], &data) != napi_ok || !data)
		return undef(env);
	e = data;
	napi_get_value_bool(env, argv[1], &close);
	if (e->watching) {
		e->watching = 0;
		uv_poll_stop(&e->poll);
		uv_close((uv_handle_t *)&e->poll, poll_closed);
		napi_delete_reference(env, e->callback);
		napi_async_destroy(env, e->context);
	}
	/* The poll no longer watches the fd (uv_poll_stop), so it may be closed now. */
	if (close)
		release_handle(e);
	return undef(env);
}

/* ---- the emulated host's domains ---- */

/* emuDomain(op, domid, state?) -> 0 or -errno: create ("create"), set the state ("state", e.g. "shutdown") or destroy ("destroy") a domain; -ENOSYS on Xen. */
static napi_value emu_domain(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3];
	char op[16], state[32] = "";
	size_t len;
	uint32_t domid;
	int rc;

	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc < 2 || napi_get_value_string_utf8(env, argv[0], op, sizeof(op), &len) != napi_ok || u32_arg(env, argv[1], &domid)) {
		napi_throw_type_error(env, NULL, "emuDomain(op, domid, state?)");
		return NULL;
	}
	if (argc >= 3)
		napi_get_value_string_utf8(env, argv[2], state, sizeof(state), &len);
	if (!X.emu_create)
		return num(env, -ENOSYS);
	if (!strcmp(op, "create"))
		rc = X.emu_create(domid);
	else if (!strcmp(op, "state"))
		rc = X.emu_set_state(domid, state);
	else if (!strcmp(op, "destroy"))
		rc = X.emu_destroy(domid);
	else
		rc = -EINVAL;
	return num(env, rc);
}

/* ---- ring pages ---- */

enum ring_kind { RING_GRANT, RING_FOREIGN, RING_FILE, RING_MEMORY };

struct ring {
	volatile struct ring_page *page;
	enum ring_kind kind;
	napi_ref memory; /* RING_MEMORY: the buffer holding the page */
};

static void ring_release(struct ring *r)
{
	if (!r->page)
		return;
	switch (r->kind) {
	case RING_GRANT:
		X.gnttab_unmap(H.gnttab, (void *)r->page, 1);
		break;
	case RING_FOREIGN:
		X.fmem_unmap(H.fmem, (void *)r->page, 1);
		break;
	case RING_FILE:
		munmap((void *)r->page, PAGE_SIZE_XS);
		break;
	case RING_MEMORY:
		break;
	}
	r->page = NULL;
}

static void ring_finalize(napi_env env, void *data, void *hint)
{
	struct ring *r = data;
	(void)hint;
	ring_release(r);
	if (r->memory)
		napi_delete_reference(env, r->memory);
	free(r);
}

static napi_value wrap_ring(napi_env env, volatile struct ring_page *page, enum ring_kind kind)
{
	struct ring *r = calloc(1, sizeof(*r));
	napi_value out;

	if (!r)
		return num(env, -ENOMEM);
	r->page = page;
	r->kind = kind;
	napi_create_external(env, r, ring_finalize, NULL, &out);
	return out;
}

static struct ring *ring_arg(napi_env env, napi_value v)
{
	void *data = NULL;
	napi_valuetype t;

	napi_typeof(env, v, &t);
	if (t != napi_external || napi_get_value_external(env, v, &data) != napi_ok) {
		napi_throw_type_error(env, NULL, "expected a ring");
		return NULL;
	}
	return data;
}

/* mapGrant(domid) -> ring, or -errno: the guest's page through grant reference 1 (cx 4.17+). */
static napi_value map_grant(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	uint32_t domid;
	void *p;

	if (args(env, info, 1, argv) || u32_arg(env, argv[0], &domid))
		return NULL;
	if (!H.gnttab)
		return num(env, -ENODEV);
	p = X.gnttab_map_grant_ref(H.gnttab, domid, GNTTAB_RESERVED_XENSTORE, PROT_READ | PROT_WRITE);
	if (!p)
		return num(env, errno ? -errno : -EIO);
	return wrap_ring(env, p, RING_GRANT);
}

/* mapForeign(domid, frame) -> ring, or -errno: the guest's page by its frame number (oxenstored's way). */
static napi_value map_foreign(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	uint32_t domid;
	int64_t frame;
	uint64_t arr[1];
	int err[1] = { 0 };
	void *p;

	if (args(env, info, 2, argv) || u32_arg(env, argv[0], &domid))
		return NULL;
	if (napi_get_value_int64(env, argv[1], &frame) != napi_ok) {
		napi_throw_type_error(env, NULL, "expected a frame number");
		return NULL;
	}
	if (!H.fmem)
		return num(env, -ENODEV);
	arr[0] = (uint64_t)frame;
	p = X.fmem_map(H.fmem, domid, PROT_READ | PROT_WRITE, 1, arr, err);
	if (!p)
		return num(env, errno ? -errno : -EIO);
	if (err[0]) {
		X.fmem_unmap(H.fmem, p, 1);
		return num(env, err[0] < 0 ? err[0] : -err[0]);
	}
	return wrap_ring(env, p, RING_FOREIGN);
}

/* mapFile(path) -> ring, or -errno: a shared mapping of the file's first page (/proc/xen/xsd_kva). */
static napi_value map_file(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	char path[4096];
	size_t len;
	int fd;
	void *p;

	if (args(env, info, 1, argv))
		return NULL;
	if (napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len) != napi_ok) {
		napi_throw_type_error(env, NULL, "expected a path");
		return NULL;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return num(env, -errno);
	p = mmap(NULL, PAGE_SIZE_XS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int e = errno;
	close(fd);
	if (p == MAP_FAILED)
		return num(env, -e);
	return wrap_ring(env, p, RING_FILE);
}

/*
 * ringOfBuffer(buffer) -> ring: the ring protocol over ordinary memory (the
 * first 4096 bytes of `buffer`, which is kept alive with the ring), for
 * tests and in-process peers.
 */
static napi_value ring_of_buffer(napi_env env, napi_callback_info info)
{
	napi_value argv[1], out;
	void *data;
	size_t len;
	struct ring *r;

	if (args(env, info, 1, argv))
		return NULL;
	if (napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok || len < PAGE_SIZE_XS) {
		napi_throw_type_error(env, NULL, "expected a buffer of at least 4096 bytes");
		return NULL;
	}
	out = wrap_ring(env, data, RING_MEMORY);
	napi_get_value_external(env, out, (void **)&r);
	napi_create_reference(env, argv[0], 1, &r->memory);
	return out;
}

/* unmap(ring) -> undefined: give the page back; the ring is unusable afterwards. */
static napi_value unmap(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	struct ring *r;

	if (args(env, info, 1, argv) || !(r = ring_arg(env, argv[0])))
		return NULL;
	ring_release(r);
	return undef(env);
}

static volatile uint32_t *field_ptr(volatile struct ring_page *p, uint32_t f)
{
	switch (f) {
	case F_REQ_CONS: return &p->req_cons;
	case F_REQ_PROD: return &p->req_prod;
	case F_RSP_CONS: return &p->rsp_cons;
	case F_RSP_PROD: return &p->rsp_prod;
	case F_SERVER_FEATURES: return &p->server_features;
	case F_CONNECTION: return &p->connection;
	case F_ERROR: return &p->error;
	case F_EVTCHN_PORT: return &p->evtchn_port;
	}
	return NULL;
}

/* ringGet(ring, field) -> value, or -1 (unmapped ring or unknown field) */
static napi_value ring_get(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct ring *r;
	uint32_t f;
	volatile uint32_t *p;

	if (args(env, info, 2, argv) || !(r = ring_arg(env, argv[0])) || u32_arg(env, argv[1], &f))
		return NULL;
	if (!r->page || !(p = field_ptr(r->page, f)))
		return num(env, -1);
	uint32_t v = *p;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return num(env, v);
}

/* ringSet(ring, field, value) -> 0, or -1: publish a field (after a full barrier, so what came before is visible first). */
static napi_value ring_set(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct ring *r;
	uint32_t f, v;
	volatile uint32_t *p;

	if (args(env, info, 3, argv) || !(r = ring_arg(env, argv[0])) || u32_arg(env, argv[1], &f) || u32_arg(env, argv[2], &v))
		return NULL;
	if (!r->page || !(p = field_ptr(r->page, f)))
		return num(env, -1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*p = v;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return num(env, 0);
}

/* The queue `which` (0: requests, 1: responses) of a page. */
static void queue_of(volatile struct ring_page *p, uint32_t which, volatile char **buf, volatile uint32_t **cons, volatile uint32_t **prod)
{
	if (which == 0) {
		*buf = p->req;
		*cons = &p->req_cons;
		*prod = &p->req_prod;
	} else {
		*buf = p->rsp;
		*cons = &p->rsp_cons;
		*prod = &p->rsp_prod;
	}
}

/*
 * A new Buffer with the `n` bytes of a queue's data from free-running index
 * `from` on (wrapping at the ring's end), read before anything that follows
 * (a consumer index's publication); null if the Buffer cannot be made.
 */
static napi_value copy_out(napi_env env, volatile char *buf, uint32_t from, uint32_t n)
{
	napi_value out;
	char *dst;
	uint32_t at = from & (RING_SIZE - 1);
	uint32_t first = RING_SIZE - at < n ? RING_SIZE - at : n;

	if (napi_create_buffer(env, n, (void **)&dst, &out) != napi_ok)
		return NULL;
	memcpy(dst, (const char *)buf + at, first);
	memcpy(dst + first, (const char *)buf, n - first);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return out;
}

/*
 * ringConsume(ring, which, max) -> Buffer, or null if the indexes are
 * inconsistent (prod - cons > 1024, xs_wire.h): take up to `max` bytes
 * from queue `which` (0: requests, the server's side; 1: responses, the
 * guest's side) and publish the new consumer index. An empty buffer when
 * there is nothing to take.
 */
static napi_value ring_consume(napi_env env, napi_callback_info info)
{
	napi_value argv[3], out;
	struct ring *r;
	uint32_t which, max, cons, prod, avail, n;
	volatile char *buf;
	volatile uint32_t *pcons, *pprod;

	if (args(env, info, 3, argv) || !(r = ring_arg(env, argv[0])) || u32_arg(env, argv[1], &which) || u32_arg(env, argv[2], &max))
		return NULL;
	if (!r->page)
		return null_value(env);
	queue_of(r->page, which, &buf, &pcons, &pprod);
	/* Read the indexes once, and before anything else, then check them. */
	cons = *pcons;
	prod = *pprod;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail = prod - cons;
	if (avail > RING_SIZE)
		return null_value(env);
	n = avail < max ? avail : max;
	/* The data is read before the space is handed back. */
	if (!(out = copy_out(env, buf, cons, n)))
		return null_value(env);
	*pcons = cons + n;
	return out;
}

/*
 * ringPeek(ring, which, from, max) -> Buffer, or null if the indexes are
 * inconsistent or `from` is not between the consumer and the producer
 * index: copy up to `max` bytes of queue `which` from the free-running
 * index `from` on, without publishing anything (the consumer index stays:
 * the bytes stay the reader's until it sets it, e.g. once a request is
 * answered, so that a successor can read them again).
 */
static napi_value ring_peek(napi_env env, napi_callback_info info)
{
	napi_value argv[4], out;
	struct ring *r;
	uint32_t which, from, max, cons, prod, avail, n;
	volatile char *buf;
	volatile uint32_t *pcons, *pprod;

	if (args(env, info, 4, argv) || !(r = ring_arg(env, argv[0])) || u32_arg(env, argv[1], &which) || u32_arg(env, argv[2], &from) ||
	    u32_arg(env, argv[3], &max))
		return NULL;
	if (!r->page)
		return null_value(env);
	queue_of(r->page, which, &buf, &pcons, &pprod);
	cons = *pcons;
	prod = *pprod;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (prod - cons > RING_SIZE || from - cons > prod - cons)
		return null_value(env);
	avail = prod - from;
	n = avail < max ? avail : max;
	out = copy_out(env, buf, from, n);
	return out ? out : null_value(env);
}

/*
 * ringProduce(ring, which, data) -> bytes written, or -1 if the indexes are
 * inconsistent: put as much of `data` as fits into queue `which` (0:
 * requests, the guest's side; 1: responses, the server's side) and publish
 * the new producer index.
 */
static napi_value ring_produce(napi_env env, napi_callback_info info)
{
	napi_value argv[3];
	struct ring *r;
	uint32_t which, cons, prod, used, space, n, at, first;
	volatile char *buf;
	volatile uint32_t *pcons, *pprod;
	void *src;
	size_t len;

	if (args(env, info, 3, argv) || !(r = ring_arg(env, argv[0])) || u32_arg(env, argv[1], &which))
		return NULL;
	if (napi_get_buffer_info(env, argv[2], &src, &len) != napi_ok) {
		napi_throw_type_error(env, NULL, "expected a buffer");
		return NULL;
	}
	if (!r->page)
		return num(env, -1);
	queue_of(r->page, which, &buf, &pcons, &pprod);
	cons = *pcons;
	prod = *pprod;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	used = prod - cons;
	if (used > RING_SIZE)
		return num(env, -1);
	space = RING_SIZE - used;
	n = len < space ? (uint32_t)len : space;
	at = prod & (RING_SIZE - 1);
	first = RING_SIZE - at < n ? RING_SIZE - at : n;
	memcpy((char *)buf + at, src, first);
	memcpy((char *)buf, (const char *)src + first, n - first);
	/* The data is in place before the peer is told it is there. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*pprod = prod + n;
	return num(env, n);
}

/* ringState(ring, which) -> bytes waiting in queue `which`, or -1 if its indexes are inconsistent */
static napi_value ring_state(napi_env env, napi_callback_info info)
{
	napi_value argv[2];
	struct ring *r;
	uint32_t which, cons, prod;
	volatile char *buf;
	volatile uint32_t *pcons, *pprod;

	if (args(env, info, 2, argv) || !(r = ring_arg(env, argv[0])) || u32_arg(env, argv[1], &which))
		return NULL;
	if (!r->page)
		return num(env, -1);
	queue_of(r->page, which, &buf, &pcons, &pprod);
	cons = *pcons;
	prod = *pprod;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return num(env, prod - cons > RING_SIZE ? -1 : (double)(prod - cons));
}

/* ---- domain state ---- */

/*
 * domainInfo(domid) -> -1 (no such domain), or flags: 1 exists, 2 shut down
 * (or crashed), 4 dying; -2 when no domain information is available.
 */
static napi_value domain_info(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	uint32_t domid;

	if (args(env, info, 1, argv) || u32_arg(env, argv[0], &domid))
		return NULL;
	if (H.manage) {
		unsigned state = 0, caps = 0;
		uint64_t uid = 0;
		if (X.manage_info(H.manage, domid, &state, &caps, &uid) < 0)
			return num(env, errno == ENOENT || errno == ESRCH ? -1 : -2);
		/* libxenmanage: 1 exist, 2 shutdown, 4 dying, 8 dead. */
		if (!(state & 1) || (state & 8))
			return num(env, -1);
		return num(env, 1 | (state & 2 ? 2 : 0) | (state & 4 ? 4 : 0));
	}
	if (H.xc) {
		/* xen_domctl_getdomaininfo: u16 domain, u16 pad, u32 flags (dying 1<<0, shutdown 1<<2). */
		uint64_t buf[128];
		uint16_t dom;
		uint32_t flags;
		memset(buf, 0, sizeof(buf));
		int n = X.xc_getinfolist(H.xc, domid, 1, buf);
		if (n < 0)
			return num(env, -2);
		memcpy(&dom, buf, sizeof(dom));
		memcpy(&flags, (char *)buf + 4, sizeof(flags));
		if (n == 0 || dom != domid)
			return num(env, -1);
		return num(env, 1 | (flags & (1u << 2) ? 2 : 0) | (flags & 1u ? 4 : 0));
	}
	return num(env, -2);
}

/* features() -> bit set of what `load` found: 1 grant maps, 2 foreign maps, 4 domain state. */
static napi_value features(napi_env env, napi_callback_info info)
{
	(void)info;
	return num(env, (H.gnttab ? 1 : 0) | (H.fmem ? 2 : 0) | (H.manage || H.xc ? 4 : 0));
}

static napi_value init(napi_env env, napi_value exports)
{
	static const struct {
		const char *name;
		napi_callback fn;
	} fns[] = {
		{ "load", load },
		{ "features", features },
		{ "evtchnOpen", evtchn_open },
		{ "bindInterdomain", bind_interdomain },
		{ "bindUnbound", bind_unbound },
		{ "bindVirq", bind_virq },
		{ "unbind", unbind },
		{ "notify", notify },
		{ "watchEvents", watch_events },
		{ "closeEvents", close_events },
		{ "emuDomain", emu_domain },
		{ "mapGrant", map_grant },
		{ "mapForeign", map_foreign },
		{ "mapFile", map_file },
		{ "ringOfBuffer", ring_of_buffer },
		{ "unmap", unmap },
		{ "ringGet", ring_get },
		{ "ringSet", ring_set },
		{ "ringConsume", ring_consume },
		{ "ringPeek", ring_peek },
		{ "ringProduce", ring_produce },
		{ "ringState", ring_state },
		{ "domainInfo", domain_info },
	};
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		napi_value fn;
		napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn);
		napi_set_named_property(env, exports, fns[i].name, fn);
	}
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
