/* The process steps of tsrun-nsexec: identity and capabilities, rlimits,
 * in-container hooks, the sealed copy of tsrun-init, and the final exec. */
#define _GNU_SOURCE
#include "nsexec.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void op_write_file(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "open %s", path);
  size_t len = strlen(value);
  if (write(fd, value, len) != (ssize_t)len) fail(errno, "write %s", path);
  close(fd);
}

void op_rlimit(const struct step *s) {
  long long soft = arg_ll(s, 1), hard = arg_ll(s, 2);
  struct rlimit rl = {soft < 0 ? RLIM_INFINITY : (rlim_t)soft, hard < 0 ? RLIM_INFINITY : (rlim_t)hard};
  if (setrlimit((int)arg_ll(s, 0), &rl) < 0) fail(errno, "setrlimit %s", s->argv[0]);
}

static unsigned long long hex(const char *v) { return strtoull(v, NULL, 16); }

/* identity UID GID GROUPS BOUNDING EFFECTIVE PERMITTED INHERITABLE AMBIENT
 * (groups comma-separated or "-"; capability sets as hex masks, or "-" to
 * leave capabilities as they are). The order matters: the bounding set can
 * only be dropped while we still hold CAP_SETPCAP, and KEEPCAPS keeps the
 * permitted set across setuid so capset can pick the final sets after it.
 * The ambient mask arrives already reduced to inheritable & permitted (the
 * kernel refuses the rest with EPERM; runc warns and goes on, and tsrun
 * warns at plan time), so a failure here is real. Each error text names the
 * syscall: the plan's label ("switch to uid 0 gid 0") alone cannot say
 * which of the eight calls failed. */
