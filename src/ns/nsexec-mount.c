/* The rootfs steps of tsrun-nsexec: mounts, devices and links are made at
 * paths resolved inside root.path, never through it onto the host.
 *
 * Resolution walks the destination one component at a time from a directory
 * fd of the rootfs. An absolute symlink restarts the walk at the rootfs (it
 * names a path in the container, e.g. /var/run -> /run); ".." is followed
 * within the rootfs, and a ".." that would climb above it, through a symlink
 * or literally, is an error: that is a planted escape, not an image layout.
 * The final open uses openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) so the
 * object mounted on is the one the walk checked, and the mount is made through
 * /proc/self/fd/N. */
#define _GNU_SOURCE
#include "nsexec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int rootfd = -1;
static const char *rootfs_path;

enum create_mode { EXISTING, MAKE_DIRS, MAKE_FILE };

/* rootfs PATH binds it first; rootfs-open PATH (no mount namespace of our
 * own: nothing may be mounted) only opens it. */
void rootfs_open(const char *rootfs, int bind) {
  /* A bind of the rootfs onto itself makes it a mount point for pivot_root. */
  if (bind && mount(rootfs, rootfs, "bind", MS_BIND | MS_REC, NULL) < 0) fail(errno, "bind rootfs %s", rootfs);
  rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail(errno, "open rootfs %s", rootfs);
  rootfs_path = rootfs;
}

/* private-mount-of PATH: makes the mount that holds PATH private (the deepest
 * mount point at or above it: mount(2) answers EINVAL for a directory that is
 * not one). With a shared rootfsPropagation "/" is not made recursively
 * private, so that the binds of shared host directories stay peers of the
 * host (Kubernetes' Bidirectional mounts); but pivot_root refuses a new root
 * whose parent mount is shared, and the rootfs bind must not propagate to the
 * host, so the rootfs's own mount is made private here. */
void op_private_mount_of(const struct step *s) {
  char path[PATH_MAX];
  /* resolved first: climbing a path through a symlink would walk the mounts
   * of the link's directory, not of the rootfs */
  if (!realpath(s->argv[0], path)) fail(errno, "resolve %s", s->argv[0]);
  for (;;) {
    if (mount(NULL, path, NULL, MS_PRIVATE, NULL) == 0) return;
    if (errno != EINVAL || !strcmp(path, "/")) fail(errno, "make the mount of %s private", s->argv[0]);
    char *slash = strrchr(path, '/');
    if (slash == path) path[1] = 0;
    else *slash = 0;
  }
}

/* Returns an O_PATH fd for `path` inside the rootfs, creating what is missing. */
static int resolve(const char *path, enum create_mode mode) {
  char cur[PATH_MAX] = "", rest[PATH_MAX * 2], link[PATH_MAX];
  int links = 0;
  snprintf(rest, sizeof rest, "%s", path);
  char *p = rest;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    char comp[NAME_MAX + 1];
    if (n > NAME_MAX) fail(ENAMETOOLONG, "path %s", path);
    memcpy(comp, p, n);
    comp[n] = 0;
    p += n;
    int last = *p == 0 || strspn(p, "/") == strlen(p);
    if (!strcmp(comp, ".")) continue;
    if (!strcmp(comp, "..")) {
      char *cut = strrchr(cur, '/');
      if (!*cur) fail(EXDEV, "!path %s escapes the rootfs through \"..\" (a symlink or a literal \"..\")", path);
      if (cut) *cut = 0;
      else cur[0] = 0;
      continue;
    }
    char cand[PATH_MAX];
    if (snprintf(cand, sizeof cand, "%s%s%s", cur, *cur ? "/" : "", comp) >= (int)sizeof cand)
      fail(ENAMETOOLONG, "path %s", path);
    struct stat st;
    if (fstatat(rootfd, cand, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT || mode == EXISTING) fail(errno, "path %s in the rootfs", path);
      if (last && mode == MAKE_FILE) {
        int fd = openat(rootfd, cand, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0 && errno != EEXIST) fail(errno, "create file %s in the rootfs", path);
        if (fd >= 0) close(fd);
      } else if (mkdirat(rootfd, cand, 0755) < 0 && errno != EEXIST) {
        fail(errno, "create directory %s in the rootfs", cand);
      }
      snprintf(cur, sizeof cur, "%s", cand);
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) fail(ELOOP, "path %s", path);
      ssize_t len = readlinkat(rootfd, cand, link, sizeof link - 1);
      if (len < 0) fail(errno, "readlink %s", cand);
      link[len] = 0;
      if (link[0] == '/') cur[0] = 0;
      char next[PATH_MAX * 2];
      snprintf(next, sizeof next, "%s/%s", link, p);
      snprintf(rest, sizeof rest, "%s", next);
      p = rest;
      continue;
    }
    snprintf(cur, sizeof cur, "%s", cand);
  }
  struct open_how how = {
    .flags = O_PATH | O_CLOEXEC,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int)syscall(SYS_openat2, rootfd, *cur ? cur : ".", &how, sizeof how);
  if (fd < 0) fail(errno, "open %s in the rootfs", path);
  return fd;
}

