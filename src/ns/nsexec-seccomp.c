/* The seccomp steps of tsrun-nsexec: loading linux.seccomp's filter.
 *
 * The profile is compiled to BPF on the host, before this helper starts, by
 * tsrun-seccomp (src/ns/seccomp-compile.c) or read from its cache
 * (src/runtime/seccomp.ts); the program arrives right after the plan
 * (nsexec.c reads it). Keeping libseccomp out of this helper lets it be a
 * small static musl binary, which matters: it copies itself into a sealed
 * memfd on every create, run and exec. Two steps:
 *
 *   seccomp FLAGS NOTIFY LISTENER                 (before pivot_root)
 *     takes the program, decides the filter flags and connects to the
 *     notify listener's socket while its host path is reachable.
 *   seccomp-load                                  (see create-plan.ts for where)
 *     hands the BPF program to the kernel with seccomp(2) and, when the
 *     profile uses SCMP_ACT_NOTIFY, sends the listener fd and the container
 *     process state (runtime-spec config-linux.md) over that socket.
 *
 * The program is loaded with seccomp(2) (as libseccomp's seccomp_load()
 * would not be: libseccomp 2.5 cannot set SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
 * and it would set no_new_privs itself, which is the config's choice, not ours).
 *
 * Arguments, encoded by src/runtime/seccomp.ts: FLAGS the kernel's filter
 * flags or "default" (SPEC_ALLOW where the kernel has it, as runc does when
 * the config has no flags), NOTIFY 1 when a rule is SCMP_ACT_NOTIFY,
 * LISTENER a path or "". */
#define _GNU_SOURCE
#include "nsexec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
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

void op_seccomp(const struct step *s, const char *program, size_t len) {
  if (s->argc != 3) fail(EINVAL, "seccomp: expected FLAGS NOTIFY LISTENER");
  if (!program || len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
    fail(EINVAL, "seccomp: no BPF program of a valid size came with the plan (%zu bytes)", len);
  prog.len = (unsigned short)(len / sizeof(struct sock_filter));
  prog.filter = (struct sock_filter *)(void *)program;
  if (strcmp(s->argv[0], "default")) filter_flags = strtoul(s->argv[0], NULL, 0);
  else if (kernel_has_flag(SECCOMP_FILTER_FLAG_SPEC_ALLOW)) filter_flags = SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  int notify = !strcmp(s->argv[1], "1");
  if (notify) filter_flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
  else filter_flags &= ~(unsigned long)SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV; /* it only qualifies a listener */
  const char *listener = s->argv[2];
  if (notify && *listener && (listener_fd = connect_unix(listener)) < 0)
    fail(errno, "!connect to the seccomp listener %s: %s", listener, strerror(errno));
}

/* exec connects before fork (the listener's path is out of sight after the
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
