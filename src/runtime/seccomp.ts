// linux.seccomp: checked here, with the JSON path of anything refused, and
// encoded for tsrun-seccomp (src/ns/seccomp-compile.c), where libseccomp
// compiles the rules to BPF, and for the two plan steps of
// src/ns/nsexec-seccomp.c, where seccomp(2) loads the program.
//
// Compiled on the host, before tsrun-nsexec starts (NsHelper asks the plan's
// seccomp step for its program), and never inside the container's
// namespaces: no host binary is started from there. A compiled profile is
// cached by content in build/.seccomp-cache, read here, so a cache hit costs
// no process; tsrun-seccomp runs only on a miss (~15 ms of libseccomp for
// podman's default profile on three architectures), and writes the cache.
//
// When the filter is loaded decides which of tsrun's own syscalls must get
// through it (runc's order, standard_init_linux.go):
// - without noNewPrivileges, loading a filter needs CAP_SYS_ADMIN, so it is
//   loaded before `identity` drops capabilities; setuid/capset, chdir, the
//   program lookup, the start barrier's accept4/write, startContainer hooks
//   and exec then run under it, as their equivalents do under runc.
// - with noNewPrivileges, it is loaded last, after the start barrier and the
//   startContainer hooks, right before exec: tsrun itself then makes only
//   execve (execveat of tsrun-init's memfd when tsrun-init is PID 1), and,
//   for a notify listener, one sendmsg and close under the filter. A strict
//   profile needs to allow no more than the program itself uses, plus those.
// Either way the profile is compiled before the helper starts and its
// listener reached before pivot_root, so a profile libseccomp refuses fails
// `create`, not `start`; and tsrun-init, the container's PID 1, is confined
// like the program it starts (a process of the container may ptrace PID 1,
// so an unconfined PID 1 would be a way out).
//
// Kept cheap, with no heavy imports: `create` of a config with podman's
// default profile (~440 syscall names in 22 rules) runs this on its hot path.
import { spawnSync } from 'node:child_process';
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RuntimeError } from './errors.ts';
import { BUILD_DIR, helperPath } from './paths.ts';
import type { Process, Seccomp } from './oci-types.ts';
import { errnoText } from '../ns/errno.ts';
import { step, type PlanStep } from '../ns/plan.ts';

/** libseccomp's action values (seccomp.h); ERRNO and TRACE carry a 16-bit errno. */
export const SECCOMP_ACTIONS: Record<string, number> = {
  SCMP_ACT_KILL: 0x00000000, // as runc: KILL is KILL_THREAD
  SCMP_ACT_KILL_THREAD: 0x00000000,
  SCMP_ACT_KILL_PROCESS: 0x80000000,
  SCMP_ACT_TRAP: 0x00030000,
  SCMP_ACT_ERRNO: 0x00050000,
  SCMP_ACT_TRACE: 0x7ff00000,
  SCMP_ACT_LOG: 0x7ffc0000,
  SCMP_ACT_ALLOW: 0x7fff0000,
  SCMP_ACT_NOTIFY: 0x7fc00000,
};
const TAKES_ERRNO = new Set(['SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE']);
const EPERM = 1;

/** enum scmp_compare. */
export const SECCOMP_OPERATORS: Record<string, number> = {
  SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7,
};

/** The kernel's filter flags. TSYNC has nothing to synchronise: the helper is single-threaded (runc ignores it too). */
export const SECCOMP_FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: 0,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};

/** The architectures libseccomp 2.5 knows, by the names seccomp_arch_resolve_name() takes.
 *  LOONGARCH64, M68K, SH and SHEB came with libseccomp 2.6. */
export const SECCOMP_ARCHS: Record<string, string> = {
  SCMP_ARCH_X86: 'x86', SCMP_ARCH_X86_64: 'x86_64', SCMP_ARCH_X32: 'x32', SCMP_ARCH_ARM: 'arm', SCMP_ARCH_AARCH64: 'aarch64',
  SCMP_ARCH_MIPS: 'mips', SCMP_ARCH_MIPS64: 'mips64', SCMP_ARCH_MIPS64N32: 'mips64n32', SCMP_ARCH_MIPSEL: 'mipsel',
  SCMP_ARCH_MIPSEL64: 'mipsel64', SCMP_ARCH_MIPSEL64N32: 'mipsel64n32', SCMP_ARCH_PPC: 'ppc', SCMP_ARCH_PPC64: 'ppc64',
  SCMP_ARCH_PPC64LE: 'ppc64le', SCMP_ARCH_S390: 's390', SCMP_ARCH_S390X: 's390x', SCMP_ARCH_PARISC: 'parisc',
  SCMP_ARCH_PARISC64: 'parisc64', SCMP_ARCH_RISCV64: 'riscv64',
};

