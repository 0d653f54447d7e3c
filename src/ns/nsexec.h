/* tsrun-nsexec: shared declarations. The protocol is documented once, in
 * src/ns/helper.ts; this helper only interprets the plan it is sent. */
#ifndef TSRUN_NSEXEC_H
#define TSRUN_NSEXEC_H

#include <stddef.h>
#include <sys/types.h>

/* One plan step: an opcode and its string arguments (all NUL-terminated). */
struct step {
  const char *op;
  int argc;
  char **argv;
};

/* Where errors go: the sync socket until the start barrier, then the
 * connection of `tsrun start`. */
extern int report_fd;
extern int current_step;

/* _exit(STATUS), also under a seccomp filter that denies exit_group: musl's
 * _exit would then retry SYS_exit forever, so a trap ends the process (as
 * glibc's _exit does, with hlt). */
void die(int status) __attribute__((noreturn));
/* Writes "error <step> <errno> <text>\n" to report_fd and exits 1. */
void fail(int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
void write_all(int fd, const char *buf, size_t len);
long long arg_ll(const struct step *s, int i);

/* nsexec-mount.c: the rootfs, resolved safely inside root.path. */
void rootfs_open(const char *rootfs, int bind);
void op_enter_root(const struct step *s);
void op_mount(const struct step *s);
void op_mknod(const struct step *s);
void op_mkdir(const struct step *s);
void op_symlink(const struct step *s);
void op_pivot(const struct step *s, int no_pivot);
void op_private_mount_of(const struct step *s);
void op_mask(const struct step *s);
void op_readonly(const struct step *s);
void op_remount_root_ro(void);
int rootfs_resolve(const char *path, int make_file);

/* nsexec-process.c: identity, limits, hooks and exec. */
void op_identity(const struct step *s);
void op_rlimit(const struct step *s);
void op_write_file(const char *path, const char *value);
int op_init_memfd(const struct step *s);
int sealed_copy(int src, const char *name);
int is_sealed_copy(int fd);
void op_lookup(const struct step *s);
void op_hook(const struct step *s, const char *state, size_t state_len);
void op_exec(const struct step *s, int init_fd);

/* nsexec-net.c: the loopback device of a new network namespace. */
void op_loopback_up(void);

/* nsexec-attr.c: personality, ioprio, sched, affinity, mempolicy, dumpable; 1 if S was one of them. */
int op_attr(const struct step *s);

/* nsexec-userns.c: a new user namespace and its maps, the mapped root, and
 * what mounts need inside a user namespace. */
void op_userns(const struct step *s);
void op_userns_root(void);
int setgroups_denied(void);
unsigned long locked_mount_flags(const char *path, unsigned long wanted);
void op_idmap_open(const struct step *s);
void op_idmap_move(const struct step *s);
int userns_mount_fallback(const char *target, const char *type, unsigned long flags, const char *data, int err);

/* nsexec-console.c: ptys, --console-socket and the foreground relay. */
void op_console_socket(const struct step *s);
void op_pty_pair(void);
void op_pty(const struct step *s);
int relay_until_exit(pid_t child);

/* nsexec-seccomp.c: linux.seccomp's filter (compiled on the host by
 * tsrun-seccomp, PROGRAM sent after the plan), loaded late. */
void op_seccomp(const struct step *s, const char *program, size_t len);
void op_seccomp_load(const char *process_state, size_t len);
void seccomp_forget_listener(void);

#endif
