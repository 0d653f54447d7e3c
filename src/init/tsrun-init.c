/*
 * tsrun-init: the tiny PID 1 that tsrun runs in a container by default.
 *
 *   tsrun-init [-g] [-t GRACE_SECONDS] [-k KILL_AFTER_SECONDS] [-s] -- PROGRAM ARGS...
 *
 * Why a container needs this. The kernel treats the first process of a pid
 * namespace specially: a signal sent to it from inside the namespace is dropped
 * unless it has a handler (SIGKILL and SIGSTOP from inside are always dropped,
 * and from the parent namespace only those two get through to a handler-less
 * PID 1). Orphans in the namespace are reparented to it, so if it never calls
 * wait() they stay zombies forever. And when it exits, the kernel SIGKILLs every
 * other process in the namespace without warning. A program written as an
 * ordinary process does none of this right, so tsrun runs it as our child.
 *
 * Design.
 * - Every signal except SIGKILL/SIGSTOP is blocked (raw 64-bit mask, so musl's
 *   reserved 32..34 are blocked too) and taken synchronously with
 *   rt_sigtimedwait: no code runs in signal context, so there is nothing
 *   async-signal-unsafe. A no-op handler is still installed for each
 *   forwardable signal so SigCgt in /proc/1/status tells the truth, and because
 *   exec resets handled signals to SIG_DFL the child starts with defaults.
 * - Faults (SEGV, BUS, FPE, ILL, ABRT, TRAP, SYS) stay SIG_DFL. Blocking them is
 *   harmless: the kernel force-unblocks a fault it raises in us, so a real crash
 *   still crashes; one sent with kill() is queued and forwarded like any other.
 * - SIGCHLD is never forwarded: it only wakes the reaper. TSTP/TTIN/TTOU are
 *   forwarded and never stop us (they are blocked, and we never read the tty).
 * - Exit status is the main child's: its exit code, or 128+N for signal N.
 * - Graceful stop: once the main child is gone, SIGTERM (then SIGCONT, so a
 *   stopped process can run its handler) goes to everything left, we reap for
 *   up to the grace period (-t, default 1 s), then SIGKILL what remains, reap,
 *   and only then exit, so the kernel never kills anything that was not sent
 *   SIGTERM first.
 * - A SIGTERM from outside is forwarded, and then we wait: the caller (podman
 *   stop -t, the kubelet's grace period, ctr task kill) owns the stop timeout
 *   and sends SIGKILL itself when it runs out. Only -k makes us SIGKILL the
 *   child that long after a forwarded SIGTERM.
 * - kill(-1) reaches the whole namespace only from its PID 1; from any other
 *   pid it would hit the host. So when getpid() != 1 the "rest" is our own
 *   descendants, found by walking /proc ppid links, signalled via pidfd after a
 *   second ppid check so a recycled pid outside the tree is never hit.
 * - Our own failures (usage, fork) exit 125; the child's exec failure is 127
 *   (not found) or 126 (found, not runnable), as in POSIX shells.
 * No stdio and no malloc: every byte of text and every touched page counts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BIT(s) (1ULL << ((s) - 1))
#define FAULTS (BIT(SIGSEGV) | BIT(SIGBUS) | BIT(SIGFPE) | BIT(SIGILL) | \
		BIT(SIGABRT) | BIT(SIGTRAP) | BIT(SIGSYS))
#define MAXDESC 1024
/* raw syscalls where musl's wrapper would add code we do not need */
#define OPEN(path, flags) syscall(SYS_openat, AT_FDCWD, path, (flags) | O_CLOEXEC)
#define POLL_MS 25

static int child;		/* main child pid, 0 once reaped */
static int use_pgrp;		/* -g */
static int self;		/* our pid as we see it */

static void say(const char *a, const char *b, const char *c)
{
	const char *parts[] = { "tsrun-init: ", a, b, ": ", c, "\n" };
	char buf[512];
	size_t n = 0;

	for (unsigned i = 0; i < sizeof parts / sizeof *parts; i++)
		for (const char *p = parts[i]; *p && n < sizeof buf; p++)
			buf[n++] = *p;
	while (write(2, buf, n) < 0 && errno == EINTR)
		;
}

static void usage(void)
{
	say("usage", "", "tsrun-init [-g] [-t GRACE_SECONDS] [-k KILL_AFTER_SECONDS] [-s] -- PROGRAM ARGS...");
	_exit(125);
}

