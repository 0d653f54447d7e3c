/* tsrun-nsexec: the single-threaded half of `tsrun create`, `run` and `exec`.
 *
 * Node cannot fork, and a multithreaded process cannot join a mount namespace
 * or create a user namespace. So the TypeScript side compiles the container's
 * config into a plan (src/runtime/create-plan.ts) and this program interprets
 * it, one step at a time: join or create namespaces, fork the container's
 * PID 1, set up the rootfs, wait at the start barrier, exec. It has no policy
 * of its own; every step and every error report is described in
 * src/ns/helper.ts, where the protocol diagram lives.
 *
 * usage: tsrun-nsexec IN_FD OUT_FD   (the plan arrives on IN_FD) */
#define _GNU_SOURCE
#include "nsexec.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

int report_fd = -1;
int current_step = -1;
/* From tsrun (plan, cgroup ready, go) and to tsrun (pid, ready, errors): two
 * one-way channels, so a write that fails on one never costs tsrun the error
 * line waiting on the other. */
static int sync_in = -1, sync_out = -1;

/* cgroup v1 "tasks" files, opened before any setns (after a mount namespace
 * join the host's /sys/fs/cgroup is out of sight) and written "0" later. */
#define MAX_CGROUP_FDS 32
static int cgroup_fds[MAX_CGROUP_FDS];
static int ncgroup_fds;

void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    buf += n;
    len -= (size_t)n;
  }
}

void die(int status) {
  syscall(SYS_exit_group, status);
  for (;;) __builtin_trap(); /* SIGILL: the kernel delivers it whatever the filter denies */
}