const SYSCALL_NAME = /^[a-z0-9_]+$/;

/** Compiled profiles, by their content (seccomp-compile.c has the format); scripts/build.mjs empties it. */
export const SECCOMP_CACHE_DIR = join(BUILD_DIR, '.seccomp-cache');

function refuse(path: string, reason: string): never {
  throw new RuntimeError('ERR_CONFIG', `${path}: ${reason}`);
}

function actionValue(action: string, errnoRet: number | undefined, at: string, errnoField: string): number {
  const base = SECCOMP_ACTIONS[action];
  if (base === undefined) refuse(at, `unknown seccomp action ${JSON.stringify(action)}`);
  if (!TAKES_ERRNO.has(action)) {
    if (errnoRet !== undefined) refuse(errnoField, `${action} returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)`);
    return base;
  }
  const errno = errnoRet ?? EPERM;
  if (!Number.isInteger(errno) || errno < 0 || errno > 0xffff) refuse(errnoField, `${errno} does not fit the filter's 16-bit return value`);
  return (base | errno) >>> 0;
}

const UINT64_MAX = 0xffffffffffffffffn;

function exact(value: number | bigint | undefined, at: string): string {
  if (value === undefined) return '0';
  if (typeof value === 'bigint' ? value < 0n || value > UINT64_MAX : !Number.isSafeInteger(value) || value < 0) {
    refuse(at, `${value} is not a 64-bit unsigned integer`);
  }
  return String(value);
}

const unsafe = (v: number | bigint | undefined): boolean => typeof v === 'number' && !Number.isSafeInteger(v);

/** JSON.parse rounds integers above 2^53 (a uint64 argument value may be up to
 *  2^64-1): when the profile has one, `text` is parsed again with each such
 *  number read exactly from its source digits, as a bigint. Rare, so the
 *  common path pays one scan of the rules. */
export function withExactValues<T>(profile: Seccomp | undefined, text: string, pick: (parsed: T) => Seccomp | undefined): Seccomp | undefined {
  if (!profile?.syscalls?.some((c) => c.args?.some((a) => unsafe(a.value) || unsafe(a.valueTwo)))) return profile;
  const reviver = (_key: string, v: unknown, context?: { source?: string }): unknown =>
    (typeof v === 'number' && !Number.isSafeInteger(v) && context?.source && /^\d+$/.test(context.source) ? BigInt(context.source) : v);
  return pick(JSON.parse(text, reviver as (key: string, value: unknown) => unknown) as T);
}

/** The profile as JSON, bigints as their exact digits (for `exec`, see create.ts). */
export function stringifyProfile(profile: Seccomp): string {
  const raw = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;
  return JSON.stringify(profile, (_key, v: unknown) => (typeof v === 'bigint' ? raw(String(v)) : v));
}

/** The profile, checked, as tsrun-seccomp takes it (DEFAULT, ARCHS and the
 *  RULEs, see seccomp-compile.c) and as tsrun-nsexec's `seccomp` step loads it. */
export interface SeccompEncoding {
  defaultAction: number;
  /** The kernel's filter flags, or 'default' (SPEC_ALLOW where the kernel has it). */
  flags: number | 'default';
  /** libseccomp arch names, joined by ",". */
  archs: string;
  rules: string[];
  /** A rule is SCMP_ACT_NOTIFY: the filter gets a listener fd. */
  notify: boolean;
  listener: string;
}

