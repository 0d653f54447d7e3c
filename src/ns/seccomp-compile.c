/* tsrun-seccomp: linux.seccomp compiled to a BPF program by libseccomp.
 *
 * A helper of its own, apart from tsrun-nsexec, for two reasons: Debian's
 * static libseccomp is built for glibc, so linking it made tsrun-nsexec a
 * ~1 MB glibc binary, and tsrun-nsexec copies itself into a sealed memfd on
 * every create, run and exec (nsexec.c); and a compiled profile is cached
 * (src/runtime/seccomp.ts reads the cache), so this only runs on a miss.
 * tsrun runs it on the host before tsrun-nsexec starts, never inside a
 * container's namespaces; tsrun-nsexec gets the program over its plan pipe.
 *
 *   tsrun-seccomp compile CACHE_FILE     (the profile on stdin)
 *     stdin: "DEFAULT\nARCHS\nRULE\n..." as src/runtime/seccomp.ts encodes
 *     it: DEFAULT the libseccomp action value (SCMP_ACT_ERRNO(1)...), ARCHS
 *     libseccomp arch names joined by ",", each RULE
 *     "INDEX ACTION NAME,NAME... [ARG:OP:VALUE:VALUE2]...", INDEX being the
 *     rule's place in linux.seccomp.syscalls, for messages; ACTION "-" for
 *     a rule whose action is the default's, which libseccomp does not get
 *     but whose names count for the -ENOSYS stub (seccomp-enosys.c). That text is
 *     also the cache key. stdout: the cache file (below), also written to
 *     CACHE_FILE when it can be ("" for none). Errors: "error ERRNO TEXT" on
 *     stderr, exit 1; a TEXT starting with "!" names the JSON path and
 *     replaces the errno's words (src/ns/helper.ts's convention).
 *   tsrun-seccomp features
 *     what `tsrun features` reports, as JSON checked against this
 *     libseccomp and this kernel.
 *
 * The cache file, one per profile, named by seccomp.ts after a hash of KEY
 * (tsrun's build/.seccomp-cache, emptied by each build, so a new libseccomp
 * or tsrun never reads an old program):
 *   "tsrun-seccomp-bpf 2 <libseccomp version> <key bytes> <debug bytes> <insns>\n"
 *   KEY, DEBUG (what --debug says about the compilation: unknown syscall
 *   names, so a cache hit says the same), BPF (struct sock_filter[insns]).
 * seccomp.ts compares KEY itself, so a hash collision or a damaged file only
 * costs a compilation (see cache_store for how it is written). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "seccomp-enosys.h"

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

static void fail(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail(int err, const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  for (char *p = text; *p; p++)
    if (*p == '\n') *p = ' ';
  fprintf(stderr, "error %d %s\n", err, text);
  exit(1);
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* What --debug hears about the compilation (unknown syscall names). */
static char debug_text[8192];
static size_t debug_len;
static void debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void debug(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(debug_text + debug_len, sizeof debug_text - debug_len, fmt, ap);
  va_end(ap);
  if (n > 0 && debug_len + (size_t)n < sizeof debug_text) debug_len += (size_t)n;
}

static void add_rule(scmp_filter_ctx ctx, char *rule) {
  char *save = NULL;
  const char *index = strtok_r(rule, " ", &save);
  const char *action_text = strtok_r(NULL, " ", &save);
  char *names = strtok_r(NULL, " ", &save);
  if (!index || !action_text || !names) fail(EINVAL, "seccomp: malformed rule");
  if (!strcmp(action_text, "-")) return;
  uint32_t action = (uint32_t)strtoul(action_text, NULL, 0);
  struct scmp_arg_cmp args[6];
  unsigned nargs = 0;
  for (char *c; (c = strtok_r(NULL, " ", &save)) && nargs < 6; nargs++) {
    char *end;
    args[nargs].arg = (unsigned)strtoul(c, &end, 10);
    args[nargs].op = (enum scmp_compare)strtoul(end + 1, &end, 10);
    args[nargs].datum_a = strtoull(end + 1, &end, 10);
    args[nargs].datum_b = strtoull(end + 1, &end, 10);
  }
  int n = 0;
  char *name_save = NULL;
  for (char *name = strtok_r(names, ",", &name_save); name; name = strtok_r(NULL, ",", &name_save), n++) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) {
      /* As runc: a name this libseccomp does not know is a syscall this
       * kernel cannot have been asked for; tsrun --debug shows the line. */
      debug("debug seccomp: syscall %s (/linux/seccomp/syscalls/%s/names/%d) is unknown to libseccomp %u.%u, skipped\n",
            name, index, n, seccomp_version()->major, seccomp_version()->minor);
      continue;
    }
    int rc = seccomp_rule_add_array(ctx, action, nr, nargs, args);
    if (rc < 0) fail(-rc, "!/linux/seccomp/syscalls/%s (%s): libseccomp refused the rule: %s", index, name, strerror(-rc));
  }
}

