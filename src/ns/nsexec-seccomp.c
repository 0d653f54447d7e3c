/* The seccomp steps of tsrun-nsexec: linux.seccomp, compiled by libseccomp.
 *
 * Two steps, because compiling and loading belong at different moments:
 *
 *   seccomp DEFAULT FLAGS ARCHS LISTENER CACHE_DIR RULE...   (before pivot_root)
 *     builds the filter with libseccomp and exports it as BPF, so that any
 *     error in the profile stops `create`, not `start`; connects to the
 *     notify listener's socket while its host path is reachable.
 *   seccomp-load                                  (see create-plan.ts for where)
 *     hands the BPF program to the kernel with seccomp(2) and, when the
 *     profile uses SCMP_ACT_NOTIFY, sends the listener fd and the container
 *     process state (runtime-spec config-linux.md) over that socket.
 *
 * The program is loaded with seccomp(2) here rather than by seccomp_load():
 * libseccomp 2.5 cannot set SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, and it
 * would set no_new_privs itself, which is the config's choice, not ours.
 *
 * Arguments, encoded by src/runtime/seccomp.ts: DEFAULT is the libseccomp
 * action value (SCMP_ACT_ERRNO(1)...), FLAGS the kernel's filter flags or
 * "default" (SPEC_ALLOW where the kernel has it, as runc does when the
 * config has no flags), ARCHS libseccomp arch names joined by ",", LISTENER
 * a path or "", CACHE_DIR where compiled profiles are kept (see cache_load)
 * or "". Each RULE is "INDEX ACTION NAME,NAME... [ARG:OP:VALUE:VALUE2]...",
 * INDEX being the rule's place in linux.seccomp.syscalls, for messages. */
#define _GNU_SOURCE
#include "nsexec.h"

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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

static struct sock_fprog prog;
static unsigned long filter_flags;
static int listener_fd = -1;

static int sys_seccomp(unsigned op, unsigned long flags, void *arg) {
  return (int)syscall(SYS_seccomp, op, flags, arg);
}

/* A flag the kernel knows fails with EFAULT on a NULL program, one it does
 * not know with EINVAL. */
static int kernel_has_flag(unsigned long flag) {
  return sys_seccomp(SECCOMP_SET_MODE_FILTER, flag, NULL) < 0 && errno == EFAULT;
}

/* Connects to a unix socket by path; a path too long for sun_path is
 * reached through /proc/self/fd of its directory. */
static int connect_unix(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  int dirfd = -1;
  if (strlen(path) < sizeof addr.sun_path) {
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  } else {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if ((dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) return -1;
    snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dirfd, slash ? slash + 1 : path);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    fd = -1;
    errno = err;
  }
  if (dirfd >= 0) close(dirfd);
  return fd;
}

/* What --debug hears about the compilation (unknown syscall names); kept
 * with the cached program, so that a cache hit says the same. */
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