/* For the other step files (nsexec-userns.c): an O_PATH fd of PATH in the rootfs. */
int rootfs_resolve(const char *path, int make_file) { return resolve(path, make_file ? MAKE_FILE : MAKE_DIRS); }

static void fd_path(int fd, char *buf, size_t len) { snprintf(buf, len, "/proc/self/fd/%d", fd); }

/* mount SRC DST TYPE FLAGS DATA: binds are made first and then remounted with
 * their flags, because MS_BIND ignores everything but MS_REC. Propagation is
 * set after pivot_root (the "propagation" step). */
void op_mount(const struct step *s) {
  const char *src = s->argv[0], *dst = s->argv[1], *type = s->argv[2], *data = s->argv[4];
  unsigned long flags = (unsigned long)arg_ll(s, 3);
  int bind = (flags & MS_BIND) != 0;
  enum create_mode mode = MAKE_DIRS;
  if (bind) {
    struct stat st;
    if (stat(src, &st) < 0) fail(errno, "bind source %s", src);
    if (!S_ISDIR(st.st_mode)) mode = MAKE_FILE;
  }
  char target[64];
  int fd = resolve(dst, mode);
  fd_path(fd, target, sizeof target);
  if (bind) {
    if (mount(src, target, NULL, MS_BIND | (flags & MS_REC), NULL) < 0) fail(errno, "bind %s on %s", src, dst);
  } else if (mount(src, target, type, flags, *data ? data : NULL) < 0) {
    int err = errno, how = userns_mount_fallback(target, type, flags, data, err); /* nsexec-userns.c */
    if (how < 0) fail(err, "mount %s on %s", type, dst);
    if (how == 1) bind = 1, flags |= MS_RDONLY; /* the host's /sys, bound read-only */
  }
  close(fd);
  unsigned long extra = flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
  if (bind && extra) {
    fd = resolve(dst, EXISTING); /* now the root of the new mount */
    fd_path(fd, target, sizeof target);
    if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | extra, NULL) < 0 &&
        (errno != EPERM || mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | extra | locked_mount_flags(target, extra), NULL) < 0))
      fail(errno, "remount %s with its options", dst);
    close(fd);
  }
}

/* mkdir PATH: creates a directory (and its parents) inside the rootfs. */
void op_mkdir(const struct step *s) { close(resolve(s->argv[0], MAKE_DIRS)); }

static int parent_dir(const char *path, const char **base) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  if (slash) *slash = 0;
  else dir[0] = 0;
  return resolve(*dir ? dir : "/", MAKE_DIRS);
}

/* mknod PATH TYPE MAJOR MINOR MODE UID GID; without CAP_MKNOD (a user
 * namespace) the host's node is bound over an empty file instead. */
