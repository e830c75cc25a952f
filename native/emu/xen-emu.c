/*
 * libtsxs_xen_emu: an emulated Xen host for xenstore servers and guests,
 * with no hypervisor. It provides the Xen userspace calls a xenstored
 * makes (libxenevtchn, libxengnttab, libxenforeignmemory, libxenctrl's
 * domain info and foreign map), over files in one directory, so that:
 *
 *   - tsxenstored loads it instead of the Xen libraries (--emulate DIR);
 *   - the upstream cxenstored and oxenstored run over it unchanged, with it
 *     as LD_PRELOAD (`tsxs-emu run DIR -- xenstored ...`), which also
 *     redirects their hard-wired paths (/proc/xen/xsd_kva, xsd_port,
 *     /var/run/xenstored) into DIR;
 *   - guests (tsxs-guest) create domains, own real shared ring pages and
 *     real event channels, and talk to whichever daemon serves DIR.
 *
 * The emulated host, all under $TSXS_EMU_DIR:
 *   domains/<domid>/state   "running", "shutdown" or "dying"; absent: no such domain
 *   domains/<domid>/page    the domain's xenstore ring page (4096 bytes, mapped shared)
 *   xsd_kva, xsd_port       dom0's own ring page and its event channel port
 *   ports/<domid>/<port>    an event channel end: "<socket>\n<unbound R | bound D P | virq V>\n"
 *   virq/<domid>.<port>     a VIRQ_DOM_EXC binding: "<socket>\n"
 *   pending/<socket>        a handle's pending bits, one per port (mapped shared)
 * An event channel handle is a Unix datagram socket (abstract name, so
 * the directory's path length does not matter) and a page of pending
 * bits. Signalling a port sets the peer port's bit in the peer handle's
 * page and sends a doorbell datagram to the peer's socket (carrying the
 * port); the handle's fd is that socket, so it polls
 * like /dev/xen/evtchn. As with Xen's pending bits, a signal is never
 * lost, however many wait: a doorbell that finds the peer's queue full is
 * not needed (a handle taking one port that sees more pending rings its
 * own doorbell). Ports are
 * claimed with O_EXCL, so any number of processes share one host safely.
 */
#define _GNU_SOURCE
/* open and open64 are both interposed: keep them two symbols (node-gyp builds with 64-bit offsets). */
#undef _FILE_OFFSET_BITS
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define PAGE 4096
#define VIRQ_DOM_EXC 3
#define MAX_PORT 4096

/* ---- the real libc calls (this library may interpose them under LD_PRELOAD) ---- */

#define REAL(ret, name, ...) \
	static ret (*real_##name)(__VA_ARGS__); \
	if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

static int sys_open(const char *p, int flags, mode_t mode)
{
	REAL(int, open, const char *, int, ...);
	return real_open(p, flags, mode);
}

static int sys_mkdir(const char *p, mode_t mode)
{
	REAL(int, mkdir, const char *, mode_t);
	return real_mkdir(p, mode);
}

static int sys_unlink(const char *p)
{
	REAL(int, unlink, const char *);
	return real_unlink(p);
}

static int sys_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	REAL(int, bind, int, const struct sockaddr *, socklen_t);
	return real_bind(fd, sa, len);
}

/* ---- the host directory ---- */

static char dir[PATH_MAX];

static const char *host(void)
{
	if (!dir[0]) {
		const char *d = getenv("TSXS_EMU_DIR");
		if (!d || d[0] != '/')
			return NULL;
		snprintf(dir, sizeof(dir), "%s", d);
	}
	return dir;
}

static int pathf(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	int len = snprintf(out, n, "%s/", host() ? host() : "");
	va_start(ap, fmt);
	len += vsnprintf(out + len, n - len, fmt, ap);
	va_end(ap);
	return (size_t)len < n ? 0 : -1;
}

static int read_file(const char *path, char *buf, size_t n)
{
	int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
	ssize_t got;
	if (fd < 0)
		return -1;
	got = read(fd, buf, n - 1);
	close(fd);
	if (got < 0)
		return -1;
	buf[got] = '\0';
	return (int)got;
}

/* Replace a file's contents atomically (write a temporary, rename it over). */
static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 32];
	int fd;
	size_t len = strlen(text);
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, getpid());
	fd = sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		sys_unlink(tmp);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