static void add_rule(scmp_filter_ctx ctx, const char *encoded) {
  char rule[strlen(encoded) + 1], *save = NULL;
  strcpy(rule, encoded);
  const char *index = strtok_r(rule, " ", &save);
  const char *action_text = strtok_r(NULL, " ", &save);
  char *names = strtok_r(NULL, " ", &save);
  if (!index || !action_text || !names) fail(EINVAL, "seccomp: malformed rule");
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

/* The profile to BPF, with libseccomp: DEFAULT, ARCHS and the RULEs. */
static void compile(const struct step *s, int first_rule) {
  scmp_filter_ctx ctx = seccomp_init((uint32_t)strtoul(s->argv[0], NULL, 0));
  if (!ctx) fail(EINVAL, "!/linux/seccomp/defaultAction: libseccomp refused the default action");
  char archs[1024], *save = NULL;
  snprintf(archs, sizeof archs, "%s", s->argv[2]);
  int i = 0;
  for (char *a = strtok_r(archs, ",", &save); a; a = strtok_r(NULL, ",", &save), i++) {
    uint32_t token = seccomp_arch_resolve_name(a);
    int rc = token ? seccomp_arch_add(ctx, token) : -EINVAL;
    if (rc == -EDOM) fail(EDOM, "!/linux/seccomp/architectures/%d: %s has the other byte order: one filter cannot hold it beside this machine's architecture", i, a);
    if (rc < 0 && rc != -EEXIST) fail(-rc, "!/linux/seccomp/architectures/%d: libseccomp cannot add architecture %s: %s", i, a, strerror(-rc));
  }
  /* runc's choice: a binary tree for long rule sets (libseccomp <= 2.5.4
   * misbehaves with it and no rules). */
  if (s->argc - first_rule > 32) seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  for (int r = first_rule; r < s->argc; r++) add_rule(ctx, s->argv[r]);
  int mem = memfd_create("seccomp-bpf", MFD_CLOEXEC);
  if (mem < 0) fail(errno, "memfd_create");
  int rc = seccomp_export_bpf(ctx, mem);
  if (rc < 0) fail(-rc, "!/linux/seccomp: libseccomp cannot generate the filter: %s", strerror(-rc));
  off_t size = lseek(mem, 0, SEEK_END);
  long long insns = (long long)(size / (off_t)sizeof(struct sock_filter));
  if (size <= 0 || insns > BPF_MAXINSNS) fail(E2BIG, "!/linux/seccomp: the filter has %lld instructions, the kernel takes at most %d", insns, BPF_MAXINSNS);
  prog.len = (unsigned short)insns;
  prog.filter = malloc((size_t)size);
  if (!prog.filter || pread(mem, prog.filter, (size_t)size, 0) != size) fail(errno ? errno : ENOMEM, "read the exported filter");
  close(mem);
  seccomp_release(ctx);
}

/* The cache of compiled profiles: libseccomp takes ~4 ms of CPU for podman's
 * default profile on one architecture, ~15 ms for its three (x86_64, x86,
 * x32), on every create; engines send the same profile again and again. A
 * file per profile in CACHE_DIR (tsrun's build/.seccomp-cache, emptied by
 * each build, so a new libseccomp or tsrun never reads an old program):
 *   "tsrun-seccomp-bpf 1 <libseccomp version> <key bytes> <debug bytes> <insns>\n"
 *   KEY (what the program depends on: DEFAULT, ARCHS, RULEs), DEBUG, BPF.
 * The name is a hash of KEY, but KEY itself is compared, so a collision or a
 * damaged file only costs a compilation (and the file is replaced). Written to an O_TMPFILE and linked in whole, so a
 * reader, or tsrun killed midway, never sees half a file. Best effort: any
 * failure means compiling as if there were no cache. */
static size_t cache_key(const struct step *s, int first_rule, char **out) {
  size_t len = strlen(s->argv[0]) + strlen(s->argv[2]) + 2;
  for (int r = first_rule; r < s->argc; r++) len += strlen(s->argv[r]) + 1;
  char *key = malloc(len + 1), *p = key;
  p += sprintf(p, "%s\n%s\n", s->argv[0], s->argv[2]);
  for (int r = first_rule; r < s->argc; r++) p += sprintf(p, "%s\n", s->argv[r]);
  *out = key;
  return (size_t)(p - key);
}

static void cache_path(char *path, size_t size, const char *dir, const char *key, size_t len) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
  snprintf(path, size, "%s/%016llx.bpf", dir, (unsigned long long)h);
}

static char cache_header[128];
static int make_header(size_t key_len, size_t dbg_len, unsigned insns) {
  const struct scmp_version *v = seccomp_version();
  return snprintf(cache_header, sizeof cache_header, "tsrun-seccomp-bpf 1 %u.%u.%u %zu %zu %u\n", v->major, v->minor, v->micro, key_len, dbg_len, insns);
}

/* 1: PROG is the cached program; 0: none; -1: a file that is not this profile's. */
static int cache_load(const char *path, const char *key, size_t key_len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  struct stat st;
  char *buf = NULL;
  int ok = -1;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size < (1 << 22) && (buf = malloc((size_t)st.st_size + 1)) &&
      read(fd, buf, (size_t)st.st_size) == st.st_size) {
    buf[st.st_size] = 0;
    char *nl = memchr(buf, '\n', (size_t)st.st_size);
    size_t klen, dlen;
    unsigned insns;
    const struct scmp_version *v = seccomp_version();
    unsigned major, minor, micro;
    if (nl && sscanf(buf, "tsrun-seccomp-bpf 1 %u.%u.%u %zu %zu %u\n", &major, &minor, &micro, &klen, &dlen, &insns) == 6 &&
        major == v->major && minor == v->minor && micro == v->micro && klen == key_len && dlen < sizeof debug_text &&
        insns > 0 && insns <= BPF_MAXINSNS &&
        (size_t)st.st_size == (size_t)(nl + 1 - buf) + klen + dlen + insns * sizeof(struct sock_filter) &&
        memcmp(nl + 1, key, klen) == 0) {
      memcpy(debug_text, nl + 1 + klen, dlen);
      debug_len = dlen;
      prog.len = (unsigned short)insns;
      prog.filter = malloc(insns * sizeof(struct sock_filter));
      memcpy(prog.filter, nl + 1 + klen + dlen, insns * sizeof(struct sock_filter));
      ok = 1;
    }
  }
  free(buf);
  close(fd);
  return ok;
}

