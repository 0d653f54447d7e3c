/* The -ENOSYS stub that tsrun-seccomp puts before libseccomp's program, as
 * runc does (libcontainer/seccomp/patchbpf): per architecture, a syscall
 * number above the largest one the profile names gets ENOSYS instead of the
 * default action. A libc newer than the profile tries a new syscall first
 * (clone3, fchmodat2, ...) and falls back to the old one only on ENOSYS; an
 * EPERM default would make it fail instead.
 *
 * Like runc's:
 * - no stub when the default action lets calls through (ALLOW, LOG, TRACE:
 *   a tracer handles new syscalls itself) or is already ERRNO(ENOSYS);
 * - the architectures are the profile's plus the native one (a profile that
 *   leaves the native one out would otherwise get no check at all);
 * - "largest" counts every rule's names, those whose action is the default's
 *   too (seccomp.ts sends them as "-" rules), but only names libseccomp knows
 *   for that architecture (a pseudo-syscall number, negative, is no number);
 * - x32 shares AUDIT_ARCH_X86_64 with x86_64 and is told apart by
 *   __X32_SYSCALL_BIT in the number (libseccomp's x32 numbers carry it);
 * - s390(x) syscall 0 (setup, long gone) is the kernel's escape for numbers
 *   it does not know, so it gets ENOSYS too;
 * - the stub only ever returns ENOSYS or goes on to the filter: it allows
 *   nothing, and an architecture it has no check for goes to the filter.
 * Not runc's code: laid out forwards with labels, all jumps short (the stub
 * is far below 256 instructions: a few per architecture). */
#include "seccomp-enosys.h"
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>

#define X32_SYSCALL_BIT 0x40000000u

struct arch_max {
  uint32_t audit;
  uint32_t max;     /* 0: none found, no check */
  uint32_t max_x32; /* AUDIT_ARCH_X86_64 only: x32's, with X32_SYSCALL_BIT */
};