static void mkdirs(void)
{
	char p[PATH_MAX];
	static const char *const sub[] = { "", "domains", "ports", "ports/0", "virq", "domains/0", "pending" };
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		pathf(p, sizeof(p), "%s", sub[i]);
		sys_mkdir(p, 0755);
	}
}

/* A zeroed page file, created once. */
static int make_page(const char *path)
{
	int fd = sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	int rc = ftruncate(fd, PAGE);
	close(fd);
	return rc;
}

static int claim_port(unsigned domid, const char *text);

/*
 * Create the host if it is not there yet: its directories, dom0 (always
 * running), dom0's ring page and the kernel's end of its event channel.
 */
static void ensure_host(void)
{
	char p[PATH_MAX], buf[32];
	if (!host())
		return;
	mkdirs();
	pathf(p, sizeof(p), "domains/0/state");
	if (access(p, F_OK) != 0)
		write_file(p, "running\n");
	pathf(p, sizeof(p), "xsd_kva");
	make_page(p);
	pathf(p, sizeof(p), "xsd_port");
	if (read_file(p, buf, sizeof(buf)) <= 0) {
		/* The kernel's end: no process behind it until one serves dom0's ring. */
		int port = claim_port(0, "-\nunbound 0\n");
		if (port > 0) {
			/* As /proc/xen/xsd_port: the number alone (oxenstored parses the whole file). */
			snprintf(buf, sizeof(buf), "%d", port);
			write_file(p, buf);
		}
	}
}

__attribute__((constructor)) static void init(void)
{
	ensure_host();
}

/* ---- domains ---- */

static int domain_state(unsigned domid, char *out, size_t n)
{
	char p[PATH_MAX];
	if (pathf(p, sizeof(p), "domains/%u/state", domid) < 0 || read_file(p, out, n) < 0)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* The first domain with a domid >= `first`, or -1. */
static long next_domain(unsigned first)
{
	char p[PATH_MAX], st[32];
	long best = -1;
	DIR *d;
	struct dirent *e;

	if (domain_state(first, st, sizeof(st)) == 0)
		return first;
	pathf(p, sizeof(p), "domains");
	d = opendir(p);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char *end;
		long id = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name || id < (long)first)
			continue;
		if ((best < 0 || id < best) && domain_state((unsigned)id, st, sizeof(st)) == 0)
			best = id;
	}
	closedir(d);
	return best;
}

/* Tell every VIRQ_DOM_EXC binding that some domain changed state. */
static void raise_dom_exc(void);

/* tsxs_emu_domain_create(domid) -> 0 or -errno: a running domain with a fresh ring page. */
EXPORT int tsxs_emu_domain_create(unsigned domid)
{
	char p[PATH_MAX];
	if (!host())
		return -ENODEV;
	ensure_host();
	pathf(p, sizeof(p), "domains/%u", domid);
	if (sys_mkdir(p, 0755) < 0)
		return -errno;
	pathf(p, sizeof(p), "ports/%u", domid);
	sys_mkdir(p, 0755);
	pathf(p, sizeof(p), "domains/%u/page", domid);
	if (make_page(p) < 0)
		return -errno;
	pathf(p, sizeof(p), "domains/%u/state", domid);
	if (write_file(p, "running\n") < 0)
		return -errno;
	return 0;
}

/* tsxs_emu_domain_set_state(domid, "shutdown" | "running") -> 0 or -errno; raises VIRQ_DOM_EXC. */
EXPORT int tsxs_emu_domain_set_state(unsigned domid, const char *state)
{
	char p[PATH_MAX], text[64], st[32];
	if (!host())
		return -ENODEV;
	if (domain_state(domid, st, sizeof(st)) < 0)
		return -ENOENT;
	pathf(p, sizeof(p), "domains/%u/state", domid);
	snprintf(text, sizeof(text), "%s\n", state);
	if (write_file(p, text) < 0)
		return -errno;
	raise_dom_exc();
	return 0;
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[PATH_MAX];
	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
			sys_unlink(p);
		}
		closedir(d);
	}
	rmdir(path);
}

/*
 * tsxs_emu_domain_destroy(domid) -> 0 or -errno: the domain is gone (its
 * ring page stays valid for whoever still maps it); VIRQ_DOM_EXC is raised.
 */