/* LINES[0] DEFAULT, LINES[1] ARCHS, the rest RULEs (modified in place) → the
 * program in *PROG: the -ENOSYS stub, then libseccomp's. */
static void compile(char **lines, int nlines, struct sock_fprog *prog) {
  uint32_t default_action = (uint32_t)strtoul(lines[0], NULL, 0);
  scmp_filter_ctx ctx = seccomp_init(default_action);
  if (!ctx) fail(EINVAL, "!/linux/seccomp/defaultAction: libseccomp refused the default action");
  char *save = NULL;
  int i = 0;
  uint32_t archs[64];
  int narchs = 0;
  for (char *a = strtok_r(lines[1], ",", &save); a; a = strtok_r(NULL, ",", &save), i++) {
    uint32_t token = seccomp_arch_resolve_name(a);
    int rc = token ? seccomp_arch_add(ctx, token) : -EINVAL;
    if (rc == -EDOM) fail(EDOM, "!/linux/seccomp/architectures/%d: %s has the other byte order: one filter cannot hold it beside this machine's architecture", i, a);
    if (rc < 0 && rc != -EEXIST) fail(-rc, "!/linux/seccomp/architectures/%d: libseccomp cannot add architecture %s: %s", i, a, strerror(-rc));
    if (narchs < 64) archs[narchs++] = token;
  }
  /* runc's choice: a binary tree for long rule sets (libseccomp <= 2.5.4
   * misbehaves with it and no rules). */
  if (nlines - 2 > 32) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  /* Before add_rule cuts the rules up. */
  struct sock_filter stub[ENOSYS_STUB_MAX];
  int nstub = enosys_stub(default_action, archs, narchs, lines + 2, nlines - 2, stub);
  if (nstub < 0) fail(-nstub, "!/linux/seccomp: cannot generate the -ENOSYS stub: %s", strerror(-nstub));
  for (int r = 2; r < nlines; r++) add_rule(ctx, lines[r]);
  int mem = memfd_create("seccomp-bpf", MFD_CLOEXEC);
  if (mem < 0) fail(errno, "memfd_create");
  int rc = seccomp_export_bpf(ctx, mem);
  if (rc < 0) fail(-rc, "!/linux/seccomp: libseccomp cannot generate the filter: %s", strerror(-rc));
  off_t size = lseek(mem, 0, SEEK_END);
  long long insns = (long long)(size / (off_t)sizeof(struct sock_filter)) + nstub;
  if (size <= 0 || insns > BPF_MAXINSNS) fail(E2BIG, "!/linux/seccomp: the filter has %lld instructions, the kernel takes at most %d", insns, BPF_MAXINSNS);
  prog->len = (unsigned short)insns;
  prog->filter = malloc((size_t)insns * sizeof(struct sock_filter));
  if (prog->filter) memcpy(prog->filter, stub, (size_t)nstub * sizeof *stub);
  if (!prog->filter || pread(mem, prog->filter + nstub, (size_t)size, 0) != size) fail(errno ? errno : ENOMEM, "read the exported filter");
  close(mem);
  seccomp_release(ctx);
}

static char *read_stdin(size_t *len_out) {
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len == cap) buf = realloc(buf, cap *= 2);
    if (!buf) fail(ENOMEM, "read the profile");
    ssize_t n = read(0, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(errno, "read the profile");
    if (n == 0) break;
    len += (size_t)n;
  }
  *len_out = len;
  return buf;
}

/* Best effort: the program is on stdout whatever happens here (a cache
 * directory a rootless caller cannot write means compiling on each create).
 * Written to an unnamed O_TMPFILE, named only once whole, then renamed over
 * PATH: a reader never sees half a file, a compiler killed midway leaves
 * nothing, and a damaged or colliding file is replaced. */
