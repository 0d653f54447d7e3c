// The task service: each ttrpc method of containerd.task.v2.Task decoded,
// run against Tasks, and encoded back. RuntimeError codes become the gRPC
// codes containerd maps to its errdefs (NotFound, AlreadyExists,
// FailedPrecondition...), so ctr and the CRI react as they do to runc's shim.
import validateSchema from '../../build/config-validator.mjs';
import { resourceProblems } from '../runtime/cgroups/index.ts';
import { isRuntimeError, RuntimeError } from '../runtime/errors.ts';
import { OCI_VERSION, type Resources } from '../runtime/oci-types.ts';
import { formatSchemaErrors } from '../runtime/validate/schema-errors.ts';
import { decode, encode, timestamp, toAny } from './messages.ts';
import type { RootfsMount } from './rootfs.ts';
import type { ShimLog } from './shim-log.ts';
import { metrics } from './stats.ts';
import type { Container, Tasks } from './task.ts';
import { Code, TtrpcError, type Handler } from './ttrpc.ts';

export const TASK_SERVICE = 'containerd.task.v2.Task';
const STATUS = { created: 1, running: 2, stopped: 3, paused: 4 } as Record<string, number>;

const CODES: Record<string, number> = {
  ERR_NOT_FOUND: Code.NotFound, ERR_EXISTS: Code.AlreadyExists, ERR_STATUS: Code.FailedPrecondition, ERR_CREATING: Code.FailedPrecondition,
  ERR_CONFIG: Code.InvalidArgument, ERR_USAGE: Code.InvalidArgument, ERR_BAD_ID: Code.InvalidArgument, ERR_UNSUPPORTED: Code.Unimplemented,
};

type Req = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ServiceOptions {
  tasks: Tasks;
  /** The state root for containers whose create request names none. */
  defaultRoot: string;
  /** Shutdown with no containers left: the shim exits. */
  onIdle: () => void;
  /** Where stderr goes: each container's log FIFO in turn (shim-log.ts). */
  log?: ShimLog;
}

/** The container's cgroup, each exec's process with its exec id as runc's shim reports it (`ctr task ps` shows it). */
function processes(c: Container): { processes: object[] } {
  const execIds = new Map<number, string>();
  for (const [execId, p] of c.execs) if (p.pid && !p.exit) execIds.set(p.pid, execId);
  return {
    processes: c.cgroup().pids().map((pid) => {
      const execId = execIds.get(pid);
      return execId === undefined ? { pid } : { pid, info: toAny('containerd.runc.v1.ProcessDetails', 'containerd.task.v2.ProcessDetails', { exec_id: execId }) };
    }),
  };
}

export function taskHandler(opts: ServiceOptions): Handler {
  const { tasks } = opts;
  const methods: Record<string, [string, string, (r: Req) => Promise<object> | object]> = {
    Create: ['CreateTaskRequest', 'CreateTaskResponse', async (r) => {
      opts.log?.attach(r.bundle);
      try {
        return { pid: await tasks.create(createRequest(r, opts.defaultRoot)) };
      } catch (err) {
        if (!tasks.containers.has(r.id)) opts.log?.detach(r.bundle);
        throw err;
      }
    }],
    Start: ['StartRequest', 'StartResponse', async (r) => ({ pid: await tasks.start(r.id, r.exec_id) })],
    Delete: ['DeleteRequest', 'DeleteResponse', async (r) => {
      const bundle = r.exec_id ? undefined : tasks.containers.get(r.id)?.bundle;
      const reply = await tasks.delete(r.id, r.exec_id);
      if (bundle) opts.log?.detach(bundle);
      return reply;
    }],
    State: ['StateRequest', 'StateResponse', (r) => state(tasks.get(r.id), r.exec_id)],
    Wait: ['WaitRequest', 'WaitResponse', async (r) => {
      const exit = await tasks.get(r.id).proc(r.exec_id).exited;
      return { exit_status: exit.status, exited_at: timestamp(exit.at) };
    }],
    Kill: ['KillRequest', 'google.protobuf.Empty', (r) => (tasks.kill(r.id, r.exec_id, r.signal, r.all), {})],
    Exec: ['ExecProcessRequest', 'google.protobuf.Empty', (r) => {
      tasks.exec(r.id, r.exec_id, { terminal: r.terminal, stdin: r.stdin, stdout: r.stdout, stderr: r.stderr }, r.spec?.value ?? new Uint8Array());
      return {};
    }],
    Pids: ['PidsRequest', 'PidsResponse', (r) => processes(tasks.get(r.id))],
    Pause: ['PauseRequest', 'google.protobuf.Empty', (r) => (tasks.pause(r.id), {})],
    Resume: ['ResumeRequest', 'google.protobuf.Empty', (r) => (tasks.resume(r.id), {})],
    Checkpoint: ['CheckpointTaskRequest', 'google.protobuf.Empty', () => {
      throw new RuntimeError('ERR_UNSUPPORTED', 'checkpoint is not supported by tsrun (no CRIU integration)');
    }],
    ResizePty: ['ResizePtyRequest', 'google.protobuf.Empty', async (r) => (await tasks.get(r.id).proc(r.exec_id).resize(r.width, r.height), {})],
    CloseIO: ['CloseIORequest', 'google.protobuf.Empty', (r) => {
      if (r.stdin) tasks.get(r.id).proc(r.exec_id).io?.closeStdin();
      return {};
    }],
    Update: ['UpdateTaskRequest', 'google.protobuf.Empty', (r) => (update(tasks.get(r.id), r.resources?.value), {})],
    Stats: ['StatsRequest', 'StatsResponse', (r) => ({ stats: metrics(tasks.get(r.id).cgroup()) })],
    Connect: ['ConnectRequest', 'ConnectResponse', (r) => ({ shim_pid: process.pid, task_pid: tasks.containers.get(r.id)?.init.pid ?? 0, version: 'tsrun' })],
    Shutdown: ['ShutdownRequest', 'google.protobuf.Empty', () => {
      if (tasks.containers.size === 0) opts.onIdle();
      return {};
    }],
  };
  return async (service, method, payload) => {
    const m = service === TASK_SERVICE ? methods[method] : undefined;
    if (!m) throw new TtrpcError(Code.Unimplemented, `${service}/${method}: no such method in the tsrun shim`);
    const [reqType, resType, run] = m;
    let req: Req;
    try {
      req = decode(`containerd.task.v2.${reqType}`, payload);
    } catch (err) {
      throw new TtrpcError(Code.InvalidArgument, `${method}: malformed ${reqType}: ${(err as Error).message}`);
    }
    const t0 = performance.now();
    try {
      const res = await run(req);
      tasks.log.debug(`${method} ${req.id ?? ''} ${req.exec_id ?? ''}: ${(performance.now() - t0).toFixed(1)} ms`);
      return encode(resType.includes('.') ? resType : `containerd.task.v2.${resType}`, res);
    } catch (err) {
      if (err instanceof TtrpcError) throw err;
      if (isRuntimeError(err)) throw new TtrpcError(CODES[err.code] ?? Code.Unknown, err.line);
      tasks.log.error(`${method}: internal error: ${(err as Error)?.stack ?? String(err)}`);
      throw new TtrpcError(Code.Internal, `${method}: ${(err as Error)?.message ?? String(err)}`);
    }
  };
}

