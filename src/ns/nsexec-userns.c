/* The user-namespace steps of tsrun-nsexec: a new user namespace with its id
 * maps, becoming the mapped root, id-mapped mounts, and the mount fallbacks a
 * user namespace needs.
 *
 * Who writes the maps: after unshare(CLONE_NEWUSER) a process cannot write a
 * multi-range map of its own namespace (the writer needs CAP_SETUID in the
 * parent namespace). So before unsharing, the helper forks a mapper that stays
 * in the parent namespace; the helper unshares the user namespace alone and
 * wakes the mapper, which writes /proc/<helper>/{setgroups,uid_map,gid_map}
 * (or runs newuidmap/newgidmap for a rootless caller with subordinate ids)
 * and exits. Its error line, if any, goes to the same OUT channel. The other
 * namespaces are unshared afterwards, so the user namespace owns them. */
#define _GNU_SOURCE
#include "nsexec.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void write_proc(pid_t pid, const char *file, const char *text) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "open %s", path);
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) fail(errno, "write %s (%s)", file, text);
  close(fd);
}

/* Runs TOOL PID c h s c h s... (newuidmap/newgidmap); its output becomes the error text. */
static void run_idmap_tool(const char *tool, pid_t pid, const char *map) {
  char *argv[3 + 3 * 340 + 1], pidbuf[16], copy[16384];
  int argc = 0;
  snprintf(pidbuf, sizeof pidbuf, "%d", pid);
  snprintf(copy, sizeof copy, "%s", map);
  argv[argc++] = (char *)tool;
  argv[argc++] = pidbuf;
  for (char *tok = strtok(copy, " \n"); tok && argc < (int)(sizeof argv / sizeof *argv) - 1; tok = strtok(NULL, " \n")) argv[argc++] = tok;
  argv[argc] = NULL;
  int out[2];
  if (pipe2(out, O_CLOEXEC) < 0) fail(errno, "pipe");
  pid_t child = fork();
  if (child < 0) fail(errno, "fork %s", tool);
  if (child == 0) {
    dup2(out[1], 1);
    dup2(out[1], 2);
    char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    execve(tool, argv, envp);
    dprintf(2, "exec: %s", strerror(errno));
    _exit(127);
  }
  close(out[1]);
  char text[1024];
  size_t kept = 0;
  ssize_t n;
  while ((n = read(out[0], text + kept, sizeof text - 1 - kept)) > 0) kept += (size_t)n;
  while (kept && (text[kept - 1] == '\n' || text[kept - 1] == ' ')) kept--;
  text[kept] = 0;
  int status;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(status) || WEXITSTATUS(status))
    fail(EPERM, "!%s %s failed%s%s", tool, map, kept ? ": " : "", text);
}

/* userns UIDMAP GIDMAP SETGROUPS NEWUIDMAP NEWGIDMAP: maps are "c h s" lines;
 * SETGROUPS is "deny" or "-"; the tools are paths, or "" to write directly. */
void op_userns(const struct step *s) {
  const char *uidmap = s->argv[0], *gidmap = s->argv[1], *setgroups = s->argv[2];
  const char *newuidmap = s->argv[3], *newgidmap = s->argv[4];
  pid_t self = getpid();
  int wake[2];
  if (pipe2(wake, O_CLOEXEC) < 0) fail(errno, "pipe");
  pid_t mapper = fork();
  if (mapper < 0) fail(errno, "fork the id mapper");
  if (mapper == 0) {
    char byte;
    close(wake[1]);
    if (read(wake[0], &byte, 1) != 1) _exit(1); /* the helper died before unsharing */
    if (*newuidmap) run_idmap_tool(newuidmap, self, uidmap);
    else write_proc(self, "uid_map", uidmap);
    if (!strcmp(setgroups, "deny")) write_proc(self, "setgroups", "deny");
    if (*newgidmap) run_idmap_tool(newgidmap, self, gidmap);
    else write_proc(self, "gid_map", gidmap);
    _exit(0);
  }
  close(wake[0]);
  if (unshare(CLONE_NEWUSER) < 0) fail(errno, "unshare user namespace");
  /* A non-dumpable process's /proc files belong to root: a rootless mapper
   * (or newuidmap, which checks the target's owner) could not write them. */
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  if (dumpable != 1 && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) fail(errno, "set dumpable");
  if (write(wake[1], "m", 1) != 1) fail(errno, "wake the id mapper");
  close(wake[1]);
  int status;
  while (waitpid(mapper, &status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(status) || WEXITSTATUS(status)) _exit(1); /* the mapper wrote the error line */
  if (dumpable >= 0 && dumpable != 1) prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
}

/* Whether setgroups(2) is denied in our user namespace ("deny" in /proc/self/setgroups). */
int setgroups_denied(void) {
  char buf[8] = "";
  int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n >= 4 && !strncmp(buf, "deny", 4);
}

/* userns-root: take the ids that are root in the user namespace (created or
 * joined), so files made from here on belong to the container's root. */
void op_userns_root(void) {
  if (!setgroups_denied() && setgroups(0, NULL) < 0) fail(errno, "setgroups");
  if (setresgid(0, 0, 0) < 0) fail(errno, "!gid 0 is not mapped in the user namespace (linux.gidMappings must map container id 0)");
  if (setresuid(0, 0, 0) < 0) fail(errno, "!uid 0 is not mapped in the user namespace (linux.uidMappings must map container id 0)");
}

/* Flags a bind remount must repeat inside a user namespace: the kernel locks
 * nosuid, nodev, noexec, ro and the atime mode of mounts inherited from a
 * more privileged mount namespace, and refuses a remount that would change
 * them. The caller's own atime choice wins when it made one. */
unsigned long locked_mount_flags(const char *path, unsigned long wanted) {
  struct statvfs vfs;
  if (statvfs(path, &vfs) < 0) return 0;
  unsigned long keep = 0;
  if (vfs.f_flag & ST_NOSUID) keep |= MS_NOSUID;
  if (vfs.f_flag & ST_NODEV) keep |= MS_NODEV;
  if (vfs.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
  if (vfs.f_flag & ST_RDONLY) keep |= MS_RDONLY;
  if (!(wanted & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME))) {
    if (vfs.f_flag & ST_NOATIME) keep |= MS_NOATIME;
    else if (vfs.f_flag & ST_RELATIME) keep |= MS_RELATIME;
    else keep |= MS_STRICTATIME;
    if (vfs.f_flag & ST_NODIRATIME) keep |= MS_NODIRATIME;
  }
  return keep;
}

/* A mount that failed inside a user namespace and has a known substitute:
 * - sysfs needs a network namespace owned by our user namespace; without one
 *   the host's /sys is bound read-only instead (as runc does);
 * - devpts refuses gid=N when N is not mapped: mounted without it.
 * Returns 0 when the substitute is done, 1 when it is a bind that still needs
 * the mount's flags (a remount), -1 to report the original error. */
int userns_mount_fallback(const char *target, const char *type, unsigned long flags, const char *data, int err) {
  if (!strcmp(type, "sysfs") && err == EPERM) {
    return mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) < 0 ? -1 : 1;
  }
  if (!strcmp(type, "devpts") && err == EINVAL && data && strstr(data, "gid=")) {
    char copy[512], out[512] = "";
    snprintf(copy, sizeof copy, "%s", data);
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
      if (!strncmp(tok, "gid=", 4)) continue;
      if (*out) strncat(out, ",", sizeof out - strlen(out) - 1);
      strncat(out, tok, sizeof out - strlen(out) - 1);
    }
    return mount("devpts", target, "devpts", flags, out) < 0 ? -1 : 0;
  }
  return -1;
}