EXPORT int tsxs_emu_domain_destroy(unsigned domid)
{
	char p[PATH_MAX];
	if (!host())
		return -ENODEV;
	if (domid == 0)
		return -EPERM;
	pathf(p, sizeof(p), "domains/%u", domid);
	if (access(p, F_OK) != 0)
		return -ENOENT;
	remove_tree(p);
	pathf(p, sizeof(p), "ports/%u", domid);
	remove_tree(p);
	raise_dom_exc();
	return 0;
}

/* tsxs_emu_dir() -> the host directory, or NULL. */
EXPORT const char *tsxs_emu_dir(void)
{
	return host();
}

/* ---- event channels ---- */

struct peer {
	int valid;
	char sock[108];
	uint32_t port;
	/* The peer handle's pending bits (NULL: it has none, e.g. it is gone). */
	uint32_t *bits;
};

struct evtchn {
	int fd;
	unsigned domid;
	char name[108]; /* abstract socket name, '@' for the leading NUL */
	uint32_t *bits; /* our pending bits: MAX_PORT of them */
	struct peer cache[MAX_PORT];
};

#define BITS_BYTES (MAX_PORT / 8)

/* The pending bits of the handle whose socket is `sock` (mapped shared), or NULL. */
static uint32_t *map_bits(const char *sock, int create)
{
	char p[PATH_MAX];
	void *addr;
	int fd;
	if (sock[0] != '@')
		return NULL;
	pathf(p, sizeof(p), "pending/%s", sock + 1);
	fd = sys_open(p, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0)
		return NULL;
	if (create && ftruncate(fd, BITS_BYTES) < 0) {
		close(fd);
		return NULL;
	}
	addr = mmap(NULL, BITS_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return addr == MAP_FAILED ? NULL : addr;
}

static void unmap_bits(uint32_t *bits)
{
	if (bits)
		munmap(bits, BITS_BYTES);
}

static int handles;

static socklen_t addr_of(const char *name, struct sockaddr_un *sa)
{
	size_t len = strlen(name);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (len > sizeof(sa->sun_path) - 1)
		len = sizeof(sa->sun_path) - 1;
	memcpy(sa->sun_path, name, len);
	if (name[0] == '@')
		sa->sun_path[0] = '\0';
	return offsetof(struct sockaddr_un, sun_path) + len;
}

/* tsxs_emu_evtchn_open_as(domid): an event channel handle acting in domain `domid`'s port space. */
EXPORT void *tsxs_emu_evtchn_open_as(unsigned domid)
{
	struct evtchn *h;
	struct sockaddr_un sa;
	struct stat st;
	socklen_t len;

	if (!host()) {
		errno = ENODEV;
		return NULL;
	}
	ensure_host();
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->domid = domid;
	stat(host(), &st);
	snprintf(h->name, sizeof(h->name), "@tsxs-emu-%lx-%lx-%d-%d", (unsigned long)st.st_dev, (unsigned long)st.st_ino, getpid(), handles++);
	h->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		free(h);
		return NULL;
	}
	len = addr_of(h->name, &sa);
	if (sys_bind(h->fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;
		close(h->fd);
		free(h);
		errno = e;
		return NULL;
	}
	h->bits = map_bits(h->name, 1);
	if (!h->bits) {
		int e = errno;
		close(h->fd);
		free(h);
		errno = e ? e : ENOMEM;
		return NULL;
	}
	return h;
}

EXPORT void *xenevtchn_open(void *logger, unsigned flags)
{
	const char *as = getenv("TSXS_EMU_DOMID");
	(void)logger;
	(void)flags;
	return tsxs_emu_evtchn_open_as(as ? (unsigned)strtoul(as, NULL, 10) : 0);
}

EXPORT void *xenevtchn_fdopen(void *logger, int fd, unsigned flags)
{
	(void)logger;
	(void)fd;
	(void)flags;
	errno = ENOSYS;
	return NULL;
}

EXPORT int xenevtchn_close(void *xce)
{
	struct evtchn *h = xce;
	char p[PATH_MAX];
	if (!h)
		return 0;
	for (int i = 0; i < MAX_PORT; i++)
		unmap_bits(h->cache[i].bits);
	unmap_bits(h->bits);
	pathf(p, sizeof(p), "pending/%s", h->name + 1);
	sys_unlink(p);
	close(h->fd);
	free(h);
	return 0;
}

EXPORT int xenevtchn_fd(void *xce)
{
	return ((struct evtchn *)xce)->fd;
}

/* Claim the lowest free port of `domid` for an end described by `text`; the port, or -1. */
static int claim_port(unsigned domid, const char *text)
{
	char p[PATH_MAX];
	pathf(p, sizeof(p), "ports/%u", domid);
	sys_mkdir(p, 0755);
	for (int port = 1; port < MAX_PORT; port++) {
		pathf(p, sizeof(p), "ports/%u/%d", domid, port);
		int fd = sys_open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return -1;
		}
		size_t len = strlen(text);
		ssize_t w = write(fd, text, len);
		close(fd);
		return w == (ssize_t)len ? port : -1;
	}
	errno = ENOSPC;
	return -1;
}

