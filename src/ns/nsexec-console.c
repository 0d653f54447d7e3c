/* Terminals for tsrun-nsexec. A container with process.terminal gets a pty
 * made inside it (its own /dev/pts), with the slave as its controlling
 * terminal and stdio. The master goes either to the caller's --console-socket
 * (SCM_RIGHTS, as runc does: containerd and conmon hold it), or, for a
 * foreground `tsrun run`/`exec`, to the monitor process, which relays it to
 * tsrun's own terminal in raw mode and passes on window-size changes. */
#define _GNU_SOURCE
#include "nsexec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int console_fd = -1;     /* connection to --console-socket */
static int relay_parent = -1;   /* monitor's end of the pty hand-over pair */
static int relay_child = -1;    /* container's end */

/* console-socket PATH: connected before any setns/pivot, while the caller's
 * path is reachable. */
void op_console_socket(const struct step *s) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(s->argv[0]) >= sizeof addr.sun_path) fail(ENAMETOOLONG, "console socket %s", s->argv[0]);
  strcpy(addr.sun_path, s->argv[0]);
  console_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (console_fd < 0 || connect(console_fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    fail(errno, "connect to console socket %s", s->argv[0]);
}

void op_pty_pair(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) fail(errno, "socketpair");
  relay_parent = sv[0];
  relay_child = sv[1];
}

static void send_fd(int sock, int fd) {
  char name[] = "/dev/ptmx";
  struct iovec iov = {name, sizeof name - 1};
  char control[CMSG_SPACE(sizeof(int))] = {0};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(sock, &msg, 0) < 0) fail(errno, "send the pty master");
}

static int recv_fd(int sock) {
  char buf[64];
  struct iovec iov = {buf, sizeof buf};
  char control[CMSG_SPACE(sizeof(int))] = {0};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

/* pty UID GID ROWS COLS: in the container, after its /dev/pts is mounted. */
void op_pty(const struct step *s) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail(errno, "open /dev/ptmx");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) fail(errno, "unlock pty");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) fail(errno, "open pty slave");
  if (fchown(slave, (uid_t)arg_ll(s, 0), (gid_t)arg_ll(s, 1)) < 0 && errno != EPERM) fail(errno, "chown pty slave");
  struct winsize ws = {.ws_row = (unsigned short)arg_ll(s, 2), .ws_col = (unsigned short)arg_ll(s, 3)};
  if (ws.ws_row && ws.ws_col) ioctl(slave, TIOCSWINSZ, &ws);
  if (setsid() < 0) fail(errno, "setsid");
  if (ioctl(slave, TIOCSCTTY, 0) < 0) fail(errno, "make the pty the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) fail(errno, "dup pty slave");
  if (slave > 2) close(slave);
  if (console_fd >= 0) {
    send_fd(console_fd, master);
    close(console_fd);
  } else if (relay_child >= 0) {
    send_fd(relay_child, master);
    close(relay_child);
  } else {
    fail(EINVAL, "a terminal needs --console-socket or a foreground run");
  }
  close(master);
}

/* The foreground monitor with a pty: stdin → master, master → stdout, window
 * size from our terminal, until the container's process exits. Returns its
 * wait status. */
int relay_until_exit(pid_t child) {
  if (relay_child >= 0) close(relay_child);
  if (console_fd >= 0) close(console_fd);
  int master = relay_parent >= 0 ? recv_fd(relay_parent) : -1;
  int status = 0;
  if (master < 0) { /* the container failed before its pty existed */
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    return status;
  }
  struct termios saved, raw;
  int tty = isatty(0) && tcgetattr(0, &saved) == 0;
  if (tty) {
    raw = saved;
    cfmakeraw(&raw);
    tcsetattr(0, TCSANOW, &raw);
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGWINCH);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  int in_open = 1, done = 0;
  char buf[8192];
  while (!done) {
    struct pollfd fds[3] = {{master, POLLIN, 0}, {sfd, POLLIN, 0}, {in_open ? 0 : -1, POLLIN, 0}};
    if (poll(fds, 3, -1) < 0 && errno != EINTR) break;
    if (fds[0].revents) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) done = 1; /* EIO: every slave fd is closed */
      else write_all(1, buf, (size_t)n);
    }
    if (fds[2].revents) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n <= 0) in_open = 0;
      else write_all(master, buf, (size_t)n);
    }
    if (fds[1].revents) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGWINCH && tty) {
        struct winsize ws;
        if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
      }
      if (waitpid(child, &status, WNOHANG) == child) {
        /* drain what the container wrote before it went */
        ssize_t n;
        fcntl(master, F_SETFL, O_NONBLOCK);
        while ((n = read(master, buf, sizeof buf)) > 0) write_all(1, buf, (size_t)n);
        if (tty) tcsetattr(0, TCSANOW, &saved);
        return status;
      }
    }
  }
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
  if (tty) tcsetattr(0, TCSANOW, &saved);
  return status;
}
