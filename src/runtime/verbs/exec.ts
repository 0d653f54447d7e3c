// tsrun exec [options] ID COMMAND... | tsrun exec --process FILE ID
// Runs a process in a running container: all its namespaces, its cgroup, the
// process's user, capabilities, rlimits and no_new_privs. In the foreground
// it forwards signals and exits with the process's status; --detach returns
// once it was exec'd (with --pid-file written).
import { readFileSync, readlinkSync } from 'node:fs';
import validateSchema from '../../../build/config-validator.mjs';
import { loadContainer, requireStatus } from '../container.ts';
import { positional, stringOption, type Context } from '../context.ts';
import { SECCOMP_FILE, checkPidFileDir, selfJoinFiles, writePidFile } from '../create.ts';
import { RuntimeError } from '../errors.ts';
import { buildExecPlan, JOIN_ORDER } from '../exec-plan.ts';
import { ambientWarnings } from '../create-plan.ts';
import { forwardSignals } from '../forward-signals.ts';
import type { Process, Seccomp } from '../oci-types.ts';
import { seccompProcessState, withExactValues } from '../seccomp.ts';
import { hookState } from '../state-store.ts';
import { formatSchemaErrors } from '../validate/schema-errors.ts';
import { semanticProblems, userProblems } from '../validate/semantic.ts';
import { NsHelper } from '../../ns/helper.ts';
import { inUserNamespace } from '../paths.ts';
import { join, resolve } from 'node:path';

export default async function exec(ctx: Context): Promise<number> {
  const id = positional(ctx, 0, 'a container id');
  const c = loadContainer(ctx, id);
  requireStatus(id, c.status, ctx.options['ignore-paused'] ? ['running', 'paused'] : ['running'], 'exec in');
  const proc = execProcess(ctx, c.state.process);
  const pidFile = stringOption(ctx, 'pid-file');
  if (pidFile) checkPidFileDir(resolve(pidFile));
  const detach = ctx.options.detach === true;
  const consoleSocket = stringOption(ctx, 'console-socket');
  if (proc.terminal && !consoleSocket && detach) {
    throw new RuntimeError('ERR_USAGE', 'a detached exec with --tty needs --console-socket');
  }
  // The host's root joins the user namespace after the others (before the
  // mount namespace): it may join any of them, also one the container joined
  // that the host's user namespace owns (a pod's network), which it could not
  // once inside the container's. Anyone else needs the user namespace first.
  const hostRoot = process.geteuid!() === 0 && !inUserNamespace();
  const order = hostRoot ? [...JOIN_ORDER.filter((n) => n !== 'user' && n !== 'mnt'), 'user', 'mnt'] : JOIN_ORDER;
  const namespaces = order.flatMap((name): Array<[string, string]> => {
    const theirs = `/proc/${c.state.pid}/ns/${name}`;
    try {
      return readlinkSync(theirs) === readlinkSync(`/proc/self/ns/${name}`) ? [] : [[name, theirs]];
    } catch {
      return [];
    }
  });
  const cgroup = c.cgroup();
  const cgroupTasks = selfJoinFiles(cgroup);
  // A container without a mount namespace of its own was entered with chroot.
  const root = namespaces.some(([name]) => name === 'mnt') ? undefined : `/proc/${c.state.pid}/root`;
  const seccomp = containerSeccomp(ctx.store.dir(id));
  const plan = buildExecPlan({ process: proc, namespaces, consoleSocket, monitor: !detach, preserveFds: Number(ctx.options['preserve-fds'] ?? 0), cgroupTasks, root, personality: c.state.personality, seccomp });
  for (const w of ambientWarnings(proc)) ctx.log.warn(`warning: ${w}`);
  const helper = new NsHelper(plan, { preserveFds: Number(ctx.options['preserve-fds'] ?? 0), onDebug: (line) => ctx.log.debug(line) });
  const pid = Number(await helper.expect('pid'));
  if (cgroupTasks.length === 0) {
    try {
      cgroup.addProcess(pid);
    } catch (err) {
      process.kill(pid, 'SIGKILL');
      throw err;
    }
  }
  helper.sendGo('', '', seccompProcessState(seccomp, pid, hookState(c.state, 'running')));
  const stopForwarding = detach ? () => {} : forwardSignals(pid);
  await helper.expectExec();
  if (pidFile) writePidFile(resolve(pidFile), pid);
  if (detach) {
    helper.close();
    return 0;
  }
  const status = await helper.exited();
  stopForwarding();
  return status;
}