/* Read the end (domid, port): its socket and what it is bound to. */
static int read_end(unsigned domid, uint32_t port, char *sock, size_t n, char *what, size_t wn)
{
	char p[PATH_MAX], buf[512];
	char *nl;
	if (pathf(p, sizeof(p), "ports/%u/%u", domid, port) < 0 || read_file(p, buf, sizeof(buf)) < 0)
		return -1;
	nl = strchr(buf, '\n');
	if (!nl)
		return -1;
	*nl = '\0';
	snprintf(sock, n, "%s", buf);
	snprintf(what, wn, "%s", nl + 1);
	what[strcspn(what, "\n")] = '\0';
	return 0;
}

static int write_end(unsigned domid, uint32_t port, const char *sock, const char *what)
{
	char p[PATH_MAX], text[1200];
	pathf(p, sizeof(p), "ports/%u/%u", domid, port);
	snprintf(text, sizeof(text), "%s\n%s\n", sock, what);
	return write_file(p, text);
}

EXPORT int xenevtchn_bind_unbound_port(void *xce, uint32_t remote_domid)
{
	struct evtchn *h = xce;
	char text[256];
	snprintf(text, sizeof(text), "%s\nunbound %u\n", h->name, remote_domid);
	return claim_port(h->domid, text);
}

/* Is there still a handle behind the abstract socket `sock` ('-': none ever)? */
static int handle_alive(const char *sock)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd, alive;
	if (sock[0] != '@')
		return 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1; /* cannot tell: assume it is */
	len = addr_of(sock, &sa);
	alive = connect(fd, (struct sockaddr *)&sa, len) == 0;
	close(fd);
	return alive;
}

/*
 * A remote end bound to our domain's port `local` whose handle is gone (a
 * daemon that died without unbinding): as Xen closes a dead process's
 * ports, it is unbound again and the stale local end is dropped.
 */
static int reclaim_stale(unsigned domid, const char *what)
{
	char sock[512], lwhat[512], p[PATH_MAX];
	unsigned d, local;
	if (sscanf(what, "bound %u %u", &d, &local) != 2 || d != domid)
		return 0;
	if (read_end(d, local, sock, sizeof(sock), lwhat, sizeof(lwhat)) == 0 && handle_alive(sock))
		return 0;
	pathf(p, sizeof(p), "ports/%u/%u", d, local);
	sys_unlink(p);
	return 1;
}

EXPORT int xenevtchn_bind_interdomain(void *xce, uint32_t domid, uint32_t remote_port)
{
	struct evtchn *h = xce;
	char sock[512], what[512], text[256];
	unsigned remote;
	int local;

	if (read_end(domid, remote_port, sock, sizeof(sock), what, sizeof(what)) < 0 ||
	    ((sscanf(what, "unbound %u", &remote) != 1 || remote != h->domid) && !reclaim_stale(h->domid, what))) {
		errno = EINVAL;
		return -1;
	}
	snprintf(text, sizeof(text), "%s\nbound %u %u\n", h->name, domid, remote_port);
	local = claim_port(h->domid, text);
	if (local < 0)
		return -1;
	snprintf(text, sizeof(text), "bound %u %d", h->domid, local);
	if (write_end(domid, remote_port, sock, text) < 0) {
		char p[PATH_MAX];
		pathf(p, sizeof(p), "ports/%u/%d", h->domid, local);
		sys_unlink(p);
		errno = EIO;
		return -1;
	}
	return local;
}