void op_identity(const struct step *s) {
  uid_t uid = (uid_t)arg_ll(s, 0);
  gid_t gid = (gid_t)arg_ll(s, 1);
  int caps = strcmp(s->argv[3], "-") != 0;
  if (caps) {
    unsigned long long bounding = hex(s->argv[3]);
    for (int cap = 0; cap < 64; cap++)
      if (!(bounding & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
        fail(errno, "prctl(PR_CAPBSET_DROP, %d)", cap);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail(errno, "prctl(PR_SET_KEEPCAPS, 1)");
  }
  gid_t groups[256];
  int ngroups = 0;
  if (strcmp(s->argv[2], "-")) {
    for (char *g = s->argv[2]; *g && ngroups < 256; g = strchr(g, ',') ? strchr(g, ',') + 1 : g + strlen(g))
      groups[ngroups++] = (gid_t)strtoul(g, NULL, 10);
  }
  /* In a user namespace whose setgroups is "deny" the groups stay as they are
   * (none: userns-root or the namespace's creator cleared them). */
  if (ngroups && setgroups_denied()) fail(EPERM, "!additionalGids need setgroups, which this user namespace denies");
  if (!setgroups_denied() && setgroups((size_t)ngroups, groups) < 0) fail(errno, "setgroups(%d groups: %s)", ngroups, s->argv[2]);
  if (setresgid(gid, gid, gid) < 0) fail(errno, "setresgid(%u)", gid);
  if (setresuid(uid, uid, uid) < 0) fail(errno, "setresuid(%u)", uid);
  if (!caps) return;
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) fail(errno, "prctl(PR_SET_KEEPCAPS, 0)");
  unsigned long long e = hex(s->argv[4]), p = hex(s->argv[5]), i = hex(s->argv[6]), a = hex(s->argv[7]);
  struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {
      {(__u32)e, (__u32)p, (__u32)i},
      {(__u32)(e >> 32), (__u32)(p >> 32), (__u32)(i >> 32)},
  };
  if (syscall(SYS_capset, &head, data) < 0)
    fail(errno, "capset(effective %llx, permitted %llx, inheritable %llx)", e, p, i);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    fail(errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  for (int cap = 0; cap < 64; cap++)
    if ((a & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
      fail(errno, "prctl(PR_CAP_AMBIENT_RAISE, %d)", cap);
}

/* A sealed, read-only memfd copy of the open file SRC (closed here), made
 * executable. Nobody can write to it, whoever gets hold of it. */
#define TSRUN_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
int sealed_copy(int src, const char *name) {
  struct stat st;
  if (fstat(src, &st) < 0) fail(errno, "fstat %s", name);
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | 0x10U /* MFD_EXEC */);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) fail(errno, "memfd_create(%s)", name);
  for (off_t off = 0; off < st.st_size;) {
    ssize_t n = sendfile(fd, src, &off, (size_t)(st.st_size - off));
    if (n <= 0) fail(n < 0 ? errno : EIO, "copy %s into a memfd", name);
  }
  if (fcntl(fd, F_ADD_SEALS, TSRUN_SEALS) < 0) fail(errno, "seal the copy of %s", name);
  close(src);
  return fd;
}

/* Whether FD is one of our sealed copies. */
int is_sealed_copy(int fd) {
  int seals = fcntl(fd, F_GET_SEALS);
  return seals >= 0 && (seals & TSRUN_SEALS) == TSRUN_SEALS;
}

/* The init runs from a sealed memfd copy: /proc/1/exe in the container then
 * points at an object nobody can write, not at the host's binary (the class
 * of runc's CVE-2019-5736). tsrun-init is ~17 kB, so the copy is cheap. The
 * plan opens it before joining any namespace, so no container process ever
 * sees an fd of the host's binary in us. */
int op_init_memfd(const struct step *s) {
  int src = open(s->argv[0], O_RDONLY | O_CLOEXEC);
  if (src < 0) fail(errno, "open init %s", s->argv[0]);
  return sealed_copy(src, "tsrun-init");
}

/* lookup PATH ARG0: fail at create time, as runc does, when the program is
 * not there, rather than at start. */
static char resolved[4096];
static int executable(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return 0;
  if (!S_ISREG(st.st_mode)) {
    errno = EACCES; /* a directory or a device: execve would say so too */
    return 0;
  }
  return access(path, X_OK) == 0;
}
void op_lookup(const struct step *s) {
  const char *path = s->argv[0], *arg0 = s->argv[1];
  if (strchr(arg0, '/')) {
    if (!executable(arg0)) fail(errno ? errno : EACCES, "exec: \"%s\": not an executable file", arg0);
    snprintf(resolved, sizeof resolved, "%s", arg0);
    return;
  }
  for (const char *dir = path; dir;) {
    const char *colon = strchr(dir, ':');
    int n = colon ? (int)(colon - dir) : (int)strlen(dir);
    snprintf(resolved, sizeof resolved, "%.*s/%s", n ? n : 1, n ? dir : ".", arg0);
    if (executable(resolved)) return;
    dir = colon ? colon + 1 : NULL;
  }
  fail(ENOENT, "exec: \"%s\": executable file not found in $PATH", arg0);
}

/* exec BIN NENV ENV... ARGS...: BIN is "@init" (the sealed tsrun-init) or
 * "@lookup" (the program found by the lookup step). */
void op_exec(const struct step *s, int init_fd) {
  int nenv = (int)arg_ll(s, 1);
  char **envp = &s->argv[2];
  char **argv = &s->argv[2 + nenv];
  char *env_copy[nenv + 1];
  for (int i = 0; i < nenv; i++) env_copy[i] = envp[i];
  env_copy[nenv] = NULL;
  if (!strcmp(s->argv[0], "@init")) {
    syscall(SYS_execveat, init_fd, "", argv, env_copy, AT_EMPTY_PATH);
    fail(errno, "exec tsrun-init");
  }
  execve(resolved, argv, env_copy);
  fail(errno, "exec %s", resolved);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* hook KIND INDEX TIMEOUT PATH NARGS ARGS... ENV...: runs a createContainer or
 * startContainer hook in the container's namespaces with the state on stdin,
 * its output captured for the error report. stdin is fed and output drained
 * in one poll loop, so a hook that neither reads nor stops writing cannot
 * block us, and one that never reads costs only an EPIPE. */
void op_hook(const struct step *s, const char *state, size_t state_len) {
  const char *kind = s->argv[0], *path = s->argv[3];
  int index = (int)arg_ll(s, 1), timeout = (int)arg_ll(s, 2), nargs = (int)arg_ll(s, 4);
  char **args = &s->argv[5];
  int nenv = s->argc - 5 - nargs;
  char *argv[nargs + 2], *envp[nenv + 1];
  for (int i = 0; i < nargs; i++) argv[i] = args[i];
  if (nargs == 0) argv[nargs++] = (char *)path;
  argv[nargs] = NULL;
  for (int i = 0; i < nenv; i++) envp[i] = s->argv[5 + (int)arg_ll(s, 4) + i];
  envp[nenv] = NULL;

  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) fail(errno, "pipe");
  signal(SIGPIPE, SIG_IGN);
  pid_t pid = fork();
  if (pid < 0) fail(errno, "fork hook");
  if (pid == 0) {
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    execve(path, argv, envp);
    dprintf(2, "exec %s: %s", path, strerror(errno));
    die(127);
  }
  close(in[0]);
  close(out[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  char output[2048];
  size_t kept = 0, sent = 0;
  long long deadline = timeout > 0 ? now_ms() + timeout * 1000LL : -1, exited_at = -1;
  int timed_out = 0, in_fd = in[1], status = 0, out_open = 1;
  if (state_len == 0) { close(in_fd); in_fd = -1; }
  /* Polled in short slices so that the hook's exit is seen even while a child
   * it left behind holds its output open (then 100 ms more are read, as the
   * Node runner does), and the timeout applies even after it closed its output. */
  for (;;) {
    if (exited_at < 0 && waitpid(pid, &status, WNOHANG) == pid) exited_at = now_ms();
    if (exited_at >= 0 && (!out_open || now_ms() - exited_at >= 100)) break;
    if (deadline >= 0 && exited_at < 0 && now_ms() >= deadline) { timed_out = 1; break; }
    struct pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {in_fd, POLLOUT, 0}};
    if (poll(fds, 2, 20) < 0 && errno != EINTR) break;
    if (in_fd >= 0 && fds[1].revents) {
      ssize_t n = write(in_fd, state + sent, state_len - sent);
      if (n > 0) sent += (size_t)n;
      if ((n < 0 && errno != EAGAIN) || sent == state_len) { close(in_fd); in_fd = -1; }
    }
    if (out_open && fds[0].revents) {
      char chunk[1024];
      ssize_t n = read(out[0], chunk, sizeof chunk);
      if (n <= 0) { out_open = 0; continue; }
      for (ssize_t i = 0; i < n; i++) { /* keep the last bytes: errors come last */
        if (kept == sizeof output - 1) { memmove(output, output + 1, kept - 1); kept--; }
        output[kept++] = chunk[i];
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out[0]);
  if (timed_out) {
    kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  }
  while (kept && (output[kept - 1] == '\n' || output[kept - 1] == ' ')) kept--;
  output[kept] = 0;
  if (timed_out) fail(ETIMEDOUT, "%s hook #%d (%s) failed: timed out after %ds%s%s", kind, index, path, timeout, kept ? ": " : "", output);
  if (WIFSIGNALED(status)) fail(EINTR, "%s hook #%d (%s) failed: killed by signal %d%s%s", kind, index, path, WTERMSIG(status), kept ? ": " : "", output);
  if (WEXITSTATUS(status)) fail(EIO, "%s hook #%d (%s) failed: exit status %d%s%s", kind, index, path, WEXITSTATUS(status), kept ? ": " : "", output);
}