static long long now_ms(void)
{
	struct timespec ts;

	/* the raw syscall keeps musl's vDSO lookup code out of the binary */
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int sigmask64(int how, const unsigned long long *set, unsigned long long *old)
{
	return syscall(SYS_rt_sigprocmask, how, set, old, 8);
}

/* "5", "0", "0.5", "2.25": whole seconds plus up to millisecond precision */
static long long parse_grace(const char *s)
{
	long long ms = 0;
	int scale = 1000, digits = 0;

	for (; *s >= '0' && *s <= '9' && digits < 9; s++, digits++)
		ms = ms * 10 + (*s - '0');
	ms *= 1000;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, digits++)
			if ((scale /= 10) > 0)
				ms += (*s - '0') * scale;
	return *s || !digits ? -1 : ms;
}

/* Decimal prefix of s; *end (if given) gets the first non-digit. */
static int parse_num(const char *s, const char **end)
{
	int n = 0;

	for (; *s >= '0' && *s <= '9' && n < 100000000; s++)
		n = n * 10 + (*s - '0');
	if (end)
		*end = s;
	return n;
}

/* The ppid field of /proc/PID/stat, which follows the last ')' of comm. */
static int ppid_of(int pid)
{
	char path[32] = "/proc/", buf[512], tmp[12];
	int i = 0, n = 6, fd;
	ssize_t len;

	do
		tmp[i++] = '0' + pid % 10;
	while ((pid /= 10) > 0);
	while (i > 0)
		path[n++] = tmp[--i];
	memcpy(path + n, "/stat", 6);
	if ((fd = OPEN(path, O_RDONLY)) < 0)
		return -1;
	len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	const char *p = strrchr(buf, ')');
	/* ") S 123 ..." */
	if (!p || !p[1] || !p[2] || !p[3])
		return -1;
	return parse_num(p + 4, 0);
}

static int in_tree(int pid, const int *desc, int ndesc)
{
	if (pid == self)
		return 1;
	for (int i = 0; i < ndesc; i++)
		if (desc[i] == pid)
			return 1;
	return 0;
}