EXPORT int xenevtchn_bind_virq(void *xce, unsigned int virq)
{
	struct evtchn *h = xce;
	char text[256], p[PATH_MAX];
	int port;

	snprintf(text, sizeof(text), "%s\nvirq %u\n", h->name, virq);
	port = claim_port(h->domid, text);
	if (port < 0)
		return -1;
	if (virq == VIRQ_DOM_EXC) {
		pathf(p, sizeof(p), "virq/%u.%d", h->domid, port);
		snprintf(text, sizeof(text), "%s\n", h->name);
		write_file(p, text);
	}
	return port;
}

EXPORT int xenevtchn_unbind(void *xce, uint32_t port)
{
	struct evtchn *h = xce;
	char sock[512], what[512], p[PATH_MAX], text[64];
	unsigned d, pp, v;

	if (read_end(h->domid, port, sock, sizeof(sock), what, sizeof(what)) < 0) {
		errno = EINVAL;
		return -1;
	}
	/* The peer's end becomes unbound, as in Xen. */
	if (sscanf(what, "bound %u %u", &d, &pp) == 2) {
		char psock[512], pwhat[512];
		if (read_end(d, pp, psock, sizeof(psock), pwhat, sizeof(pwhat)) == 0) {
			snprintf(text, sizeof(text), "unbound %u", h->domid);
			write_end(d, pp, psock, text);
		}
	} else if (sscanf(what, "virq %u", &v) == 1) {
		pathf(p, sizeof(p), "virq/%u.%u", h->domid, port);
		sys_unlink(p);
	}
	pathf(p, sizeof(p), "ports/%u/%u", h->domid, port);
	sys_unlink(p);
	if (port < MAX_PORT)
		h->cache[port].valid = 0;
	return 0;
}

/* Where signalling (our domain, port) goes: the peer handle's socket and the peer's port. */
static int resolve(struct evtchn *h, uint32_t port, struct peer *out)
{
	char sock[512], what[512];
	unsigned d, pp;
	if (read_end(h->domid, port, sock, sizeof(sock), what, sizeof(what)) < 0)
		return -1;
	if (sscanf(what, "bound %u %u", &d, &pp) != 2)
		return -1;
	if (read_end(d, pp, out->sock, sizeof(out->sock), what, sizeof(what)) < 0)
		return -1;
	out->port = pp;
	unmap_bits(out->bits);
	out->bits = map_bits(out->sock, 0);
	out->valid = 1;
	return 0;
}

static int send_port(int fd, const char *sock, uint32_t port)
{
	struct sockaddr_un sa;
	socklen_t len;
	if (!strcmp(sock, "-"))
		return 0; /* nobody at that end (yet) */
	len = addr_of(sock, &sa);
	return sendto(fd, &port, sizeof(port), MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0 ? -1 : 0;
}

/*
 * Make `port` pending in a handle (its bits, its socket): set the bit,
 * and ring the doorbell. 0, or -1 with errno when the
 * doorbell could not go (EAGAIN: the peer has doorbells queued already,
 * so it will see the bit; anything else: the peer is gone).
 */
static int raise_port(int fd, const char *sock, uint32_t *bits, uint32_t port)
{
	if (bits && port < MAX_PORT)
		__atomic_fetch_or(&bits[port / 32], 1u << (port % 32), __ATOMIC_SEQ_CST);
	/*
	 * The doorbell goes even when the bit was set already: a bit left set
	 * by a handle that died (a crashed daemon) must not swallow the signal;
	 * a failed send tells the caller to look its peer up again.
	 */
	return send_port(fd, sock, port);
}

EXPORT int xenevtchn_notify(void *xce, uint32_t port)
{
	struct evtchn *h = xce;
	struct peer tmp = { 0 }, *pe = port < MAX_PORT ? &h->cache[port] : &tmp;
	int rc = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!pe->valid || attempt > 0) {
			pe->valid = 0;
			if (resolve(h, port, pe) < 0) {
				rc = -1;
				break;
			}
		}
		/* Sent, or the peer has doorbells queued (it will see the bit): done. */
		if (raise_port(h->fd, pe->sock, pe->bits, pe->port) == 0 || errno == EAGAIN)
			break;
		/* Otherwise the peer went away: look again, once; then as notifying an unbound port. */
	}
	if (pe == &tmp)
		unmap_bits(tmp.bits);
	if (rc < 0)
		errno = EINVAL;
	return rc;
}

