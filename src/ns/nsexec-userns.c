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

/* Id-mapped bind mounts. Making one needs CAP_SYS_ADMIN over the source's
 * filesystem (the host's), so the helper makes them before any namespace
 * step: a user namespace that carries the mount's maps (held by a child
 * that unshared it and waits), open_tree(OPEN_TREE_CLONE) of the source,
 * mount_setattr(MOUNT_ATTR_IDMAP) with it, plus the mount's flags. The
 * detached mount's fd is inherited by the container's child, which moves it
 * onto its destination inside the rootfs (idmap-move). */
#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
#define MAX_IDMAP_MOUNTS 64
static int idmap_fds[MAX_IDMAP_MOUNTS];

struct tsrun_mount_attr {
  unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

/* A user namespace fd with these maps: a child unshares it and waits while
 * we (the host's root) write its maps and open it. */
static int userns_with_maps(const char *uidmap, const char *gidmap) {
  int ready[2], hold[2];
  if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0) fail(errno, "pipe");
  pid_t child = fork();
  if (child < 0) fail(errno, "fork");
  if (child == 0) {
    char byte;
    close(hold[1]);
    close(ready[0]);
    if (unshare(CLONE_NEWUSER) < 0) _exit(1);
    if (write(ready[1], "u", 1) != 1) _exit(1);
    (void)!read(hold[0], &byte, 1); /* until the parent closes it */
    _exit(0);
  }
  close(ready[1]);
  close(hold[0]);
  char byte, path[64];
  if (read(ready[0], &byte, 1) != 1) fail(EPERM, "create the id-mapped mount's user namespace");
  close(ready[0]);
  write_proc(child, "uid_map", uidmap);
  write_proc(child, "gid_map", gidmap);
  snprintf(path, sizeof path, "/proc/%d/ns/user", child);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(errno, "open %s", path);
  close(hold[1]);
  while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
  return fd;
}

/* idmap-open INDEX SOURCE RECURSIVE_BIND RECURSIVE_IDMAP ATTR_SET ATTR_CLR UIDMAP GIDMAP */
void op_idmap_open(const struct step *s) {
  int index = (int)arg_ll(s, 0);
  if (index < 0 || index >= MAX_IDMAP_MOUNTS) fail(EINVAL, "too many id-mapped mounts");
  const char *source = s->argv[1];
  int rbind = (int)arg_ll(s, 2), ridmap = (int)arg_ll(s, 3);
  int userns = userns_with_maps(s->argv[6], s->argv[7]);
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC | (rbind ? AT_RECURSIVE : 0));
  if (tree < 0) fail(errno, "open_tree %s", source);
  struct tsrun_mount_attr attr = {
      .attr_set = MOUNT_ATTR_IDMAP | (unsigned long long)arg_ll(s, 4),
      .attr_clr = (unsigned long long)arg_ll(s, 5),
      .userns_fd = (unsigned)userns,
  };
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (ridmap ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
    fail(errno, "id-map the mount of %s", source);
  close(userns);
  idmap_fds[index] = tree;
}

/* idmap-move INDEX DESTINATION: onto a path resolved inside the rootfs. */
void op_idmap_move(const struct step *s) {
  int index = (int)arg_ll(s, 0);
  struct stat st;
  if (index < 0 || index >= MAX_IDMAP_MOUNTS || !idmap_fds[index]) fail(EINVAL, "no id-mapped mount %d", index);
  if (fstat(idmap_fds[index], &st) < 0) fail(errno, "stat the id-mapped mount");
  int target = rootfs_resolve(s->argv[1], !S_ISDIR(st.st_mode));
  if (syscall(SYS_move_mount, idmap_fds[index], "", target, "", 0x4 /* F_EMPTY_PATH */ | 0x40 /* T_EMPTY_PATH */) < 0)
    fail(errno, "move the id-mapped mount onto %s", s->argv[1]);
  close(target);
  close(idmap_fds[index]);
  idmap_fds[index] = 0;
}
