// Protobuf messages of the shim (the .proto files in ./proto, parsed at build
// time into build/shim-proto.mjs, a JSON descriptor). protobufjs/light turns
// it into codecs at start-up without a .proto parser in the bundle. Field
// names keep the .proto spelling (exec_id), as the descriptor was made with
// keepCase; 64-bit integers come back as numbers.
import { Root, type Type } from 'protobufjs/light.js';
import descriptor from '../../build/shim-proto.mjs';

// Made on first use: the daemon listens before it builds them (see warmUp).
let root: Root | undefined;
const types = new Map<string, Type>();

function type(name: string): Type {
  let t = types.get(name);
  if (!t) {
    root ??= Root.fromJSON(descriptor as Parameters<typeof Root.fromJSON>[0]);
    t = root.lookupType(name);
    types.set(name, t);
  }
  return t;
}

export function encode(name: string, value: object): Uint8Array {
  const t = type(name);
  return t.encode(t.fromObject(value)).finish();
}

/** Decodes with defaults filled in (proto3 leaves zero values off the wire). */
export function decode(name: string, bytes: Uint8Array): Record<string, unknown> {
  const t = type(name);
  return t.toObject(t.decode(bytes), { longs: Number, enums: Number, bytes: Buffer, defaults: true, arrays: true, objects: true }) as Record<string, unknown>;
}

export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

/** containerd names its event and metrics types without a URL prefix (typeurl's proto fallback). */
export function toAny(typeUrl: string, name: string, value: object): AnyMessage {
  return { type_url: typeUrl, value: encode(name, value) };
}

export function timestamp(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) };
}

/** protobufjs generates each type's encoder and decoder on first use. The
 *  daemon does it for a lifecycle's messages while containerd is still
 *  reading its address, instead of inside the first Create. */
export function warmUp(): void {
  const names = ['ttrpc.Request', 'ttrpc.Response', 'containerd.events.ForwardRequest', 'containerd.events.TaskCreate', 'containerd.events.TaskStart',
    'containerd.events.TaskExit', 'containerd.events.TaskDelete', 'google.protobuf.Empty',
    ...['CreateTaskRequest', 'CreateTaskResponse', 'StartRequest', 'StartResponse', 'WaitRequest', 'WaitResponse', 'StateRequest', 'StateResponse',
      'DeleteRequest', 'DeleteResponse', 'KillRequest', 'ConnectRequest', 'ConnectResponse', 'ShutdownRequest'].map((n) => `containerd.task.v2.${n}`)];
  for (const name of names) decode(name, encode(name, {}));
}