void op_mknod(const struct step *s) {
  const char *path = s->argv[0], *base;
  char type = s->argv[1][0];
  mode_t mode = (mode_t)arg_ll(s, 4) | (type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR);
  dev_t dev = makedev((unsigned)arg_ll(s, 2), (unsigned)arg_ll(s, 3));
  int dirfd = parent_dir(path, &base);
  if (mknodat(dirfd, base, mode, dev) < 0) {
    if (errno == EEXIST) { close(dirfd); return; }
    if (errno != EPERM) fail(errno, "mknod %s", path);
    close(dirfd);
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s", path);
    int fd = resolve(path, MAKE_FILE);
    char target[64];
    fd_path(fd, target, sizeof target);
    if (mount(src, target, NULL, MS_BIND, NULL) < 0) fail(errno, "bind device %s", path);
    close(fd);
    return;
  }
  if (fchownat(dirfd, base, (uid_t)arg_ll(s, 5), (gid_t)arg_ll(s, 6), AT_SYMLINK_NOFOLLOW) < 0)
    fail(errno, "chown %s", path);
  close(dirfd);
}

void op_symlink(const struct step *s) {
  const char *base;
  int dirfd = parent_dir(s->argv[1], &base);
  if (symlinkat(s->argv[0], dirfd, base) < 0 && errno != EEXIST) fail(errno, "symlink %s", s->argv[1]);
  close(dirfd);
}

/* pivot_root(".", ".") stacks the old root on top of the new one. The old
 * root is made a slave before the lazy unmount, so the unmount cannot reach
 * the host; it is named by an fd opened before the pivot, so that only the
 * old tree is touched: "." could name the new root, and a recursive slave
 * there would cut the container's shared mounts off from their host peers. */
void op_pivot(const struct step *s, int no_pivot) {
  if (no_pivot) {
    if (chdir(s->argv[0]) < 0) fail(errno, "chdir %s", s->argv[0]);
    if (mount(".", "/", NULL, MS_MOVE, NULL) < 0) fail(errno, "move rootfs to /");
    if (chroot(".") < 0) fail(errno, "chroot");
  } else {
    int oldroot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
    if (oldroot < 0) fail(errno, "open the old root");
    if (chdir(s->argv[0]) < 0) fail(errno, "chdir %s", s->argv[0]);
    if (syscall(SYS_pivot_root, ".", ".") < 0) fail(errno, "pivot_root %s", s->argv[0]);
    if (fchdir(oldroot) < 0) fail(errno, "change to the old root");
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) fail(errno, "make old root a slave");
    if (umount2(".", MNT_DETACH) < 0) fail(errno, "detach old root");
    close(oldroot);
  }
  if (chdir("/") < 0) fail(errno, "chdir /");
  close(rootfd);
  rootfd = -1;
}

/* enter-root PATH: chroot without pivot_root or MS_MOVE, for a container in
 * the runtime's mount namespace (a pivot or move there would be the host's). */
void op_enter_root(const struct step *s) {
  if (chdir(s->argv[0]) < 0) fail(errno, "chdir %s", s->argv[0]);
  if (chroot(".") < 0) fail(errno, "chroot %s", s->argv[0]);
  if (chdir("/") < 0) fail(errno, "chdir /");
  if (rootfd >= 0) close(rootfd);
  rootfd = -1;
}

/* After pivot_root "/" is the container's root, so plain paths are safe. */
void op_mask(const struct step *s) {
  struct stat st;
  const char *path = s->argv[0];
  if (stat(path, &st) < 0) {
    if (errno == ENOENT) return;
    fail(errno, "mask %s", path);
  }
  int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k")
                               : mount("/dev/null", path, NULL, MS_BIND, NULL);
  if (rc < 0) fail(errno, "mask %s", path);
}

/* A bind remount must repeat the flags the mount already has (nosuid, nodev,
 * noexec...): the kernel refuses to clear locked ones. */
void op_readonly(const struct step *s) {
  const char *path = s->argv[0];
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT) return;
    fail(errno, "bind %s read-only", path);
  }
  struct statvfs vfs;
  if (statvfs(path, &vfs) < 0) fail(errno, "statvfs %s", path);
  unsigned long keep = 0;
  if (vfs.f_flag & ST_NOSUID) keep |= MS_NOSUID;
  if (vfs.f_flag & ST_NODEV) keep |= MS_NODEV;
  if (vfs.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
  if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL) < 0 &&
      (errno != EPERM || mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_mount_flags(path, 0), NULL) < 0))
    fail(errno, "remount %s read-only", path);
}

void op_remount_root_ro(void) {
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0 &&
      (errno != EPERM || mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_mount_flags("/", 0), NULL) < 0))
    fail(errno, "remount / read-only");
}
