/* LD_PRELOAD for linux.uml, built and used by lgbench (harness.backends.uml). Three fixes:
 *
 * 1. setsid() fails (as it does for a process group leader). UML makes itself a session leader
 *    at start, which takes it and all its helper processes out of the process group of the
 *    program that started it: killing that group (lgbench's worker) left them running.
 *
 * 2. Hosts whose XSAVE area is larger than UML expects. UML up to 6.12 restores a guest
 *    process's FPU state with PTRACE_SETREGSET(NT_X86_XSTATE) and a buffer of its compile-time
 *    size (2696 bytes: x87, SSE, AVX, AVX-512). The host kernel wants the whole XSAVE area
 *    (about 11 KiB with AMX) and answers EFAULT, so the first guest process dies ("userspace -
 *    ptrace set fp regs failed, errno = 14", "Attempted to kill init"). Fixed upstream by
 *    "um: switch to regset API and depend on XSTATE". Here a short SETREGSET is completed: the
 *    tracee's current full area is read, UML's part laid over it and the whole area written
 *    back, so every component UML knows is restored exactly and the others (AMX tiles, unused
 *    by the guest) keep their values. Every other request goes to libc's ptrace unchanged.
 *
 * 3. The serial line's read interrupt, lost for good once the guest tty throttles (the daemon
 *    channel stalled on uploads). In UML 6.1 the interrupt of a host fd is its entry in UML's
 *    epoll set, added by activate_fd() (arch/um/kernel/irq.c) as
 *        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, {EPOLLIN|EPOLLPRI|EPOLLET, .data.ptr = irq_entry})
 *    When n_tty throttles, line_throttle() -> deactivate_chan() -> deactivate_fd() does
 *        epoll_ctl(epfd, EPOLL_CTL_DEL, fd)   (twice: directly, then in update_irq_entry())
 *    clears the entry's read registration and, the fd having no other, kfree()s the entry.
 *    line_unthrottle() then runs chan_interrupt(), which read()s the fd a byte at a time until
 *    EAGAIN (or until the tty flip buffers are full: then a timer runs it again later), but
 *    nothing ever adds the fd again, so input arriving after that is never noticed.
 *    For the fds named in LGBENCH_UML_REARM_FDS (the channel's input pipe) this library
 *    finishes what UML leaves undone. The entry UML adds is copied into memory of this library
 *    (the shadow: same address space, so UML's SIGIO handler reads it like its own; its IRQ is
 *    the line's, whose handler stays registered for the life of the line, fd channels never
 *    being closed by UML) and the shadow goes into the epoll set instead, so UML's kfree()
 *    concerns nothing epoll points to. A DEL is done as asked: while the tty is throttled,
 *    only line_unthrottle() and its timer read the fd, exactly as UML intends, never an
 *    interrupt racing them. When such a read finds the fd empty (EAGAIN: the tty took all
 *    there was and chan_interrupt is about to return), the shadow goes back into the epoll set
 *    and, if input came in meanwhile (its SIGIO found nothing to serve), a SIGIO is raised so
 *    UML serves it. Nothing is read, dropped or reordered here: only the interrupt is restored.
 *    Only EPOLLIN registrations are shadowed (the two-pipe channel: the input fd has no write
 *    interrupt); anything else on such an fd passes through and ends the shadowing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

pid_t setsid(void)
{
	errno = EPERM;
	return -1;
}

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

static unsigned char area[1 << 16] __attribute__((aligned(64)));

long ptrace(enum __ptrace_request request, ...)
{
	static ptrace_fn real;
	va_list ap;
	pid_t pid;
	void *addr, *data;

	va_start(ap, request);
	pid = va_arg(ap, pid_t);
	addr = va_arg(ap, void *);
	data = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	if (request == PTRACE_SETREGSET && (long)addr == NT_X86_XSTATE && data) {
		struct iovec *mine = data;
		struct iovec full = { area, sizeof(area) };

		if (real(PTRACE_GETREGSET, pid, addr, &full) == 0 &&
		    full.iov_len > mine->iov_len) {
			memcpy(area, mine->iov_base, mine->iov_len);
			return real(PTRACE_SETREGSET, pid, addr, &full);
		}
	}
	return real(request, pid, addr, data);
}

/* -- 3. the channel's read interrupt ---------------------------------------------------------- */