struct dent64 {
	unsigned long long ino;
	long long off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

/*
 * Signals every process whose ppid chain leads to us, for when we are not
 * PID 1 and kill(-1) would reach the host. Each pass over /proc adds the
 * children of what is already known, until a pass finds nothing new.
 */
static void signal_descendants(int sig)
{
	/* on the stack, not in .bss: only this rare path should touch the pages */
	int desc[MAXDESC], ndesc = 0;
	char buf[4096];
	long n;

	for (int grew = 1; grew;) {
		int fd = OPEN("/proc", O_RDONLY | O_DIRECTORY);

		if (fd < 0)
			return;
		grew = 0;
		while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
			for (long off = 0; off < n;) {
				struct dent64 *d = (struct dent64 *)(buf + off);
				const char *end;
				int pid = parse_num(d->name, &end);

				off += d->reclen;
				if (*end || pid <= 0 || in_tree(pid, desc, ndesc) || ndesc == MAXDESC)
					continue;
				if (in_tree(ppid_of(pid), desc, ndesc)) {
					desc[ndesc++] = pid;
					grew = 1;
				}
			}
		close(fd);
	}
	for (int i = 0; i < ndesc; i++) {
		/* pin the pid first, then check it is still ours: it may have been
		 * reaped and reused by an unrelated process since the walk */
		int fd = syscall(SYS_pidfd_open, desc[i], 0);

		if (fd < 0 && errno != ENOSYS)
			continue;
		if (in_tree(ppid_of(desc[i]), desc, ndesc)) {
			if (fd >= 0)
				syscall(SYS_pidfd_send_signal, fd, sig, 0, 0);
			else
				kill(desc[i], sig);
		}
		if (fd >= 0)
			close(fd);
	}
}

/* Everything but the main child: the whole namespace from PID 1, else our tree. */
static void signal_rest(int sig)
{
	if (self == 1)
		kill(-1, sig);
	else
		signal_descendants(sig);
}

static void forward(int sig)
{
	if (!use_pgrp || (kill(-child, sig) < 0 && errno == ESRCH))
		kill(child, sig);
}

static void on_signal(int sig)
{
}

/* Raw: an all-zero kernel sigaction is SIG_DFL on every architecture, and
 * musl's sigaction(SIGABRT) would touch a .rodata page we otherwise never do */
static void set_default(int sig)
{
	unsigned long dfl[8] = { 0 };

	syscall(SYS_rt_sigaction, sig, dfl, 0, 8);
}

static void run_child(char **argv, const unsigned long long *mask)
{
	if (use_pgrp) {
		setpgid(0, 0);
		/* SIGTTOU is still blocked here, so a background pgrp may do this;
		 * fails harmlessly (ENOTTY) when stdin is not our terminal */
		int pgrp = getpid();
		syscall(SYS_ioctl, 0, TIOCSPGRP, &pgrp);
	}
	/* SIG_DFL before unblocking, so a signal forwarded before exec gets the
	 * same default action it would get right after exec */
	for (int s = 1; s < 65; s++)
		set_default(s);
	sigmask64(SIG_SETMASK, mask, 0);
	execvp(argv[0], argv);
	int e = errno;
	say("exec ", argv[0], strerror(e));
	_exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

int main(int argc, char **argv)
{
	long long grace = 1000, kill_after = -1, deadline = -1;
	unsigned long long all = ~0ULL, orig;
	int subreaper = 0, code = 125, phase = 0, i = 1;
	struct sigaction sa = { .sa_handler = on_signal };

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		/* compared by hand, not with strcmp and literals: then a normal
		 * start never touches .rodata, one page less of RSS */
		if (a[1] == '-' && !a[2]) {
			i++;
			break;
		} else if (a[1] == 'g' && !a[2]) {
			use_pgrp = 1;
		} else if (a[1] == 's' && !a[2]) {
			subreaper = 1;
		} else if (a[1] == 't' || a[1] == 'k') {
			const char *v = a[2] ? a + 2 : i + 1 < argc ? argv[++i] : "";
			long long ms = parse_grace(v);

			if (ms < 0)
				usage();
			if (a[1] == 't')
				grace = ms;
			else
				kill_after = ms;
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();
	/* exec'd from a memfd, our comm is "memfd:tsrun-ini": take argv[0]'s
	 * basename, so ps and /proc/1/comm say what runs as PID 1 */
	const char *name = argv[0];
	for (const char *p = name; *p; p++)
		if (*p == '/')
			name = p + 1;
	syscall(SYS_prctl, PR_SET_NAME, name, 0, 0, 0);
	self = getpid();
	if (subreaper && self != 1)
		syscall(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	/* blocked before the handlers exist so nothing is delivered to them, and
	 * again after, as musl's first sigaction unblocks its internal signals */
	sigmask64(SIG_BLOCK, &all, &orig);
	for (int s = 1; s < 65; s++)
		if (BIT(s) & FAULTS)
			set_default(s);
		else
			sigaction(s, &sa, 0);
	sigmask64(SIG_BLOCK, &all, 0);

	/* raw fork: musl's fork() drags in its atfork and lock machinery, which a
	 * single-threaded program does not need (the child only execs) */
#ifdef SYS_fork
	child = syscall(SYS_fork);
#else
	child = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
	if (child < 0) {
		say("fork", "", strerror(errno));
		_exit(125);
	}
	if (child == 0)
		run_child(argv + i, &orig);
	if (use_pgrp)
		setpgid(child, child);	/* also here, so forward() cannot race it */

	/*
	 * phase 0: running; 1: SIGTERM forwarded, child has `kill_after` to exit;
	 * 2: child gone, rest sent SIGTERM; 3: rest sent SIGKILL
	 */
	for (;;) {
		int st, none = 0, pid;
		long long ms = -1;	/* how long to wait for a signal; -1 forever */

		while ((pid = waitpid(-1, &st, WNOHANG)) != 0) {
			if (pid < 0) {
				none = errno == ECHILD;
				break;
			}
			if (pid == child) {
				code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				child = 0;
			}
		}
		if (!child && phase < 2) {
			phase = 2;
			signal_rest(SIGTERM);
			signal_rest(SIGCONT);
			deadline = now_ms() + grace;
		}
		/* from PID 1, kill(-1, 0) fails only when no other process is left:
		 * covers those that joined with setns and are not our children */
		if (none && (phase == 3 || self != 1 || kill(-1, 0) < 0))
			_exit(code);
		if (deadline >= 0 && (ms = deadline - now_ms()) <= 0) {
			if (phase == 1) {
				forward(SIGKILL);
			} else {
				signal_rest(SIGKILL);
				phase = 3;
			}
			deadline = -1;
			continue;
		}
		/* polls: non-children cannot wake us with SIGCHLD, and in our tree a
		 * fork may slip past a /proc walk */
		if ((phase == 2 && none) || phase == 3) {
			if (phase == 3)
				signal_rest(SIGKILL);
			if (ms < 0 || ms > POLL_MS)
				ms = POLL_MS;
		}

		struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };
		int sig = syscall(SYS_rt_sigtimedwait, &all, 0, ms < 0 ? 0 : &ts, 8);

		/* once the main child is gone the stop is under way: nothing to forward to */
		if (sig <= 0 || sig == SIGCHLD || !child)
			continue;
		forward(sig);
		if (sig == SIGTERM && phase == 0 && kill_after >= 0) {
			phase = 1;
			deadline = now_ms() + kill_after;
		}
	}
}
