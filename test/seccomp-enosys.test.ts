// The -ENOSYS stub before a profile's filter (src/ns/seccomp-enosys.c), as
// runc's: against the real kernel, a static probe makes raw syscalls under a
// profile whose default is EPERM. A number above the largest the profile
// names gets ENOSYS (so a newer libc falls back), one below it that the
// profile does not name still gets EPERM, a named one keeps its action, and
// names whose rule does what the default does count for "largest" too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { leftovers, sandbox, uniqueId } from './lib/tsrun.ts';
import type { Seccomp } from '../src/runtime/oci-types.ts';

const sb = sandbox();
const dir = mkdtempSync(join(tmpdir(), 'tsrun-enosys-'));
test.after(async () => {
  await sb.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

// Each argument a syscall number, made with zero arguments; prints what came back.
const probe = join(dir, 'probe');
writeFileSync(`${probe}.c`, `#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    long rc = syscall(atol(argv[i]), 0, 0, 0, 0, 0, 0);
    printf("%s: %s\\n", argv[i], rc < 0 ? strerror(errno) : "ok");
  }
  return 0;
}
`);
execFileSync('gcc', ['-static', '-O2', '-o', probe, `${probe}.c`]);

// What tsrun-nsexec (after loading the filter) and a static binary need; the largest is close_range (436).
const allowed = ['read', 'write', 'writev', 'openat', 'close', 'close_range', 'execve', 'execveat', 'exit', 'exit_group', 'brk',
  'mmap', 'munmap', 'mprotect', 'arch_prctl', 'set_tid_address', 'set_robust_list', 'rseq', 'prlimit64', 'newfstatat',
  'fstat', 'getpid', 'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'ioctl', 'fcntl', 'dup2', 'dup3', 'uname',
  'readlink', 'readlinkat', 'getuid', 'geteuid', 'getgid', 'getegid', 'capget', 'capset', 'prctl', 'setgroups',
  'setuid', 'setgid', 'setresuid', 'setresgid', 'chdir', 'fchdir', 'getrandom', 'sendmsg', 'recvmsg', 'poll',
  'ppoll', 'futex', 'getcwd', 'kill', 'tgkill', 'gettid', 'sigaltstack', 'umask', 'access', 'faccessat',
  'faccessat2', 'lseek', 'pread64', 'seccomp', 'statx', 'wait4', 'getppid', 'setsid', 'getpgrp', 'setpgid',
  'clone', 'clone3', 'fork', 'vfork', 'waitid', 'signalfd4', 'epoll_create1', 'epoll_ctl', 'epoll_wait', 'epoll_pwait',
  'pidfd_open', 'pidfd_send_signal', 'select', 'pselect6', 'pause', 'nanosleep', 'clock_nanosleep', 'socket', 'connect'];
const X86_64 = { getpid: 39, add_key: 248, faccessat2: 439, process_madvise: 440, epoll_pwait2: 441, futex_waitv: 449, set_mempolicy_home_node: 450, fchmodat2: 452 };

async function probeUnder(seccomp: Seccomp, numbers: number[]): Promise<Map<number, string>> {
  const bundle = sb.bundle((c) => {
    c.process!.args = ['/probe', ...numbers.map(String)];
    c.mounts!.push({ destination: '/probe', type: 'bind', source: probe, options: ['ro', 'bind'] });
    c.linux!.seccomp = seccomp;
  });
  const r = await sb.tsrun(['run', '--bundle', bundle, uniqueId('enosys')]);
  assert.is(r.exitCode, 0, r.stderr);
  return new Map(r.stdout.trim().split('\n').map((l) => l.split(': ') as [string, string]).map(([n, e]) => [Number(n), e]));
}

test('EPERM default: above the largest named syscall ENOSYS, an unnamed one below it EPERM, a named one its action', async () => {
  const profile: Seccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: allowed, action: 'SCMP_ACT_ALLOW' },
      { names: ['process_madvise'], action: 'SCMP_ACT_ERRNO', errnoRet: 18 },
    ],
  };
  const got = await probeUnder(profile, [X86_64.getpid, X86_64.add_key, X86_64.process_madvise, X86_64.epoll_pwait2, X86_64.fchmodat2, 1000]);
  assert.is(got.get(X86_64.getpid), 'ok');
  assert.is(got.get(X86_64.add_key), 'Operation not permitted'); // known, unnamed, below 440
  assert.is(got.get(X86_64.process_madvise), 'Invalid cross-device link'); // its own errnoRet (EXDEV)
  assert.is(got.get(X86_64.epoll_pwait2), 'Function not implemented'); // newer than the profile
  assert.is(got.get(X86_64.fchmodat2), 'Function not implemented');
  assert.is(got.get(1000), 'Function not implemented'); // a number no kernel has
});

test('a rule doing what the default does is left to the default but still counts as the largest named syscall', async () => {
  const profile: Seccomp = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: allowed, action: 'SCMP_ACT_ALLOW' },
      { names: ['futex_waitv'], action: 'SCMP_ACT_ERRNO' },
    ],
  };
  const got = await probeUnder(profile, [X86_64.epoll_pwait2, X86_64.futex_waitv, X86_64.set_mempolicy_home_node]);
  assert.is(got.get(X86_64.epoll_pwait2), 'Operation not permitted');
  assert.is(got.get(X86_64.futex_waitv), 'Operation not permitted');
  assert.is(got.get(X86_64.set_mempolicy_home_node), 'Function not implemented');
});

test('no stub where the default lets calls through or is ENOSYS already: SCMP_ACT_LOG, errnoRet 38', async () => {
  const log = await probeUnder({ defaultAction: 'SCMP_ACT_LOG', syscalls: [{ names: ['add_key'], action: 'SCMP_ACT_ERRNO' }] }, [X86_64.fchmodat2, X86_64.add_key]);
  assert.is(log.get(X86_64.fchmodat2), 'Bad address'); // the kernel's own answer to fchmodat2(0, NULL...)
  assert.is(log.get(X86_64.add_key), 'Operation not permitted');
  const enosys = await probeUnder({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, syscalls: [{ names: allowed, action: 'SCMP_ACT_ALLOW' }] }, [X86_64.add_key, X86_64.fchmodat2]);
  assert.is(enosys.get(X86_64.add_key), 'Function not implemented');
  assert.is(enosys.get(X86_64.fchmodat2), 'Function not implemented');
});

test('leftovers: nothing remains', () => {
  assert.equal(leftovers(sb.root), []);
});

test.run();
