/* Argon2id's memory, kept by each handler thread between hashes.
 *
 * libsodium maps the memory of every hash (64 MiB at the default cost) with
 * mmap and unmaps it at the end. perf of a login storm: 30 % of authsvc's
 * time went to the kernel populating and zeroing those fresh pages, not to
 * hashing. So authsvc defines mmap and munmap itself (the executable exports
 * them: see the Makefile), and while a thread is inside pw_hash/pw_verify
 * (pwmem_arm) the one big anonymous mapping libsodium asks for is handed
 * out again on the next hash of that thread instead of being unmapped.
 * libsodium wipes the memory before it unmaps it, so nothing of one hash is
 * seen by the next. Everything else, and every call outside an armed
 * thread, goes straight to the kernel. A verify: 72 ms -> 45 ms.
 *
 * Off under AddressSanitizer, which intercepts mmap itself. */
#define _GNU_SOURCE
/* The symbol must be mmap, not the mmap64 this would turn it into (64-bit
 * off_t is the only one there is on the 64-bit targets we build for). */
#undef _FILE_OFFSET_BITS
#include "pwmem.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
void pwmem_arm(int on)
{
	(void)on;
}
#else

#define BIG (1u << 20)

static __thread int armed;
static __thread void *kept;
static __thread size_t kept_len;
static __thread int kept_out; /* handed out, not yet given back */

void pwmem_arm(int on)
{
	armed = on;
}

static int wanted(void *addr, size_t len, int flags, int fd)
{
	return armed && !addr && fd == -1 && len >= BIG && (flags & MAP_ANONYMOUS) &&
	       (flags & MAP_PRIVATE) && !(flags & MAP_FIXED);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	int mine = wanted(addr, len, flags, fd);
	if (mine && kept && !kept_out && len == kept_len) {
		kept_out = 1;
		return kept;
	}
	void *p = (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	if (mine && p != MAP_FAILED && !kept) {
		kept = p;
		kept_len = len;
		kept_out = 1;
	}
	return p;
}

int munmap(void *addr, size_t len)
{
	if (addr == kept && len == kept_len && kept_out) {
		kept_out = 0;
		return 0;
	}
	return (int)syscall(SYS_munmap, addr, len);
}
#endif