export function encodeSeccomp(profile: Seccomp): SeccompEncoding {
  const at = '/linux/seccomp';
  const defaultAction = actionValue(profile.defaultAction, profile.defaultErrnoRet, `${at}/defaultAction`, `${at}/defaultErrnoRet`);
  if (profile.defaultAction === 'SCMP_ACT_NOTIFY') {
    refuse(`${at}/defaultAction`, 'SCMP_ACT_NOTIFY cannot be the default action: tsrun itself must get its syscalls through to hand the listener its fd');
  }
  let flags: number | 'default' = 'default';
  if (profile.flags) {
    flags = 0;
    profile.flags.forEach((f, i) => {
      const bit = SECCOMP_FLAGS[f];
      if (bit === undefined) refuse(`${at}/flags/${i}`, `unknown seccomp flag ${JSON.stringify(f)}`);
      flags = (flags as number) | bit;
    });
  }
  const archs = (profile.architectures ?? []).map((a, i) => {
    const name = SECCOMP_ARCHS[a];
    if (!name) refuse(`${at}/architectures/${i}`, `${JSON.stringify(a)} is not an architecture this tsrun's libseccomp (2.5) knows`);
    return name;
  });
  if (profile.listenerMetadata !== undefined && !profile.listenerPath) {
    refuse(`${at}/listenerMetadata`, 'is only sent to a listener: set listenerPath too (the runtime-spec forbids it alone)');
  }
  const rules: string[] = [];
  let notify = false;
  (profile.syscalls ?? []).forEach((call, i) => {
    const here = `${at}/syscalls/${i}`;
    const action = actionValue(call.action, call.errnoRet, `${here}/action`, `${here}/errnoRet`);
    call.names.forEach((name, j) => {
      if (!SYSCALL_NAME.test(name)) refuse(`${here}/names/${j}`, `${JSON.stringify(name)} is not a syscall name`);
    });
    if (call.action === 'SCMP_ACT_NOTIFY') {
      notify = true;
      const j = call.names.indexOf('sendmsg');
      if (j >= 0) refuse(`${here}/names/${j}`, 'SCMP_ACT_NOTIFY cannot apply to sendmsg: tsrun sends the listener its fd with sendmsg after loading the filter');
    }
    const names = call.names.join(',');
    // As runc: a rule that does what the default does is left out (libseccomp
    // would refuse it), but its names still count for the -ENOSYS stub.
    if (action === defaultAction) {
      rules.push(`${i} - ${names}`);
      return;
    }
    const conds = (call.args ?? []).map((a, k) => {
      const there = `${here}/args/${k}`;
      if (!Number.isInteger(a.index) || a.index > 5) refuse(`${there}/index`, `${a.index} is not a syscall argument (0 to 5)`);
      const op = SECCOMP_OPERATORS[a.op];
      if (op === undefined) refuse(`${there}/op`, `unknown seccomp operator ${JSON.stringify(a.op)}`);
      return { index: a.index, text: `${a.index}:${op}:${exact(a.value, `${there}/value`)}:${exact(a.valueTwo, `${there}/valueTwo`)}` };
    });
    // As runc: conditions on distinct arguments make one rule (all must match);
    // two on the same argument cannot, so each becomes a rule of its own.
    const indexes = new Set(conds.map((c) => c.index));
    if (indexes.size === conds.length) rules.push(`${i} ${action} ${names}${conds.map((c) => ` ${c.text}`).join('')}`);
    else for (const c of conds) rules.push(`${i} ${action} ${names} ${c.text}`);
  });
  let listener = '';
  if (notify) {
    if (!profile.listenerPath) refuse(`${at}/listenerPath`, 'SCMP_ACT_NOTIFY needs a listener: set listenerPath to the unix socket of the seccomp agent');
    listener = resolve(profile.listenerPath);
  }
  return { defaultAction, flags, archs: archs.join(','), rules, notify, listener };
}

/** What tsrun-seccomp reads on stdin, and the cache's key: one line each. */
export function seccompKey(e: SeccompEncoding): string {
  return `${e.defaultAction}\n${e.archs}\n${e.rules.map((r) => `${r}\n`).join('')}`;
}

/** The `seccomp` step: the profile checked now; its program compiled (or
 *  read from the cache) when the helper starts, and sent after the plan. */
export function seccompSteps(profile: Seccomp | undefined): PlanStep[] {
  if (!profile) return [];
  const e = encodeSeccomp(profile);
  const key = seccompKey(e);
  return [step('seccomp', [e.flags, e.notify ? 1 : 0, e.listener], {
    what: 'set up the seccomp filter',
    hostInput: (debug) => seccompProgram(key, e.rules.length, debug),
  })];
}

/** Where the compiler and the cache are; tests point them elsewhere. */
export interface SeccompCompiler {
  compiler: string;
  cacheDir: string;
}

/** The BPF program for KEY: from the cache, or compiled by tsrun-seccomp (which caches it). */
export function seccompProgram(key: string, rules: number, debug: (line: string) => void,
  where: SeccompCompiler = { compiler: helperPath('tsrun-seccomp'), cacheDir: SECCOMP_CACHE_DIR }): Buffer {
  const started = process.hrtime.bigint(); // performance.now() would load perf_hooks (~1.5 ms cold)
  const file = join(where.cacheDir, `${cacheName(key)}.bpf`);
  let compiled = readCached(file, key);
  const from = compiled ? 'from the cache' : 'compiled by libseccomp';
  if (!compiled) {
    const r = spawnSync(where.compiler, ['compile', file], { input: key, maxBuffer: 1 << 26 });
    if (r.error) throw new RuntimeError('ERR_HELPER', `cannot run ${where.compiler}: ${r.error.message}`, { op: 'seccomp' });
    if (r.status !== 0) throw compileError(r.stderr.toString(), r.signal);
    compiled = parseCompiled(r.stdout, key);
    if (!compiled) throw new RuntimeError('ERR_HELPER', `${where.compiler} wrote no program for the seccomp profile`, { op: 'seccomp' });
  }
  for (const line of compiled.debug.split('\n')) if (line) debug(line.replace(/^debug /, ''));
  debug(`seccomp: ${rules} rules, ${compiled.program.length / 8} BPF instructions, ${from} in ${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(2)} ms`);
  return compiled.program;
}