static void cache_store(const char *path, const struct iovec *iov, int n, size_t total) {
  char dir[4096], tmp[4200], fd_path[64];
  const char *slash = strrchr(path, '/');
  if (!slash || slash == path || (size_t)(slash - path) >= sizeof dir) return;
  snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  if (mkdir(dir, 0700) < 0 && errno != EEXIST) return;
  int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return;
  snprintf(tmp, sizeof tmp, "%s.%d", path, getpid());
  snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", fd);
  if (writev(fd, iov, n) == (ssize_t)total && linkat(AT_FDCWD, fd_path, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0 && rename(tmp, path) < 0)
    unlink(tmp);
  close(fd);
}

static int compile_command(const char *cache_file) {
  size_t key_len;
  char *key = read_stdin(&key_len);
  if (key_len == 0 || key[key_len - 1] != '\n') fail(EINVAL, "seccomp: the profile must be lines ending in a newline");
  /* The key stays as it came, for the cache; the lines are a copy, cut up. */
  char *copy = malloc(key_len + 1);
  int cap = 64, nlines = 0;
  char **lines = malloc(sizeof *lines * (size_t)cap);
  if (!copy || !lines) fail(ENOMEM, "seccomp: the profile");
  memcpy(copy, key, key_len);
  copy[key_len] = 0;
  for (char *p = copy, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
    *nl = 0;
    if (nlines == cap && !(lines = realloc(lines, sizeof *lines * (size_t)(cap *= 2)))) fail(ENOMEM, "seccomp: the profile");
    lines[nlines++] = p;
  }
  if (nlines < 2) fail(EINVAL, "seccomp: the profile needs a default action and architectures");
  struct sock_fprog prog;
  compile(lines, nlines, &prog);

  const struct scmp_version *v = seccomp_version();
  char header[128];
  int hn = snprintf(header, sizeof header, "tsrun-seccomp-bpf 2 %u.%u.%u %zu %zu %u\n", v->major, v->minor, v->micro, key_len, debug_len, prog.len);
  struct iovec iov[4] = {{header, (size_t)hn}, {key, key_len}, {debug_text, debug_len}, {prog.filter, prog.len * sizeof(struct sock_filter)}};
  size_t total = iov[0].iov_len + iov[1].iov_len + iov[2].iov_len + iov[3].iov_len;
  if (*cache_file) cache_store(cache_file, iov, 4, total);
  for (int i = 0; i < 4; i++)
    if (write_all(1, iov[i].iov_base, iov[i].iov_len) < 0) fail(errno, "write the program");
  return 0;
}

static int sys_seccomp(unsigned op, unsigned long flags, void *arg) {
  return (int)syscall(SYS_seccomp, op, flags, arg);
}

/* A flag the kernel knows fails with EFAULT on a NULL program, one it does
 * not know with EINVAL. */
static int kernel_has_flag(unsigned long flag) {
  return sys_seccomp(SECCOMP_SET_MODE_FILTER, flag, NULL) < 0 && errno == EFAULT;
}

static int features_command(void) {
  static const struct { const char *name; uint32_t ret; } actions[] = {
      {"SCMP_ACT_ALLOW", SECCOMP_RET_ALLOW}, {"SCMP_ACT_ERRNO", SECCOMP_RET_ERRNO},
      {"SCMP_ACT_KILL", SECCOMP_RET_KILL_THREAD}, {"SCMP_ACT_KILL_PROCESS", SECCOMP_RET_KILL_PROCESS},
      {"SCMP_ACT_KILL_THREAD", SECCOMP_RET_KILL_THREAD}, {"SCMP_ACT_LOG", SECCOMP_RET_LOG},
      {"SCMP_ACT_NOTIFY", SECCOMP_RET_USER_NOTIF}, {"SCMP_ACT_TRACE", SECCOMP_RET_TRACE},
      {"SCMP_ACT_TRAP", SECCOMP_RET_TRAP},
  };
  static const char *archs[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",
                                "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
                                "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
                                "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64",
                                "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
                                "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"};
  static const struct { const char *name; unsigned long flag; } flags[] = {
      {"SECCOMP_FILTER_FLAG_TSYNC", 0}, /* tsrun-nsexec is single-threaded: nothing to synchronise */
      {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
      {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
      {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | SECCOMP_FILTER_FLAG_NEW_LISTENER},
  };
  const char *sep = "";
  printf("{\"actions\":[");
  for (size_t i = 0; i < sizeof actions / sizeof *actions; i++) {
    uint32_t ret = actions[i].ret;
    if (sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &ret) == 0) printf("%s\"%s\"", sep, actions[i].name), sep = ",";
  }
  /* Only the architectures a filter can hold beside the native one: libseccomp
   * refuses to mix byte orders (EDOM). */
  printf("],\"archs\":[");
  sep = "";
  scmp_filter_ctx probe = seccomp_init(SCMP_ACT_ALLOW);
  for (size_t i = 0; i < sizeof archs / sizeof *archs; i++) {
    char name[32];
    size_t j = 0;
    for (const char *p = archs[i] + strlen("SCMP_ARCH_"); *p && j < sizeof name - 1; p++) name[j++] = (char)tolower((unsigned char)*p);
    name[j] = 0;
    uint32_t token = seccomp_arch_resolve_name(name);
    if (token && seccomp_arch_add(probe, token) != -EDOM) printf("%s\"%s\"", sep, archs[i]), sep = ",";
  }
  seccomp_release(probe);
  printf("],\"supportedFlags\":[");
  sep = "";
  for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
    if (!flags[i].flag || kernel_has_flag(flags[i].flag)) printf("%s\"%s\"", sep, flags[i].name), sep = ",";
  }
  const struct scmp_version *v = seccomp_version();
  printf("],\"libseccomp\":\"%u.%u.%u\"}\n", v->major, v->minor, v->micro);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "compile")) return compile_command(argv[2]);
  if (argc == 2 && !strcmp(argv[1], "features")) return features_command();
  fprintf(stderr, "usage: tsrun-seccomp compile CACHE_FILE < PROFILE | tsrun-seccomp features (started by tsrun)\n");
  return 2;
}