static void cache_store(const char *dir, const char *path, const char *key, size_t key_len) {
  if (mkdir(dir, 0700) < 0 && errno != EEXIST) return;
  int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return;
  int n = make_header(key_len, debug_len, prog.len);
  struct iovec iov[4] = {{cache_header, (size_t)n}, {(void *)key, key_len}, {debug_text, debug_len}, {prog.filter, prog.len * sizeof(struct sock_filter)}};
  ssize_t want = (ssize_t)(iov[0].iov_len + iov[1].iov_len + iov[2].iov_len + iov[3].iov_len);
  if (writev(fd, iov, 4) == want) linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH); /* EEXIST: a concurrent create cached it */
  close(fd);
}

static double now_ms(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void op_seccomp(const struct step *s) {
  const int first_rule = 5;
  if (s->argc < first_rule) fail(EINVAL, "seccomp: missing arguments");
  double started = now_ms(CLOCK_MONOTONIC);
  if (strcmp(s->argv[1], "default")) filter_flags = strtoul(s->argv[1], NULL, 0);
  else if (kernel_has_flag(SECCOMP_FILTER_FLAG_SPEC_ALLOW)) filter_flags = SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  int notify = 0;
  for (int r = first_rule; r < s->argc; r++) {
    const char *action = strchr(s->argv[r], ' ');
    if (action && (uint32_t)strtoul(action + 1, NULL, 0) == SCMP_ACT_NOTIFY) notify = 1;
  }
  if (notify) filter_flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
  else filter_flags &= ~(unsigned long)SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV; /* it only qualifies a listener */

  const char *dir = s->argv[4];
  char *key, path[4096];
  size_t key_len = cache_key(s, first_rule, &key);
  cache_path(path, sizeof path, dir, key, key_len);
  int cached = *dir ? cache_load(path, key, key_len) : 0;
  if (cached != 1) {
    compile(s, first_rule);
    if (cached == -1) unlink(path); /* damaged, or another profile with the same hash: this one takes its place */
    if (*dir) cache_store(dir, path, key, key_len);
  }
  free(key);
  write_all(report_fd, debug_text, debug_len);
  dprintf(report_fd, "debug seccomp: %d rules, %u BPF instructions, %s in %.2f ms\n", s->argc - first_rule, prog.len,
          cached == 1 ? "from the cache" : "compiled by libseccomp", now_ms(CLOCK_MONOTONIC) - started);

  const char *listener = s->argv[3];
  if (notify && *listener && (listener_fd = connect_unix(listener)) < 0)
    fail(errno, "!connect to the seccomp listener %s: %s", listener, strerror(errno));
}

/* exec compiles before fork (the listener's path is out of sight after the
 * mount namespace join); a parent that stays must not keep the connection
 * open, or a listener waiting for EOF after the state would never answer. */
void seccomp_forget_listener(void) {
  if (listener_fd >= 0) close(listener_fd);
  listener_fd = -1;
}

/* Loads the filter; with a listener, sends it the notify fd and STATE, the
 * container process state JSON tsrun sent with "go", in one sendmsg. */
void op_seccomp_load(const char *state, size_t state_len) {
  if (!prog.filter) fail(EINVAL, "seccomp-load before seccomp");
  int fd = sys_seccomp(SECCOMP_SET_MODE_FILTER, filter_flags, &prog);
  if (fd < 0) fail(errno, "load the seccomp filter (flags %#lx)", filter_flags);
  if (!(filter_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) return;
  if (listener_fd < 0) {
    close(fd); /* no listener: a notified syscall fails with ENOSYS */
    return;
  }
  struct iovec iov = {(void *)state, state_len};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  ssize_t n;
  do n = sendmsg(listener_fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) fail(errno, "send the seccomp notify fd to the listener");
  /* The rest of a long state, if the first call took only part of it. */
  for (size_t sent = (size_t)n; sent < state_len; sent += (size_t)n) {
    if ((n = send(listener_fd, state + sent, state_len - sent, MSG_NOSIGNAL)) <= 0) fail(errno, "send the container process state to the seccomp listener");
  }
  close(fd);
  close(listener_fd); /* the spec: one state per connection, then closed */
  listener_fd = -1;
}

/* tsrun-nsexec seccomp-features: what `tsrun features` reports, as JSON
 * checked against this libseccomp and this kernel. */
int seccomp_features(void) {
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
      {"SECCOMP_FILTER_FLAG_TSYNC", 0}, /* single-threaded: nothing to synchronise */
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