/** "error ERRNO TEXT" from tsrun-seccomp; a TEXT starting with "!" names the JSON path. */
function compileError(stderr: string, signal: NodeJS.Signals | null): RuntimeError {
  const m = /^error (\d+) (.*)$/m.exec(stderr);
  if (!m) return new RuntimeError('ERR_HELPER', `compile the seccomp profile: tsrun-seccomp failed${signal ? ` (killed by ${signal})` : ''}: ${stderr.trim()}`, { op: 'seccomp' });
  const errno = Number(m[1]);
  const text = m[2]!;
  return new RuntimeError('ERR_SETUP', `compile the seccomp profile: ${text.startsWith('!') ? text.slice(1) : `${text}: ${errnoText(errno)}`}`, { errno, op: 'seccomp' });
}

interface Compiled {
  debug: string;
  program: Buffer;
}

/** The cache file, if it is this profile's and ours (root's or our own: another
 *  user could have put a weaker program there). Any doubt is a miss. */
function readCached(file: string, key: string): Compiled | undefined {
  let fd: number;
  try {
    fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || (st.uid !== 0 && st.uid !== process.geteuid?.()) || st.size > 1 << 22) return undefined;
    const buf = Buffer.allocUnsafe(st.size);
    let got = 0;
    for (let n; got < buf.length && (n = readSync(fd, buf, got, buf.length - got, got)) > 0;) got += n;
    return got === buf.length ? parseCompiled(buf, key) : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** "tsrun-seccomp-bpf 2 <libseccomp version> <key bytes> <debug bytes> <insns>\n" KEY DEBUG BPF. */
function parseCompiled(buf: Buffer, key: string): Compiled | undefined {
  const nl = buf.indexOf(10);
  const m = nl > 0 ? /^tsrun-seccomp-bpf 2 \S+ (\d+) (\d+) (\d+)$/.exec(buf.toString('latin1', 0, nl)) : null;
  if (!m) return undefined;
  const [keyLen, debugLen, insns] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const keyAt = nl + 1, debugAt = keyAt + keyLen, programAt = debugAt + debugLen;
  if (keyLen !== key.length || insns < 1 || insns > 4096 || buf.length !== programAt + insns * 8) return undefined;
  if (buf.toString('latin1', keyAt, debugAt) !== key) return undefined;
  return { debug: buf.toString('utf8', debugAt, programAt), program: buf.subarray(programAt) };
}

/** The cache file's name: two 32-bit multiplicative hashes of the key read
 *  as 32-bit words (a 64-bit FNV-1a, char by char, took ~1.7 ms of a cold
 *  create here for podman's ~5 kB key). Not a strong hash, and need not be:
 *  the key itself is compared, so a collision costs only a compilation. */
function cacheName(key: string): string {
  const bytes = new Uint8Array((key.length + 3) & ~3);
  bytes.set(Buffer.from(key, 'latin1'));
  const words = new Uint32Array(bytes.buffer);
  let a = 0x811c9dc5 ^ key.length, b = 0x27d4eb2f;
  for (let i = 0; i < words.length; i++) {
    a = Math.imul(a ^ words[i]!, 0x01000193);
    b = Math.imul(b ^ words[i]!, 0x5bd1e995) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** The `seccomp-load` step, placed by `when` (see the top of this file). */
export function seccompLoadSteps(profile: Seccomp | undefined, proc: Pick<Process, 'noNewPrivileges'>, when: 'before-identity' | 'before-exec'): PlanStep[] {
  if (!profile) return [];
  const late = proc.noNewPrivileges === true;
  if (late !== (when === 'before-exec')) return [];
  return [step('seccomp-load', [], { what: 'load the seccomp filter' })];
}

/** What a notify listener receives with the fd (config-linux.md, "The Container
 *  Process State"), or '' when the profile has no listener to send it to. */
export function seccompProcessState(profile: Seccomp | undefined, pid: number, state: object): string {
  if (!profile?.listenerPath || !profile.syscalls?.some((s) => s.action === 'SCMP_ACT_NOTIFY')) return '';
  const ociVersion = (state as { ociVersion?: string }).ociVersion ?? '1.2.0';
  const metadata = profile.listenerMetadata ? { metadata: profile.listenerMetadata } : {};
  return JSON.stringify({ ociVersion, fds: ['seccompFd'], pid, ...metadata, state });
}