#define REARM_MAX 4
/* struct irq_entry of UML 6.1 is 72 bytes (168 with CONFIG_UML_TIME_TRAVEL_SUPPORT). */
#define SHADOW_BYTES 512
#define SHADOW_MIN 72

enum rearm_state { REARM_OFF, REARM_ARMED, REARM_THROTTLED };

struct rearm {
	int fd;
	int epfd;			/* UML's epoll set */
	enum rearm_state state;
	struct epoll_event event;	/* as UML added it, data.ptr = the shadow */
	unsigned long throttles;
	unsigned char shadow[SHADOW_BYTES] __attribute__((aligned(64)));
};

static struct rearm rearms[REARM_MAX];
static int n_rearms;

static void say(const char *text)
{
	ssize_t ignored = write(2, text, strlen(text));
	(void)ignored;
}

__attribute__((constructor)) static void rearm_init(void)
{
	const char *list = getenv("LGBENCH_UML_REARM_FDS");
	char *end;

	while (list && *list && n_rearms < REARM_MAX) {
		long fd = strtol(list, &end, 10);

		if (end == list || fd < 0)
			break;
		rearms[n_rearms].fd = (int)fd;
		rearms[n_rearms].state = REARM_OFF;
		n_rearms++;
		list = *end == ',' ? end + 1 : end;
	}
}

static struct rearm *rearm_of(int fd)
{
	for (int i = 0; i < n_rearms; i++)
		if (rearms[i].fd == fd)
			return &rearms[i];
	return NULL;
}

static int real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, event);
}

/* What poll() says of fd now (0 when it cannot tell). */
static short fd_events(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (syscall(SYS_poll, &p, 1, 0) < 0)
		return 0;
	return p.revents;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	struct rearm *r = n_rearms ? rearm_of(fd) : NULL;
	int ret;

	if (!r)
		return real_epoll_ctl(epfd, op, fd, event);
	if ((op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD) && event && (event->events & EPOLLIN)
	    && event->data.ptr) {
		/* UML's entry is complete (activate_fd fills it before adding it); a short copy
		 * could only mean it lies at the very end of mapped memory: then leave it be. */
		struct iovec mine = { r->shadow, SHADOW_BYTES };
		struct iovec uml = { event->data.ptr, SHADOW_BYTES };

		if (syscall(SYS_process_vm_readv, getpid(), &mine, 1, &uml, 1, 0) >= SHADOW_MIN) {
			r->event = *event;
			r->event.data.ptr = r->shadow;
			r->epfd = epfd;
			ret = real_epoll_ctl(epfd, op, fd, &r->event);
			r->state = ret == 0 ? REARM_ARMED : REARM_OFF;
			return ret;
		}
		r->state = REARM_OFF;
		return real_epoll_ctl(epfd, op, fd, event);
	}
	ret = real_epoll_ctl(epfd, op, fd, event);
	if (op == EPOLL_CTL_DEL && r->state == REARM_ARMED && epfd == r->epfd && ret == 0
	    && !(fd_events(fd) & (POLLHUP | POLLERR | POLLNVAL))) {
		/* The guest tty throttled the line (or UML frees the interrupt: then the fd
		 * is never read again and stays out of the set). */
		r->state = REARM_THROTTLED;
		if (r->throttles++ == 0)
			say("lgbench uml preload: the guest tty throttled the daemon channel; its "
			    "read interrupt comes back once the tty has taken what is pending\n");
	} else if (op != EPOLL_CTL_DEL || r->state != REARM_THROTTLED) {
		r->state = REARM_OFF;
	}
	return ret;
}

static void rearm_after_read(struct rearm *r)
{
	int saved = errno;

	if (real_epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->fd, &r->event) != 0) {
		r->state = REARM_OFF;
		errno = saved;
		return;
	}
	r->state = REARM_ARMED;
	/* Input written between the EAGAIN and the ADD raised its SIGIO before the fd was in
	 * the set: it waits in epoll's ready list, so raise the signal again for it. */
	if (fd_events(r->fd) & POLLIN)
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGIO);
	errno = saved;
}

ssize_t read(int fd, void *buf, size_t count)
{
	ssize_t n = syscall(SYS_read, fd, buf, count);
	struct rearm *r;

	if (!n_rearms || !(r = rearm_of(fd)) || r->state != REARM_THROTTLED)
		return n;
	if (n < 0 && errno == EAGAIN)
		rearm_after_read(r);
	else if (n == 0)
		r->state = REARM_OFF;
	return n;
}