/* The largest number of the rules' syscalls for ARCH, 0 if none. */
static uint32_t largest(uint32_t arch, char *const *rules, int nrules) {
  uint32_t max = 0;
  for (int r = 0; r < nrules; r++) {
    /* "INDEX ACTION NAME,NAME... [COND]...": the third field. */
    const char *p = strchr(rules[r], ' ');
    p = p ? strchr(p + 1, ' ') : NULL;
    if (!p) continue;
    p++;
    size_t len = strcspn(p, " ");
    char names[len + 1];
    memcpy(names, p, len);
    names[len] = 0;
    char *save = NULL;
    for (char *n = strtok_r(names, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
      int nr = seccomp_syscall_resolve_name_arch(arch, n);
      if (nr > 0 && (uint32_t)nr > max) max = (uint32_t)nr;
    }
  }
  return max;
}

/* A tiny assembler: jumps name labels, resolved once the stub is laid out. */
enum { NEXT = -1, MAXLABELS = 128 };
struct asm_state {
  struct sock_filter *out;
  int n, max;
  int label_at[MAXLABELS], nlabels;
  int jt[ENOSYS_STUB_MAX], jf[ENOSYS_STUB_MAX], ja[ENOSYS_STUB_MAX];
};

static int new_label(struct asm_state *a) { return a->nlabels < MAXLABELS ? a->nlabels++ : -2; }
static void place(struct asm_state *a, int label) {
  if (label >= 0) a->label_at[label] = a->n;
}
static void emit(struct asm_state *a, uint16_t code, uint32_t k, int jt, int jf, int ja) {
  if (a->n < a->max) {
    a->out[a->n] = (struct sock_filter){code, 0, 0, k};
    a->jt[a->n] = jt, a->jf[a->n] = jf, a->ja[a->n] = ja;
  }
  a->n++;
}

int enosys_stub(uint32_t default_action, const uint32_t *archs, int narchs, char *const *rules, int nrules,
                struct sock_filter *out) {
  uint32_t kind = default_action & SECCOMP_RET_ACTION_FULL;
  if (kind == SECCOMP_RET_ALLOW || kind == SECCOMP_RET_LOG || kind == SECCOMP_RET_TRACE) return 0;
  if (kind == SECCOMP_RET_ERRNO && (default_action & SECCOMP_RET_DATA) == ENOSYS) return 0;

  /* Per AUDIT_ARCH: the profile's architectures, then the native one. */
  struct arch_max by_audit[32];
  int n = 0;
  for (int i = 0; i <= narchs; i++) {
    uint32_t arch = i < narchs ? archs[i] : seccomp_arch_native();
    /* libseccomp's SCMP_ARCH_* are the AUDIT_ARCH_* values, but for x32's. */
    uint32_t audit = arch == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : arch;
    int j = 0;
    while (j < n && by_audit[j].audit != audit) j++;
    if (j == n) {
      if (n == (int)(sizeof by_audit / sizeof *by_audit)) return -E2BIG;
      by_audit[n++] = (struct arch_max){audit, 0, 0};
    }
    uint32_t max = largest(arch, rules, nrules);
    if (arch == SCMP_ARCH_X32) by_audit[j].max_x32 = max;
    else by_audit[j].max = max;
  }

  struct asm_state *a = calloc(1, sizeof *a);
  if (!a) return -ENOMEM;
  a->out = out, a->max = ENOSYS_STUB_MAX;
  int enosys = new_label(a), filter = new_label(a), section[32];
  emit(a, BPF_LD | BPF_W | BPF_ABS, 4, 0, 0, 0); /* seccomp_data.arch */
  for (int j = 0; j < n; j++) {
    section[j] = new_label(a);
    if (by_audit[j].max || by_audit[j].max_x32) emit(a, BPF_JMP | BPF_JEQ | BPF_K, by_audit[j].audit, section[j], NEXT, 0);
  }
  int checked = a->n - 1;
  emit(a, BPF_JMP | BPF_JA, 0, 0, 0, filter); /* another architecture: the filter decides */
  for (int j = 0; j < n; j++) {
    struct arch_max *m = &by_audit[j];
    if (!m->max && !m->max_x32) continue;
    place(a, section[j]);
    emit(a, BPF_LD | BPF_W | BPF_ABS, 0, 0, 0, 0); /* seccomp_data.nr */
    if (m->audit == AUDIT_ARCH_S390 || m->audit == AUDIT_ARCH_S390X) emit(a, BPF_JMP | BPF_JEQ | BPF_K, 0, enosys, NEXT, 0);
    int to_filter = new_label(a);
    if (m->audit == AUDIT_ARCH_X86_64) {
      /* x86_64 and x32 each checked only in their own mode. */
      int x32 = new_label(a);
      emit(a, BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, m->max_x32 ? x32 : to_filter, NEXT, 0);
      if (m->max) emit(a, BPF_JMP | BPF_JGT | BPF_K, m->max, enosys, to_filter, 0);
      else emit(a, BPF_JMP | BPF_JA, 0, 0, 0, to_filter);
      place(a, x32);
      if (m->max_x32) emit(a, BPF_JMP | BPF_JGT | BPF_K, m->max_x32, enosys, to_filter, 0);
    } else {
      emit(a, BPF_JMP | BPF_JGT | BPF_K, m->max, enosys, to_filter, 0);
    }
    place(a, to_filter);
    emit(a, BPF_JMP | BPF_JA, 0, 0, 0, filter);
  }
  place(a, enosys);
  emit(a, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS, 0, 0, 0);
  place(a, filter);

  /* Resolve: every target is ahead (BPF jumps only forwards), and near. */
  int len = a->n, rc = checked ? len : 0; /* no architecture to check: no stub */
  if (len > a->max || a->nlabels >= MAXLABELS) rc = -E2BIG;
  for (int i = 0; rc > 0 && i < len; i++) {
    if (BPF_CLASS(out[i].code) != BPF_JMP) continue;
    if (BPF_OP(out[i].code) == BPF_JA) {
      out[i].k = (uint32_t)(a->label_at[a->ja[i]] - i - 1);
      continue;
    }
    int t = a->jt[i] == NEXT ? 0 : a->label_at[a->jt[i]] - i - 1;
    int f = a->jf[i] == NEXT ? 0 : a->label_at[a->jf[i]] - i - 1;
    if (t < 0 || f < 0 || t > 255 || f > 255) rc = -E2BIG;
    out[i].jt = (uint8_t)t, out[i].jf = (uint8_t)f;
  }
  free(a);
  return rc;
}