function createRequest(r: Req, defaultRoot: string) {
  let root = defaultRoot;
  let noPivot = false;
  if (r.options?.type_url) {
    if (!/(^|\/)containerd\.runc\.v1\.Options$/.test(r.options.type_url)) {
      throw new RuntimeError('ERR_CONFIG', `create options of type ${JSON.stringify(r.options.type_url)}: the tsrun shim takes containerd.runc.v1.Options`);
    }
    const o = decode('containerd.task.v2.RuncOptions', r.options.value);
    if (o.systemd_cgroup) throw new RuntimeError('ERR_UNSUPPORTED', 'options.SystemdCgroup: the systemd cgroup driver is not supported', { hint: 'tsrun manages cgroupfs directly' });
    for (const key of ['criu_path', 'criu_image_path', 'criu_work_path', 'shim_cgroup'] as const) {
      if (o[key]) throw new RuntimeError('ERR_UNSUPPORTED', `options.${key}: not supported by the tsrun shim`);
    }
    if (o.io_uid || o.io_gid) throw new RuntimeError('ERR_UNSUPPORTED', 'options.IoUid/IoGid: not supported by the tsrun shim');
    if (o.root) root = o.root as string;
    noPivot = o.no_pivot_root === true;
    // BinaryName and NoNewKeyring have no meaning here: the shim is the runtime, and tsrun never creates a session keyring.
  }
  if (r.checkpoint || r.parent_checkpoint) throw new RuntimeError('ERR_UNSUPPORTED', 'restoring from a checkpoint is not supported by tsrun');
  return {
    id: r.id as string, bundle: r.bundle as string, rootfs: r.rootfs as RootfsMount[], root, noPivot,
    terminal: r.terminal as boolean, stdin: r.stdin as string, stdout: r.stdout as string, stderr: r.stderr as string,
  };
}

function state(c: Container, execId: string): object {
  const p = c.proc(execId);
  let status: number;
  if (p.exit) status = STATUS.stopped!;
  else if (!p.started) status = STATUS.created!;
  else status = c.status() === 'paused' ? STATUS.paused! : STATUS.running!;
  return {
    id: execId || c.id, exec_id: execId, bundle: c.bundle, pid: p.pid, status,
    stdin: p.paths.stdin, stdout: p.paths.stdout, stderr: p.paths.stderr, terminal: p.paths.terminal,
    exit_status: p.exit?.status ?? 0, exited_at: p.exit ? timestamp(p.exit.at) : undefined,
  };
}

/** UpdateTaskRequest.resources: the container's linux.resources as JSON, as `tsrun update --resources` reads them. */
function update(c: Container, value: Uint8Array | undefined): void {
  if (!value?.length) return;
  let doc: Resources;
  try {
    doc = JSON.parse(Buffer.from(value).toString('utf8')) as Resources;
  } catch (err) {
    throw new RuntimeError('ERR_CONFIG', `update resources: invalid JSON: ${(err as Error).message}`);
  }
  if (!validateSchema({ ociVersion: OCI_VERSION, root: { path: 'rootfs' }, linux: { resources: doc } })) {
    throw new RuntimeError('ERR_CONFIG', `update resources: ${formatSchemaErrors(validateSchema.errors).join('; ')}`);
  }
  // As runc (and tsrun update): device rules are left alone on a live container.
  delete doc.devices;
  const status = c.status();
  if (status === 'stopped') throw new RuntimeError('ERR_STATUS', `cannot update container ${JSON.stringify(c.id)}: it is stopped`);
  const cg = c.cgroup();
  const problems = resourceProblems(doc, cg.version, 'update');
  if (problems.length) throw new RuntimeError('ERR_CONFIG', `cannot update container ${JSON.stringify(c.id)}: ${problems.join('; ')}`);
  cg.update(doc);
}
