/* The -ENOSYS stub tsrun-seccomp prepends to libseccomp's program (seccomp-enosys.c). */
#ifndef TSRUN_SECCOMP_ENOSYS_H
#define TSRUN_SECCOMP_ENOSYS_H
#include <linux/filter.h>
#include <stdint.h>

/* Room for the stub: a few instructions per architecture. */
#define ENOSYS_STUB_MAX 256

/* Writes to OUT (ENOSYS_STUB_MAX long) the stub for a profile whose default
 * action is DEFAULT_ACTION, architectures ARCHS (libseccomp tokens) and
 * RULES (seccomp.ts's "INDEX ACTION NAMES..." lines); returns its length, 0
 * when none is due, or -errno. */
int enosys_stub(uint32_t default_action, const uint32_t *archs, int narchs, char *const *rules, int nrules,
                struct sock_filter *out);
#endif
