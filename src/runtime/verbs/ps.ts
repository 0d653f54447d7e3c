// tsrun ps [--format table|json] ID [PS-ARGS...]: the processes of the
// container's cgroup. json is a bare array of host pids, what containerd's
// go-runc Ps decodes; table runs the host's ps (default -ef, or the
// arguments after the id, as runc does) and keeps the header plus the rows
// whose PID is in the cgroup. A stopped container lists whatever is left in
// its cgroup, normally nothing.
import { spawnSync } from 'node:child_process';
import { loadContainer } from '../container.ts';
import { positional, type Context } from '../context.ts';
import { RuntimeError } from '../errors.ts';

export default async function ps(ctx: Context): Promise<number> {
  const id = positional(ctx, 0, 'a container id');
  const pids = loadContainer(ctx, id).cgroup().pids();
  if (ctx.options.format === 'json') {
    process.stdout.write(`${JSON.stringify(pids)}\n`);
    return 0;
  }
  const args = ctx.positionals.length > 1 ? ctx.positionals.slice(1) : ['-ef'];
  process.stdout.write(filterPsOutput(runPs(args), new Set(pids)));
  return 0;
}

function runPs(args: string[]): string {
  const r = spawnSync('ps', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new RuntimeError('ERR_PS', `run ps ${args.join(' ')}: ${code?.toLowerCase() ?? r.error.message}`, {
      hint: code === 'ENOENT' ? 'install procps, or use --format json' : undefined,
    });
  }
  if (r.status !== 0) {
    throw new RuntimeError('ERR_PS', `ps ${args.join(' ')} exited with status ${r.status}: ${`${r.stderr}${r.stdout}`.trim()}`);
  }
  return r.stdout;
}

/** The header and the rows whose PID column is one of `pids`. Pure. */
export function filterPsOutput(output: string, pids: Set<number>): string {
  const [header = '', ...rows] = output.split('\n');
  const col = header.trim().split(/\s+/).indexOf('PID');
  if (col < 0) {
    throw new RuntimeError('ERR_PS', `ps printed no PID column: ${JSON.stringify(header)}`, { hint: 'keep pid in the ps output format' });
  }
  const kept = rows.filter((row) => {
    const field = row.trim().split(/\s+/)[col];
    return field !== undefined && pids.has(Number(field));
  });
  return [header, ...kept].map((l) => `${l}\n`).join('');
}
