/*
 * Idle polling of the main event loop. Before libuv blocks in epoll_wait,
 * spin for a short window, asking whether its epoll instance has become
 * ready, so that a client's next request during a burst is taken by a CPU
 * that is still running (no wake-up interrupt to send, caches warm)
 * instead of one that has gone idle. Linux does this itself below an
 * idle CPU (cpuidle haltpoll, KVM halt polling) where it is enabled; a
 * virtual machine without it pays a slow wake-up for every request.
 *
 * Bounded: the loop spins only after a block shorter than the window (the
 * client answered within it, a burst is on), stops spinning after a
 * window that brought nothing, and never when its thread may run on one
 * CPU only (a client sharing that CPU would wait for the spin to end).
 * Each spin pauses between checks and yields the CPU every 4th, so that a
 * task waiting for this CPU gets it within a few microseconds.
 *
 * Node-API plus libuv's prepare and check handles on the main thread's
 * loop. Node.js has no way to run code between the loop's last callback
 * and its wait, nor to poll its epoll descriptor.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

/* The CPU's spin-wait hint. */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() do { } while (0)
#endif

static struct {
	uv_loop_t *loop;		/* the loop the handles are on (NULL: not started) */
	uv_prepare_t prepare;
	uv_check_t check;
	uint64_t window_ns;		/* 0: off */
	uint64_t blocked_at;		/* when the loop went to wait without a spin's success (0: it did not) */
	int burst;			/* the last wait was shorter than the window */
	uint64_t one_cpu_at;		/* when the affinity was last found to be one CPU (0: it was not) */
	double spins, hits, spun_ns;	/* statistics */
} ip;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/*
 * Whether the thread may run on another CPU. Read before each spin
 * (taskset can change it at any time; a spin on the CPU a client shares
 * would hold the client up). Once it said one CPU, that is trusted for
 * 100 ms: a daemon kept on one CPU would otherwise make this system call
 * for every request, to learn that it must not spin.
 */
static int several_cpus(uint64_t now)
{
	cpu_set_t set;

	if (ip.one_cpu_at && now - ip.one_cpu_at < 100000000u)
		return 0;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 1) {
		ip.one_cpu_at = 0;
		return 1;
	}
	ip.one_cpu_at = now;
	return 0;
}

/* Runs each loop iteration just before libuv waits for I/O. */
static void on_prepare(uv_prepare_t *h)
{
	uint64_t start, now, end;
	struct pollfd p;

	if (ip.window_ns == 0)
		return;
	start = now = now_ns();
	if (!ip.burst || uv_backend_timeout(h->loop) == 0 || !several_cpus(start)) {
		ip.blocked_at = start;
		return;
	}
	p.fd = uv_backend_fd(h->loop);
	p.events = POLLIN;
	p.revents = 0;
	end = start + ip.window_ns;
	ip.spins++;
	for (unsigned n = 1;; n++) {
		if (poll(&p, 1, 0) > 0) {
			ip.hits++;
			ip.spun_ns += (double)(now_ns() - start);
			ip.blocked_at = 0;
			return;
		}
		now = now_ns();
		if (now >= end)
			break;
		/* A pause between checks; now and then the CPU itself, to a task waiting for it. */
		if (n % 4 == 0)
			sched_yield();
		else
			for (int i = 0; i < 20; i++)
				cpu_relax();
	}
	ip.spun_ns += (double)(now - start);
	ip.burst = 0;
	ip.blocked_at = now;
}

/* Runs each loop iteration just after the wait: was it short enough to call this a burst? */
static void on_check(uv_check_t *h)
{
	(void)h;
	if (ip.blocked_at) {
		ip.burst = now_ns() - ip.blocked_at < ip.window_ns;
		ip.blocked_at = 0;
	}
}

/*
 * idlePoll(windowMicroseconds) -> 0, or an errno value: EINVAL for a bad
 * window (0 to 10000), EBUSY when called on another thread's loop than
 * the first call's. 0 turns polling off. The handles do not keep the loop
 * alive.
 */
static napi_value idle_poll(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out;
	double us;
	uv_loop_t *loop;
	int rc = 0;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_get_value_double(env, argv[0], &us) != napi_ok || !(us >= 0 && us <= 10000) ||
	    napi_get_uv_event_loop(env, &loop) != napi_ok) {
		rc = EINVAL;
	} else if (ip.loop && ip.loop != loop) {
		rc = EBUSY;
	} else {
		if (!ip.loop) {
			ip.loop = loop;
			uv_prepare_init(loop, &ip.prepare);
			uv_prepare_start(&ip.prepare, on_prepare);
			uv_unref((uv_handle_t *)&ip.prepare);
			uv_check_init(loop, &ip.check);
			uv_check_start(&ip.check, on_check);
			uv_unref((uv_handle_t *)&ip.check);
		}
		ip.window_ns = (uint64_t)(us * 1000);
		ip.burst = 0;
		ip.blocked_at = 0;
	}
	napi_create_int32(env, rc, &out);
	return out;
}

/* idlePollStats() -> { spins, hits, spunSeconds }: spins begun, those a ready descriptor ended, time spent spinning. */
static napi_value idle_poll_stats(napi_env env, napi_callback_info info)
{
	napi_value o, v;

	(void)info;
	napi_create_object(env, &o);
	napi_create_double(env, ip.spins, &v);
	napi_set_named_property(env, o, "spins", v);
	napi_create_double(env, ip.hits, &v);
	napi_set_named_property(env, o, "hits", v);
	napi_create_double(env, ip.spun_ns / 1e9, &v);
	napi_set_named_property(env, o, "spunSeconds", v);
	return o;
}

static napi_value init(napi_env env, napi_value exports)
{
	const napi_property_descriptor fns[] = {
		{ "idlePoll", NULL, idle_poll, NULL, NULL, NULL, napi_default, NULL },
		{ "idlePollStats", NULL, idle_poll_stats, NULL, NULL, NULL, napi_default, NULL },
	};

	napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
