/*
 * The system calls Node.js cannot make on its own, for init-system
 * integration: sending one Unix datagram (sd_notify, including abstract
 * "@name" sockets), asking what kind of socket an inherited file
 * descriptor is (systemd socket activation), and taking an exclusive
 * lock on the pid file (two daemons starting at once); and mapping a range
 * of a file shared, so that the journal's appends are copies into the page
 * cache instead of a write(2) each, and letting the written pages go from
 * the resident set. Node-API, so it needs no rebuild
 * across Node versions.
 */
#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static napi_value make_int(napi_env env, int v)
{
	napi_value out;
	napi_create_int32(env, v, &out);
	return out;
}

/* notify(socketPath, message) -> 0 or an errno value */
static napi_value notify(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2];
	struct sockaddr_un sa;
	char path[sizeof(sa.sun_path) + 2];
	char msg[4096];
	size_t plen = 0, mlen = 0;
	socklen_t salen;
	ssize_t sent;
	int fd, err;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2)
		return make_int(env, EINVAL);
	if (napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &plen) != napi_ok ||
	    napi_get_value_string_utf8(env, argv[1], msg, sizeof(msg), &mlen) != napi_ok)
		return make_int(env, EINVAL);
	if (plen == 0 || plen > sizeof(sa.sun_path) - 1 || mlen >= sizeof(msg) - 1)
		return make_int(env, EINVAL);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@') {
		/* Abstract namespace: leading NUL, length without a terminator. */
		sa.sun_path[0] = '\0';
		salen = offsetof(struct sockaddr_un, sun_path) + plen;
	} else {
		salen = offsetof(struct sockaddr_un, sun_path) + plen + 1;
	}

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return make_int(env, errno);
	sent = sendto(fd, msg, mlen, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	err = sent < 0 ? errno : 0;
	close(fd);
	return make_int(env, err);
}

/* socketInfo(fd) -> { family, type, listening } or null if fd is no socket */
static napi_value socket_info(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out, v;
	int fd, domain = 0, type = 0, acc = 0;
	socklen_t len;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_get_value_int32(env, argv[0], &fd) != napi_ok)
		return NULL;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) {
		napi_get_null(env, &out);
		return out;
	}
	len = sizeof(type);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	len = sizeof(acc);
	getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);

	napi_create_object(env, &out);
	napi_create_string_utf8(env, domain == AF_UNIX ? "unix" : domain == AF_INET ? "inet" : domain == AF_INET6 ? "inet6" : "other", NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, out, "family", v);
	napi_create_string_utf8(env, type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : type == SOCK_SEQPACKET ? "seqpacket" : "other", NAPI_AUTO_LENGTH, &v);
	napi_set_named_property(env, out, "type", v);
	napi_get_boolean(env, acc != 0, &v);
	napi_set_named_property(env, out, "listening", v);
	return out;
}

/* lockExclusive(fd) -> 0, or an errno value (EWOULDBLOCK: someone holds it) */
static napi_value lock_exclusive(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1];
	int fd;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_get_value_int32(env, argv[0], &fd) != napi_ok)
		return make_int(env, EINVAL);
	return make_int(env, flock(fd, LOCK_EX | LOCK_NB) < 0 ? errno : 0);
}

static void unmap_range(napi_env env, void *data, void *hint)
{
	(void)env;
	munmap(data, (size_t)(uintptr_t)hint);
}

/*
 * mapShared(fd, offset, length) -> ArrayBuffer, or an errno value (number).
 * mmap(MAP_SHARED, PROT_READ | PROT_WRITE) of bytes [offset, offset + length)
 * of the open file fd: stores into it are the file's page cache, so they
 * outlive the process as a write(2) would (and an fsync/fdatasync of fd
 * flushes them). offset must be a multiple of the page size and the range
 * must lie inside the file (touching past its end raises SIGBUS). The
 * mapping is undone when the ArrayBuffer is garbage collected.
 */
static napi_value map_shared(napi_env env, napi_callback_info info)
{
	size_t argc = 3;
	napi_value argv[3], out;
	int fd;
	int64_t offset, length;
	void *addr;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
	    napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
	    napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
	    napi_get_value_int64(env, argv[2], &length) != napi_ok)
		return make_int(env, EINVAL);
	if (offset < 0 || length <= 0 || offset % sysconf(_SC_PAGESIZE) != 0)
		return make_int(env, EINVAL);
	addr = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
	if (addr == MAP_FAILED)
		return make_int(env, errno);
	if (napi_create_external_arraybuffer(env, addr, (size_t)length, unmap_range, (void *)(uintptr_t)length, &out) != napi_ok) {
		munmap(addr, (size_t)length);
		return make_int(env, ENOMEM);
	}
	return out;
}

/*
 * releasePages(buffer, offset, length) -> 0 or an errno value.
 * madvise(MADV_DONTNEED) of [offset, offset + length) of a buffer made by
 * mapShared (offset page-aligned, inside the buffer): the pages leave the
 * process's resident set; being a shared file mapping, their contents stay
 * in the file's page cache (a later access would fault them back in).
 */
static napi_value release_pages(napi_env env, napi_callback_info info)
{
	size_t argc = 3, size;
	napi_value argv[3];
	void *data;
	int64_t offset, length;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
	    napi_get_buffer_info(env, argv[0], &data, &size) != napi_ok ||
	    napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
	    napi_get_value_int64(env, argv[2], &length) != napi_ok)
		return make_int(env, EINVAL);
	if (offset < 0 || length <= 0 || (uint64_t)offset + (uint64_t)length > size ||
	    ((uintptr_t)data + (uintptr_t)offset) % (uintptr_t)sysconf(_SC_PAGESIZE) != 0)
		return make_int(env, EINVAL);
	return make_int(env, madvise((char *)data + offset, (size_t)length, MADV_DONTNEED) < 0 ? errno : 0);
}

static napi_value init(napi_env env, napi_value exports)
{
	napi_value fn;

	napi_create_function(env, "notify", NAPI_AUTO_LENGTH, notify, NULL, &fn);
	napi_set_named_property(env, exports, "notify", fn);
	napi_create_function(env, "socketInfo", NAPI_AUTO_LENGTH, socket_info, NULL, &fn);
	napi_set_named_property(env, exports, "socketInfo", fn);
	napi_create_function(env, "lockExclusive", NAPI_AUTO_LENGTH, lock_exclusive, NULL, &fn);
	napi_set_named_property(env, exports, "lockExclusive", fn);
	napi_create_function(env, "mapShared", NAPI_AUTO_LENGTH, map_shared, NULL, &fn);
	napi_set_named_property(env, exports, "mapShared", fn);
	napi_create_function(env, "releasePages", NAPI_AUTO_LENGTH, release_pages, NULL, &fn);
	napi_set_named_property(env, exports, "releasePages", fn);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
