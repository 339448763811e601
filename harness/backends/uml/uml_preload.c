/* LD_PRELOAD for linux.uml, built and used by lgbench (harness.backends.uml). Two fixes:
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
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
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