/* Clear `port`'s pending bit; was it set? */
static int clear_pending(uint32_t *bits, uint32_t port)
{
	uint32_t bit = 1u << (port % 32);
	return port < MAX_PORT && (__atomic_fetch_and(&bits[port / 32], ~bit, __ATOMIC_SEQ_CST) & bit);
}

/* The lowest pending port, cleared; -1 if none. */
static int take_pending(uint32_t *bits)
{
	for (int w = 0; w < MAX_PORT / 32; w++) {
		uint32_t v;
		while ((v = __atomic_load_n(&bits[w], __ATOMIC_SEQ_CST)) != 0) {
			int port = w * 32 + __builtin_ctz(v);
			if (clear_pending(bits, port))
				return port;
		}
	}
	return -1;
}

/*
 * One pending port, as a read of /dev/xen/evtchn gives: the port of the
 * next doorbell if its bit is still set, else any pending port, else (a
 * doorbell whose port was already taken) that port again, a spurious
 * event, never an error while the fd was readable: cx exits on -1. -1
 * only when nothing is pending and no doorbell waits. When more ports are
 * pending, a doorbell is rung for them, so the fd stays readable until
 * every one is taken, even if their own doorbells found the queue full.
 */
EXPORT int xenevtchn_pending(void *xce)
{
	struct evtchn *h = xce;
	uint32_t doorbell;
	int rang = recv(h->fd, &doorbell, sizeof(doorbell), MSG_DONTWAIT) == sizeof(doorbell);
	int port = rang && clear_pending(h->bits, doorbell) ? (int)doorbell : take_pending(h->bits);
	if (port < 0 && rang)
		port = (int)doorbell;
	/* No doorbell left to bring us back: ring one for what is still pending. */
	if (recv(h->fd, &doorbell, sizeof(doorbell), MSG_DONTWAIT | MSG_PEEK) < 0) {
		for (int w = 0; w < MAX_PORT / 32; w++) {
			uint32_t v = __atomic_load_n(&h->bits[w], __ATOMIC_SEQ_CST);
			if (v) {
				(void)send_port(h->fd, h->name, w * 32 + __builtin_ctz(v));
				break;
			}
		}
	}
	return port;
}

EXPORT int xenevtchn_unmask(void *xce, uint32_t port)
{
	(void)xce;
	(void)port;
	return 0;
}

EXPORT int xenevtchn_restrict(void *xce, uint16_t domid)
{
	(void)xce;
	(void)domid;
	return 0;
}

static void raise_dom_exc(void)
{
	char p[PATH_MAX], sock[512];
	DIR *d;
	struct dirent *e;
	int fd;

	pathf(p, sizeof(p), "virq");
	d = opendir(p);
	if (!d)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	while ((e = readdir(d))) {
		unsigned domid, port;
		if (strstr(e->d_name, ".tmp") || sscanf(e->d_name, "%u.%u", &domid, &port) != 2)
			continue;
		pathf(p, sizeof(p), "virq/%s", e->d_name);
		if (read_file(p, sock, sizeof(sock)) <= 0)
			continue;
		sock[strcspn(sock, "\n")] = '\0';
		uint32_t *bits = map_bits(sock, 0);
		if (raise_port(fd, sock, bits, port) < 0 && errno != EAGAIN)
			sys_unlink(p); /* its daemon is gone */
		unmap_bits(bits);
	}
	if (fd >= 0)
		close(fd);
	closedir(d);
}

/* ---- ring pages ---- */

