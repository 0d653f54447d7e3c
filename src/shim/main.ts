// containerd-shim-tsrun-v2: the containerd runtime v2 shim of tsrun (runtime
// type io.containerd.tsrun.v2). One long-lived Node process per group serves
// containerd's task API and runs the containers in-process, so no runtime
// call pays a Node start-up. This comment is the protocol, once.
//
// Groups. A pod's containers (annotation io.kubernetes.cri.sandbox-id, or
// io.containerd.runc.v2.group) share the pod's shim, as with runc's shim, and
// it exits with the pod's last container. Every other container of a
// containerd namespace shares the namespace's shim: a Node process costs
// ~20-80 ms to start and ~50 MB, where runc's Go shim costs ~5 ms and ~13 MB,
// so a shim per container would make each one pay that. The namespace's shim
// stays TSRUN_SHIM_IDLE seconds (containerd's environment; default 60, 0:
// exit at once) after its last container, and exits at once when containerd
// goes away. To run a container in a shim of its own, give it a group of its
// own: --annotation io.containerd.runc.v2.group=ITS-ID.
//
//  containerd                   bin/containerd-shim-tsrun-v2 (sh)   Node: start.ts, then daemon.ts
//  ──────────                   ─────────────────────────────────   ──────────────────────────────
//  cwd=BUNDLE, TTRPC_ADDRESS=..., runtime options (an Any) on stdin
//  BIN -namespace NS -address A
//      -publish-binary P -id ID start ──▶ mkfifo; setsid node ... start ──▶ group = config.json annotation
//                                          > FIFO &                           io.kubernetes.cri.sandbox-id (or
//                                                                             io.containerd.runc.v2.group), else ''
//                                                                             (the namespace's shim)
//                                                                           S = /run/containerd/s/sha256(A/NS/group/tsrun)
//                                                                           S answers: the container joins that
//                                                                             daemon; say S, exit (the launcher
//                                                                             does it without Node: S.pid)
//                                                                           else: prctl(CHILD_SUBREAPER), listen on S,
//                                     read one line ◀──── "unix://S\n" ───── BUNDLE/address; go on serving
//           ◀──── "unix://S", exit 0
//  the daemon's stderr: BUNDLE/shim.log, then each live container's BUNDLE/log FIFO, which containerd
//  copies into its own log (shim-log.ts)
//  ttrpc over S: containerd.task.v2.Task/{Create,Start,State,Wait,Kill,Exec,Delete,...} ──▶ service.ts, task.ts
//           ◀──── task events: ttrpc containerd.services.events.ttrpc.v1.Events/Forward to $TTRPC_ADDRESS
//                  (an Envelope{timestamp, namespace, topic "/tasks/exit", Any "containerd.events.TaskExit"})
//  Shutdown with no container left ──────────────────────────────────────▶ a pod's: remove S, exit; the
//                                                                           namespace's: idle, then the same
//
//  every task's end: BIN -namespace NS -address A -id ID -bundle BUNDLE delete (cwd BUNDLE)
//             ──▶ the sh launcher answers at once when BUNDLE/tsrun-deleted says the shim deleted
//                 ID and unmounted BUNDLE/rootfs (a clean exit); else cleanup.ts
//                 (the shim died) force-deletes ID and unmounts BUNDLE/rootfs;
//             ◀── a DeleteResponse{pid, exit_status 137, exited_at} (protobuf) on stdout
//
// ttrpc frames (github.com/containerd/ttrpc; ttrpc.ts): a 10-byte header,
//   length u32 BE | stream id u32 BE | type u8 (1 request, 2 response) | flags u8
// then `length` bytes (at most 4 MiB) of protobuf: ttrpc.Request{service,
// method, payload, timeout_nano, metadata} from containerd on an odd stream
// id; the answer on the same id is ttrpc.Response{status google.rpc.Status
// {code, message}, payload}. A failed call carries a gRPC code (NotFound 5,
// AlreadyExists 6, FailedPrecondition 9, Unimplemented 12, ...) that
// containerd turns back into its errdefs. Messages: proto/*.proto.
//
// Each container is an ordinary tsrun container under --root
// /run/containerd/tsrun/NS (or the runtime options' Root): `tsrun --root ...
// state/list/ps/exec` see it. Its tsrun-nsexec helper stays its parent and
// exits with its status (process.ts); its stdio are containerd's FIFOs, files,
// or a logging binary's pipes for a binary:// URI (stdio.ts).

import { parseFlags } from './flags.ts';

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  if (flags.version) {
    process.stdout.write(`containerd-shim-tsrun-v2 (tsrun ${typeof TSRUN_VERSION === 'string' ? TSRUN_VERSION : 'dev'})\n`);
    return 0;
  }
  if (!flags.namespace) {
    process.stderr.write('containerd-shim-tsrun-v2: -namespace is required\n');
    return 2;
  }
  switch (flags.action) {
    case 'start':
      return (await import('./start.ts')).startAction(flags);
    case 'delete':
      return (await import('./cleanup.ts')).deleteAction(flags);
    default:
      process.stderr.write(`containerd-shim-tsrun-v2: unknown action ${JSON.stringify(flags.action)} (start, delete)\n`);
      return 2;
  }
}

declare const TSRUN_VERSION: string | undefined;

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exit(code);
  },
  (err) => {
    process.stderr.write(`containerd-shim-tsrun-v2: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  },
);