void fail(int err, const char *fmt, ...) {
  char text[1024], line[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  for (char *p = text; *p; p++)
    if (*p == '\n') *p = ' ';
  int n = snprintf(line, sizeof line, "error %d %d %s\n", current_step, err, text);
  if (report_fd >= 0) write_all(report_fd, line, (size_t)n);
  else write_all(2, line, (size_t)n);
  die(1);
}

long long arg_ll(const struct step *s, int i) {
  if (i >= s->argc) fail(EINVAL, "%s: missing argument %d", s->op, i);
  char *end;
  errno = 0;
  long long v = strtoll(s->argv[i], &end, 0);
  if (errno || *end) fail(EINVAL, "%s: bad number %s", s->op, s->argv[i]);
  return v;
}

static int read_full(int fd, char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = read(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reads "<decimal length>\n" then that many bytes. */
static char *read_blob(int fd, size_t *len_out) {
  char head[32];
  size_t i = 0;
  while (i < sizeof head - 1) {
    if (read_full(fd, head + i, 1) < 0) return NULL;
    if (head[i] == '\n') break;
    i++;
  }
  head[i] = 0;
  size_t len = strtoull(head, NULL, 10);
  char *buf = malloc(len + 1);
  if (!buf || (len && read_full(fd, buf, len) < 0)) return NULL;
  buf[len] = 0;
  *len_out = len;
  return buf;
}

/* The plan: records of "op\0argc\0arg\0...". */
static struct step *parse_plan(char *buf, size_t len, int *count) {
  int cap = 64, n = 0;
  struct step *steps = malloc(sizeof *steps * (size_t)cap);
  char *p = buf, *end = buf + len;
  while (p < end) {
    if (n == cap) steps = realloc(steps, sizeof *steps * (size_t)(cap *= 2));
    struct step *s = &steps[n++];
    s->op = p;
    p += strlen(p) + 1;
    s->argc = atoi(p);
    p += strlen(p) + 1;
    s->argv = malloc(sizeof(char *) * (size_t)(s->argc + 1));
    for (int i = 0; i < s->argc; i++) {
      if (p >= end) fail(EINVAL, "plan is truncated");
      s->argv[i] = p;
      p += strlen(p) + 1;
    }
    s->argv[s->argc] = NULL;
  }
  *count = n;
  return steps;
}

static void op_setns(const struct step *s) {
  int fd = open(s->argv[0], O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "open namespace %s", s->argv[0]);
  if (setns(fd, (int)arg_ll(s, 1)) < 0) fail(errno, "join namespace %s", s->argv[0]);
  close(fd);
}

/* Forks the container's PID 1. The parent reports the host pid, then either
 * exits (create: the container outlives us) or stays as the container's
 * parent and exits with its status (run in the foreground). */
static void op_fork(const struct step *s) {
  int monitor = (int)arg_ll(s, 0);
  pid_t pid = fork();
  if (pid < 0) fail(errno, "fork");
  if (pid == 0) {
    umask(0); /* device nodes and mount points get exactly the modes asked for */
    return;
  }
  dprintf(sync_out, "pid %d\n", pid);
  if (!monitor) die(0);
  seccomp_forget_listener();
  close(sync_in);
  close(sync_out);
  /* Ctrl-C reaches the whole foreground group; tsrun forwards signals to the
   * container itself, and we must live to report its status. */
  int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};
  for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) signal(ignored[i], SIG_IGN);
  int status = relay_until_exit(pid);
  die(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* Waits for "go": tsrun has put us in the cgroup and run the createRuntime
 * hooks. It brings the state JSON for the createContainer and startContainer
 * hooks, which need our host pid. */
static char *state_creating, *state_created, *state_process;
static size_t state_creating_len, state_created_len, state_process_len;
static void op_wait_go(void) {
  state_creating = read_blob(sync_in, &state_creating_len);
  state_created = read_blob(sync_in, &state_created_len);
  state_process = read_blob(sync_in, &state_process_len); /* for a seccomp listener */
  if (!state_creating || !state_created || !state_process) die(1); /* tsrun gave up on us */
}

/* The start barrier is a unix socket in the state directory: `tsrun start`
 * connects, we answer on the connection, and exec closes it (CLOEXEC), so
 * EOF without an error line tells `start` that exec succeeded. Bound through
 * /proc/self/fd so long state paths fit in sun_path. */
static int listen_fd = -1;
static void op_listen(const struct step *s) {
  int dirfd = open(s->argv[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) fail(errno, "open state directory %s", s->argv[0]);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/start.sock", dirfd);
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) fail(errno, "socket");
  if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0) fail(errno, "bind %s/start.sock", s->argv[0]);
  if (listen(listen_fd, 1) < 0) fail(errno, "listen");
  close(dirfd);
}

static void op_barrier(void) {
  write_all(sync_out, "ready\n", 6);
  /* tsrun answers once state.json is written. EOF instead means it died
   * before recording us: nobody could ever start or delete this container,
   * so it must not wait at the barrier holding its namespaces forever. */
  size_t len;
  char *recorded = read_blob(sync_in, &len);
  if (!recorded) die(1);
  free(recorded);
  close(sync_in);
  close(sync_out);
  sync_in = sync_out = -1;
  report_fd = -1;
  int conn;
  do conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  while (conn < 0 && errno == EINTR);
  if (conn < 0) die(1);
  close(listen_fd);
  report_fd = conn;
}

/* CVE-2019-5736 class: a process in the container that can see us (an
 * exec'd process's siblings; a pod's containers while this one is created)
 * could open /proc/PID/exe, and once we exec'd, reopen the host's binary for
 * writing. So we run from a sealed memfd copy of ourselves, re-executed
 * before any namespace is joined (~80 kB of static musl binary: see the
 * bench note in the commit log), and are non-dumpable from then until the final execve (which resets
 * it): /proc/PID/{exe,fd,mem,...} become root-owned and need CAP_SYS_PTRACE.
 * A rootless (non-root) caller that writes this process's uid_map/gid_map
 * through /proc needs PR_SET_DUMPABLE 1 around that write, as runc does
 * around its id-map step: the plan step "dumpable 1" / "dumpable 0"
 * (nsexec-attr.c). */
extern char **environ;
static void run_from_sealed_copy(char **argv) {
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) fail(errno, "open /proc/self/exe");
  if (is_sealed_copy(self)) {
    close(self);
    return;
  }
  int copy = sealed_copy(self, "tsrun-nsexec");
  syscall(SYS_execveat, copy, "", argv, environ, AT_EMPTY_PATH);
  fail(errno, "re-execute tsrun-nsexec from its sealed copy");
}

int main(int argc, char **argv) {
  if (argc == 3) report_fd = atoi(argv[2]);
  run_from_sealed_copy(argv);
  if (argc != 3) {
    fprintf(stderr, "tsrun-nsexec is started by tsrun, not by hand\n");
    return 2;
  }
  sync_in = atoi(argv[1]);
  sync_out = report_fd = atoi(argv[2]);
  size_t len;
  char *buf = read_blob(sync_in, &len);
  if (!buf) fail(EPROTO, "no plan received");
  int count, init_fd = -1;
  struct step *steps = parse_plan(buf, len, &count);
  /* A seccomp step's BPF program follows the plan at once (tsrun sends both
   * together, before anything else it writes on IN). */
  char *seccomp_program = NULL;
  size_t seccomp_program_len = 0;
  for (int i = 0; i < count; i++) {
    if (strcmp(steps[i].op, "seccomp")) continue;
    current_step = i;
    if (!(seccomp_program = read_blob(sync_in, &seccomp_program_len))) fail(EPROTO, "no seccomp program after the plan");
  }

  for (int i = 0; i < count; i++) {
    const struct step *s = &steps[i];
    const char *op = s->op;
    current_step = i;
    if (!strcmp(op, "setns")) op_setns(s);
    else if (!strcmp(op, "unshare")) { if (unshare((int)arg_ll(s, 0)) < 0) fail(errno, "unshare"); }
    else if (!strcmp(op, "loopback-up")) op_loopback_up();
    else if (!strcmp(op, "userns")) op_userns(s);
    else if (!strcmp(op, "userns-root")) op_userns_root();
    else if (!strcmp(op, "idmap-open")) op_idmap_open(s);
    else if (!strcmp(op, "idmap-move")) op_idmap_move(s);
    else if (!strcmp(op, "fork")) op_fork(s);
    else if (!strcmp(op, "console-socket")) op_console_socket(s);
    else if (!strcmp(op, "pty-pair")) op_pty_pair();
    else if (!strcmp(op, "pty")) op_pty(s);
    else if (!strcmp(op, "wait-go")) op_wait_go();
    else if (!strcmp(op, "wait-cgroup")) {
      size_t n;
      if (!read_blob(sync_in, &n)) die(1); /* tsrun gave up on us */
    }
    else if (!strcmp(op, "cgroup-open")) {
      if (ncgroup_fds == MAX_CGROUP_FDS) fail(EMFILE, "too many cgroup hierarchies");
      if ((cgroup_fds[ncgroup_fds++] = open(s->argv[0], O_WRONLY | O_CLOEXEC)) < 0) fail(errno, "open %s", s->argv[0]);
    }
    else if (!strcmp(op, "cgroup-join")) {
      for (int c = 0; c < ncgroup_fds; c++) {
        if (write(cgroup_fds[c], "0", 1) != 1) fail(errno, "join cgroup (hierarchy %d)", c);
        close(cgroup_fds[c]);
      }
      ncgroup_fds = 0;
    }
    else if (!strcmp(op, "propagation")) {
      /* propagation PATH FLAGS: "/" before the rootfs is set up; a mount's own after pivot_root */
      if (mount(NULL, s->argv[0], NULL, (unsigned long)arg_ll(s, 1), NULL) < 0) fail(errno, "set propagation of %s", s->argv[0]);
    }
    else if (!strcmp(op, "private-mount-of")) op_private_mount_of(s);
    else if (!strcmp(op, "rootfs")) rootfs_open(s->argv[0], 1);
    else if (!strcmp(op, "rootfs-open")) rootfs_open(s->argv[0], 0);
    else if (!strcmp(op, "enter-root")) op_enter_root(s);
    else if (!strcmp(op, "mount")) op_mount(s);
    else if (!strcmp(op, "mknod")) op_mknod(s);
    else if (!strcmp(op, "mkdir")) op_mkdir(s);
    else if (!strcmp(op, "symlink")) op_symlink(s);
    else if (!strcmp(op, "hostname")) { if (sethostname(s->argv[0], strlen(s->argv[0])) < 0) fail(errno, "sethostname"); }
    else if (!strcmp(op, "domainname")) { if (setdomainname(s->argv[0], strlen(s->argv[0])) < 0) fail(errno, "setdomainname"); }
    else if (!strcmp(op, "write")) op_write_file(s->argv[0], s->argv[1]);
    else if (!strcmp(op, "hook")) {
      int starting = !strcmp(s->argv[0], "startContainer");
      op_hook(s, starting ? state_created : state_creating, starting ? state_created_len : state_creating_len);
    }
    else if (!strcmp(op, "listen")) op_listen(s);
    else if (!strcmp(op, "init-memfd")) init_fd = op_init_memfd(s);
    else if (!strcmp(op, "pivot")) op_pivot(s, 0);
    else if (!strcmp(op, "chroot")) op_pivot(s, 1);
    else if (!strcmp(op, "mask")) op_mask(s);
    else if (!strcmp(op, "readonly")) op_readonly(s);
    else if (!strcmp(op, "remount-root-ro")) op_remount_root_ro();
    else if (!strcmp(op, "rlimit")) op_rlimit(s);
    else if (!strcmp(op, "identity")) op_identity(s);
    else if (!strcmp(op, "no-new-privs")) { if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(errno, "no_new_privs"); }
    else if (!strcmp(op, "seccomp")) op_seccomp(s, seccomp_program, seccomp_program_len);
    else if (!strcmp(op, "seccomp-load")) op_seccomp_load(state_process, state_process_len);
    else if (!strcmp(op, "chdir")) { if (chdir(s->argv[0]) < 0) fail(errno, "chdir %s", s->argv[0]); }
    else if (!strcmp(op, "umask")) umask((mode_t)arg_ll(s, 0));
    else if (!strcmp(op, "lookup")) op_lookup(s);
    else if (!strcmp(op, "barrier")) op_barrier();
    else if (!strcmp(op, "close-fds")) {
      if (syscall(SYS_close_range, (unsigned)arg_ll(s, 0), ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) < 0) fail(errno, "close_range");
    }
    else if (!strcmp(op, "exec")) op_exec(s, init_fd);
    else if (!op_attr(s)) fail(EINVAL, "unknown step %s", op);
  }
  fail(EINVAL, "plan ended without exec");
}