static void *map_page(unsigned domid)
{
	char p[PATH_MAX], st[32];
	void *addr;
	int fd;

	if (domain_state(domid, st, sizeof(st)) < 0) {
		errno = ESRCH;
		return NULL;
	}
	if (domid == 0)
		pathf(p, sizeof(p), "xsd_kva");
	else
		pathf(p, sizeof(p), "domains/%u/page", domid);
	fd = sys_open(p, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	addr = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return addr == MAP_FAILED ? NULL : addr;
}

static int handle_token;
#define HANDLE ((void *)&handle_token)

EXPORT void *xengnttab_open(void *logger, unsigned flags)
{
	(void)logger;
	(void)flags;
	return host() ? HANDLE : NULL;
}

EXPORT int xengnttab_close(void *xgt)
{
	(void)xgt;
	return 0;
}

EXPORT int xengnttab_set_max_grants(void *xgt, uint32_t n)
{
	(void)xgt;
	(void)n;
	return 0;
}

/* Grant reference 1 (GNTTAB_RESERVED_XENSTORE) is a domain's ring page; no other grant exists. */
EXPORT void *xengnttab_map_grant_ref(void *xgt, uint32_t domid, uint32_t ref, int prot)
{
	(void)xgt;
	(void)prot;
	if (ref != 1) {
		errno = EINVAL;
		return NULL;
	}
	return map_page(domid);
}

EXPORT int xengnttab_unmap(void *xgt, void *addr, uint32_t count)
{
	(void)xgt;
	return munmap(addr, (size_t)count * PAGE);
}

EXPORT void *xenforeignmemory_open(void *logger, unsigned flags)
{
	(void)logger;
	(void)flags;
	return host() ? HANDLE : NULL;
}

EXPORT int xenforeignmemory_close(void *fmem)
{
	(void)fmem;
	return 0;
}

/* Any frame of a domain maps its ring page: it is the only page a xenstored maps. */
EXPORT void *xenforeignmemory_map(void *fmem, uint32_t dom, int prot, size_t pages, const uint64_t arr[], int err[])
{
	(void)fmem;
	(void)prot;
	(void)arr;
	if (pages != 1) {
		errno = EINVAL;
		return NULL;
	}
	void *p = map_page(dom);
	if (err)
		err[0] = p ? 0 : -errno;
	return p;
}

EXPORT int xenforeignmemory_unmap(void *fmem, void *addr, size_t pages)
{
	(void)fmem;
	return munmap(addr, pages * PAGE);
}

/* ---- libxenctrl: domain info and the foreign map (the 4.17 ABI) ---- */

struct arch_domainconfig {
	uint32_t emulation_flags;
	uint32_t misc_flags;
};

/* xc_dominfo_t of Xen 4.17's xenctrl.h, field for field. */
struct dominfo {
	uint32_t domid;
	uint32_t ssidref;
	unsigned int dying : 1, crashed : 1, shutdown : 1, paused : 1, blocked : 1, running : 1, hvm : 1, debugged : 1, xenstore : 1, hap : 1;
	unsigned int shutdown_reason;
	unsigned long nr_pages, nr_outstanding_pages, nr_shared_pages, nr_paged_pages, shared_info_frame;
	uint64_t cpu_time;
	unsigned long max_memkb;
	unsigned int nr_online_vcpus, max_vcpu_id;
	uint8_t handle[16];
	unsigned int cpupool;
	uint8_t gpaddr_bits;
	struct arch_domainconfig arch_config;
};

/* struct xen_domctl_getdomaininfo of Xen 4.17's public domctl.h. */
struct domctl_info {
	uint16_t domain, pad1;
	uint32_t flags;
	uint64_t tot_pages, max_pages, outstanding_pages, shr_pages, paged_pages, shared_info_frame, cpu_time;
	uint32_t nr_online_vcpus, max_vcpu_id, ssidref;
	uint8_t handle[16];
	uint32_t cpupool;
	uint8_t gpaddr_bits, pad2[7];
	struct arch_domainconfig arch_config;
};

EXPORT void *xc_interface_open(void *logger, void *dombuild_logger, unsigned flags)
{
	(void)logger;
	(void)dombuild_logger;
	(void)flags;
	return host() ? HANDLE : NULL;
}

EXPORT int xc_interface_close(void *xch)
{
	(void)xch;
	return 0;
}

EXPORT const void *xc_get_last_error(void *xch)
{
	static struct {
		int code;
		char message[1024];
	} none;
	(void)xch;
	return &none;
}

EXPORT int xc_domain_getinfo(void *xch, uint32_t first, unsigned int max, struct dominfo *info)
{
	unsigned n = 0;
	long next = first;
	char st[32];
	(void)xch;
	while (n < max && (next = next_domain((unsigned)next)) >= 0) {
		memset(&info[n], 0, sizeof(info[n]));
		info[n].domid = (uint32_t)next;
		if (domain_state((unsigned)next, st, sizeof(st)) == 0) {
			info[n].shutdown = !strcmp(st, "shutdown") || !strcmp(st, "dying");
			info[n].dying = !strcmp(st, "dying");
			info[n].running = !info[n].shutdown;
		}
		n++;
		next++;
	}
	return (int)n;
}

EXPORT int xc_domain_getinfolist(void *xch, uint32_t first, unsigned int max, struct domctl_info *info)
{
	unsigned n = 0;
	long next = first;
	char st[32];
	(void)xch;
	while (n < max && (next = next_domain((unsigned)next)) >= 0) {
		memset(&info[n], 0, sizeof(info[n]));
		info[n].domain = (uint16_t)next;
		if (domain_state((unsigned)next, st, sizeof(st)) == 0) {
			if (!strcmp(st, "dying"))
				info[n].flags |= 1u | 4u;
			else if (!strcmp(st, "shutdown"))
				info[n].flags |= 4u;
			else
				info[n].flags |= 1u << 5; /* running */
		}
		n++;
		next++;
	}
	return (int)n;
}

EXPORT void *xc_map_foreign_range(void *xch, uint32_t dom, int size, int prot, unsigned long mfn)
{
	(void)xch;
	(void)prot;
	(void)mfn;
	if (size != PAGE) {
		errno = EINVAL;
		return NULL;
	}
	return map_page(dom);
}

/* ---- path redirection, for daemons run under LD_PRELOAD ---- */

/* Map a daemon's hard-wired path into the host directory, else return it as is. */
static const char *redirect(const char *p, char buf[PATH_MAX])
{
	static const char *const from[] = { "/proc/xen/xsd_port", "/proc/xen/xsd_kva", "/var/run/xenstored", "/run/xenstored" };
	static const char *const to[] = { "/xsd_port", "/xsd_kva", "", "" };
	if (!p || !host())
		return p;
	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
		size_t n = strlen(from[i]);
		if (!strncmp(p, from[i], n) && (p[n] == '\0' || p[n] == '/')) {
			snprintf(buf, PATH_MAX, "%s%s%s", host(), to[i], p + n);
			return buf;
		}
	}
	return p;
}

