/* The process attributes of tsrun-nsexec that the kernel keeps across fork
 * and exec: personality, I/O priority, scheduler, CPU affinity and memory
 * policy (process.* and linux.* fields of the config), and the dumpable
 * flag. The plan sends them
 * already translated to numbers; each error names the syscall. */
#define _GNU_SOURCE
#include "nsexec.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A hex mask of any length ("ff0f") into bytes, least significant first. */
static size_t hex_mask(const char *hex, unsigned char *out, size_t cap) {
  memset(out, 0, cap);
  size_t len = strlen(hex), bytes = 0;
  for (size_t i = 0; i < len && bytes / 2 < cap; i++, bytes++) {
    char c = hex[len - 1 - i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (v < 0) fail(EINVAL, "bad mask %s", hex);
    out[i / 2] |= (unsigned char)(v << (4 * (i % 2)));
  }
  return (len + 1) / 2;
}

/* The kernel's struct sched_attr (sched_setattr(2)); not in the libc headers. */
struct tsrun_sched_attr {
  uint32_t size, sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime, sched_deadline, sched_period;
};

/* Returns 1 when S was one of ours. */
int op_attr(const struct step *s) {
  const char *op = s->op;
  if (!strcmp(op, "personality")) {
    /* personality DOMAIN: PER_LINUX or PER_LINUX32 */
    if (personality((unsigned long)arg_ll(s, 0)) < 0) fail(errno, "personality(%s)", s->argv[0]);
  } else if (!strcmp(op, "ioprio")) {
    /* ioprio VALUE: class << 13 | level, for IOPRIO_WHO_PROCESS 0 (ourselves) */
    if (syscall(SYS_ioprio_set, 1, 0, (int)arg_ll(s, 0)) < 0) fail(errno, "ioprio_set(%s)", s->argv[0]);
  } else if (!strcmp(op, "sched")) {
    /* sched POLICY FLAGS NICE PRIORITY RUNTIME DEADLINE PERIOD */
    struct tsrun_sched_attr attr = {
        .size = sizeof attr, .sched_policy = (uint32_t)arg_ll(s, 0), .sched_flags = (uint64_t)arg_ll(s, 1),
        .sched_nice = (int32_t)arg_ll(s, 2), .sched_priority = (uint32_t)arg_ll(s, 3),
        .sched_runtime = (uint64_t)arg_ll(s, 4), .sched_deadline = (uint64_t)arg_ll(s, 5), .sched_period = (uint64_t)arg_ll(s, 6),
    };
    if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
      fail(errno, "sched_setattr(policy %u, flags %#llx, nice %d, priority %u)", attr.sched_policy,
           (unsigned long long)attr.sched_flags, attr.sched_nice, attr.sched_priority);
  } else if (!strcmp(op, "affinity")) {
    /* affinity HEXMASK */
    unsigned char mask[1024];
    size_t n = hex_mask(s->argv[0], mask, sizeof mask);
    size_t size = (n + sizeof(long) - 1) / sizeof(long) * sizeof(long);
    if (syscall(SYS_sched_setaffinity, 0, size ? size : sizeof(long), mask) < 0) fail(errno, "sched_setaffinity(%s)", s->argv[0]);
  } else if (!strcmp(op, "mempolicy")) {
    /* mempolicy MODE|FLAGS HEXNODEMASK ("-": none) */
    unsigned char mask[1024];
    int none = !strcmp(s->argv[1], "-");
    size_t n = none ? 0 : hex_mask(s->argv[1], mask, sizeof mask);
    unsigned long maxnode = none ? 0 : n * 8 + 1;
    if (syscall(SYS_set_mempolicy, (int)arg_ll(s, 0), none ? NULL : mask, maxnode) < 0)
      fail(errno, "set_mempolicy(%s, nodes %s)", s->argv[0], s->argv[1]);
  } else if (!strcmp(op, "dumpable")) {
    /* dumpable 0|1: main() makes us non-dumpable (nsexec.c); a plan that
     * needs /proc/PID files of ours to stay ours for a moment (a non-root
     * caller writing our uid_map; the child writing its own /proc/self
     * files inside a new user namespace, which non-dumpable makes owned by
     * the host's root) raises it around that step and drops it again. */
    if (prctl(PR_SET_DUMPABLE, (int)arg_ll(s, 0), 0, 0, 0) < 0) fail(errno, "prctl(PR_SET_DUMPABLE, %s)", s->argv[0]);
  } else {
    return 0;
  }
  return 1;
}
