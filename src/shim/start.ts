// The `start` action (protocol in main.ts): find or start the daemon of this
// container's group and print its address. Kept free of the daemon's modules
// (protobuf, the runtime): it runs once per container, on containerd's clock.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { ShimFlags } from './main.ts';

export const GROUP_ANNOTATIONS = ['io.kubernetes.cri.sandbox-id', 'io.containerd.runc.v2.group'];
const SOCKET_DIR = '/run/containerd/s';

export function socketPath(address: string, namespace: string, group: string): string {
  return join(SOCKET_DIR, createHash('sha256').update(join(address, namespace, group, 'tsrun')).digest('hex'));
}

export function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ path });
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

export function groupOf(bundle: string, id: string): string {
  try {
    const annotations = (JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { annotations?: Record<string, string> }).annotations ?? {};
    for (const key of GROUP_ANNOTATIONS) if (annotations[key]) return annotations[key];
  } catch {
    // no readable config: the container is its own group, and Create reports the config's problem
  }
  return id;
}

export async function startAction(flags: ShimFlags): Promise<number> {
  const bundle = process.cwd();
  const socket = socketPath(flags.address, flags.namespace, groupOf(bundle, flags.id));
  const address = `unix://${socket}`;
  if (!(await canConnect(socket))) {
    rmSync(socket, { force: true });
    mkdirSync(SOCKET_DIR, { recursive: true, mode: 0o700 });
    const log = openSync(join(bundle, 'shim.log'), 'a');
    const args = [process.argv[1]!, '-namespace', flags.namespace, '-address', flags.address, '-id', flags.id, '-socket', socket, ...(flags.debug ? ['-debug'] : []), 'serve'];
    const daemon = spawn(process.execPath, [...process.execArgv, ...args], { cwd: bundle, detached: true, stdio: ['ignore', 'pipe', log] });
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      daemon.stdout!.setEncoding('utf8');
      daemon.stdout!.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\n')) resolve(text);
      });
      daemon.stdout!.on('end', () => resolve(text));
      daemon.on('error', (err) => resolve(`error ${err.message}\n`));
    });
    if (!answer.startsWith('ready')) {
      process.stderr.write(`containerd-shim-tsrun-v2: the shim daemon did not start: ${answer.trim() || 'it exited'} (see ${join(bundle, 'shim.log')})\n`);
      return 1;
    }
    daemon.unref();
    daemon.stdout!.destroy();
  }
  writeFileSync(join(bundle, 'address'), address);
  process.stdout.write(address);
  return 0;
}