/** The container's linux.seccomp, which confines every process exec'd into it, as under runc. */
function containerSeccomp(dir: string): Seccomp | undefined {
  try {
    const text = readFileSync(join(dir, SECCOMP_FILE), 'utf8');
    return withExactValues<Seccomp>(JSON.parse(text) as Seccomp, text, (p) => p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RuntimeError('ERR_STATE', `container seccomp profile ${join(dir, SECCOMP_FILE)}: ${(err as Error).message}`);
  }
}

/** The process to run: --process FILE (validated like config.json's process), or
 *  the container's own process with the command line's args and overrides. */
function execProcess(ctx: Context, base: Process | undefined): Process {
  const file = stringOption(ctx, 'process');
  if (file) {
    let proc: unknown;
    try {
      proc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new RuntimeError('ERR_CONFIG', `process file ${JSON.stringify(file)}: ${(err as Error).message}`);
    }
    const wrapped = { ociVersion: '1.2.0', root: { path: '/' }, process: proc };
    if (!validateSchema(wrapped)) throw new RuntimeError('ERR_CONFIG', `process file ${JSON.stringify(file)}: ${formatSchemaErrors(validateSchema.errors).join('; ')}`);
    const problems = semanticProblems(wrapped as never, { rootfs: 'dir' });
    if (problems.length) throw new RuntimeError('ERR_CONFIG', `process file ${JSON.stringify(file)}: ${problems.join('; ')}`);
    return proc as Process;
  }
  const args = ctx.positionals.slice(1);
  if (args.length === 0) throw new RuntimeError('ERR_USAGE', '"tsrun exec" needs a command or --process FILE');
  const proc: Process = structuredClone(base ?? { user: { uid: 0, gid: 0 }, args, cwd: '/' });
  proc.args = args;
  proc.terminal = ctx.options.tty === true;
  const env = new Map((proc.env ?? []).map((e) => [e.split('=')[0]!, e] as const));
  for (const e of (ctx.options.env as string[] | undefined) ?? []) env.set(e.split('=')[0]!, e);
  proc.env = [...env.values()];
  const cwd = stringOption(ctx, 'cwd');
  if (cwd) proc.cwd = cwd;
  const user = stringOption(ctx, 'user');
  if (user) {
    const m = /^(\d+)(?::(\d+))?$/.exec(user);
    if (!m) throw new RuntimeError('ERR_USAGE', `--user ${JSON.stringify(user)}: use uid[:gid] (numbers)`);
    proc.user = { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
  }
  const gids = (ctx.options['additional-gids'] as string[] | undefined) ?? [];
  if (gids.length) proc.user.additionalGids = gids.map(Number);
  const caps = (ctx.options.cap as string[] | undefined) ?? [];
  if (caps.length) {
    const sets = proc.capabilities ?? {};
    for (const key of ['bounding', 'effective', 'permitted', 'inheritable'] as const) sets[key] = [...new Set([...(sets[key] ?? []), ...caps])];
    proc.capabilities = sets;
  }
  if (ctx.options['no-new-privs'] === true) proc.noNewPrivileges = true;
  const badIds = userProblems(proc.user);
  if (badIds.length) throw new RuntimeError('ERR_USAGE', `--user/--additional-gids: ${badIds.join('; ')}`);
  return proc;
}