EXPORT int open(const char *p, int flags, ...)
{
	char buf[PATH_MAX];
	va_list ap;
	mode_t mode = 0;
	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return sys_open(redirect(p, buf), flags, mode);
}

EXPORT int open64(const char *p, int flags, ...)
{
	char buf[PATH_MAX];
	va_list ap;
	mode_t mode = 0;
	va_start(ap, flags);
	if (flags & (O_CREAT | O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return sys_open(redirect(p, buf), flags, mode);
}

EXPORT int unlink(const char *p)
{
	char buf[PATH_MAX];
	return sys_unlink(redirect(p, buf));
}

EXPORT int mkdir(const char *p, mode_t mode)
{
	char buf[PATH_MAX];
	return sys_mkdir(redirect(p, buf), mode);
}

EXPORT int chmod(const char *p, mode_t mode)
{
	char buf[PATH_MAX];
	REAL(int, chmod, const char *, mode_t);
	return real_chmod(redirect(p, buf), mode);
}

EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	char buf[PATH_MAX];
	struct sockaddr_un un;
	const char *p;

	if (sa->sa_family != AF_UNIX || ((const struct sockaddr_un *)sa)->sun_path[0] == '\0')
		return sys_bind(fd, sa, len);
	p = redirect(((const struct sockaddr_un *)sa)->sun_path, buf);
	if (p != buf)
		return sys_bind(fd, sa, len);
	if (strlen(p) >= sizeof(un.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	strcpy(un.sun_path, p);
	return sys_bind(fd, (struct sockaddr *)&un, sizeof(un));
}

/* oxenstored raises RLIMIT_NOFILE to fs.nr_open; unprivileged or contained runs refuse that. */
EXPORT int setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
	struct rlimit cur, clamped = *rl;
	REAL(int, setrlimit, __rlimit_resource_t, const struct rlimit *);
	if (real_setrlimit(res, rl) == 0 || errno != EPERM || getrlimit(res, &cur) != 0)
		return real_setrlimit(res, rl);
	if (clamped.rlim_max > cur.rlim_max)
		clamped.rlim_max = cur.rlim_max;
	if (clamped.rlim_cur > clamped.rlim_max)
		clamped.rlim_cur = clamped.rlim_max;
	return real_setrlimit(res, &clamped);
}
