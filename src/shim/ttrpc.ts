// ttrpc framing (the wire format is drawn in main.ts): a frame reader that
// survives garbage, a server that answers each request on its stream id, and
// a small client for calls the shim itself makes (events to containerd).
import { createConnection, type Server, type Socket } from 'node:net';
import { decode, encode } from './messages.ts';

export const HEADER_LENGTH = 10;
/** ttrpc's limit on a message; a larger frame is answered with an error and skipped. */
export const MAX_MESSAGE = 4 << 20;
export const TYPE_REQUEST = 1;
export const TYPE_RESPONSE = 2;

/** The gRPC codes containerd maps to its errdefs (errdefs.FromGRPC). */
export const Code = {
  OK: 0, Unknown: 2, InvalidArgument: 3, NotFound: 5, AlreadyExists: 6, FailedPrecondition: 9,
  ResourceExhausted: 8, Unimplemented: 12, Internal: 13, Unavailable: 14,
} as const;

/** An error a handler throws to answer with a specific code. */
export class TtrpcError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  /** null when the frame was over MAX_MESSAGE: its bytes were skipped. */
  payload: Buffer | null;
}

export function frame(streamId: number, type: number, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt32BE(payload.length, 0);
  header.writeUInt32BE(streamId, 4);
  header.writeUInt8(type, 8);
  header.writeUInt8(0, 9);
  return Buffer.concat([header, payload]);
}

/** Cuts a byte stream into frames; an oversized frame is skipped, not buffered. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);
  private skipping = 0;

  push(chunk: Buffer): Frame[] {
    let data = chunk;
    const frames: Frame[] = [];
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, data.length);
      this.skipping -= n;
      data = data.subarray(n);
    }
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, data]) : data;
    while (this.buffered.length >= HEADER_LENGTH) {
      const length = this.buffered.readUInt32BE(0);
      const head = { streamId: this.buffered.readUInt32BE(4), type: this.buffered.readUInt8(8), flags: this.buffered.readUInt8(9) };
      if (length > MAX_MESSAGE) {
        const available = this.buffered.length - HEADER_LENGTH;
        this.skipping = Math.max(0, length - available);
        this.buffered = this.buffered.subarray(HEADER_LENGTH + Math.min(length, available));
        frames.push({ ...head, payload: null });
        continue;
      }
      if (this.buffered.length < HEADER_LENGTH + length) break;
      frames.push({ ...head, payload: Buffer.from(this.buffered.subarray(HEADER_LENGTH, HEADER_LENGTH + length)) });
      this.buffered = this.buffered.subarray(HEADER_LENGTH + length);
    }
    return frames;
  }
}

export type Handler = (service: string, method: string, payload: Uint8Array) => Promise<Uint8Array>;

function response(streamId: number, result: { payload?: Uint8Array; code?: number; message?: string }): Buffer {
  const body = result.code ? { status: { code: result.code, message: result.message ?? '' } } : { payload: result.payload ?? new Uint8Array() };
  return frame(streamId, TYPE_RESPONSE, encode('ttrpc.Response', body));
}

/** Serves ttrpc on every connection the server accepts. A bad frame gets an
 *  error response on its stream; nothing a client sends can throw out of here. */
export function serveTtrpc(server: Server, handler: Handler): void {
  server.on('connection', (conn: Socket) => {
    const reader = new FrameReader();
    conn.on('error', () => conn.destroy());
    conn.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) void answer(conn, f, handler);
    });
  });
}

async function answer(conn: Socket, f: Frame, handler: Handler): Promise<void> {
  const reply = (r: Parameters<typeof response>[1]): void => {
    if (!conn.destroyed) conn.write(response(f.streamId, r));
  };
  if (f.payload === null) return reply({ code: Code.ResourceExhausted, message: `ttrpc: message of more than ${MAX_MESSAGE} bytes refused` });
  if (f.type !== TYPE_REQUEST) return reply({ code: Code.InvalidArgument, message: `ttrpc: frame type ${f.type} is not a request (1)` });
  let req: { service: string; method: string; payload: Uint8Array };
  try {
    req = decode('ttrpc.Request', f.payload) as typeof req;
  } catch (err) {
    return reply({ code: Code.InvalidArgument, message: `ttrpc: malformed request: ${(err as Error).message}` });
  }
  try {
    reply({ payload: await handler(req.service, req.method, req.payload) });
  } catch (err) {
    const code = err instanceof TtrpcError ? err.code : Code.Unknown;
    reply({ code, message: (err as Error)?.message ?? String(err) });
  }
}

/** One connection to a ttrpc server, for unary calls. */
export class TtrpcClient {
  private conn: Socket | undefined;
  private nextStream = 1;
  private readonly pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  private readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  private connect(): Promise<Socket> {
    if (this.conn && !this.conn.destroyed) return Promise.resolve(this.conn);
    return new Promise((resolve, reject) => {
      const conn = createConnection({ path: this.path });
      const reader = new FrameReader();
      conn.once('connect', () => {
        this.conn = conn;
        resolve(conn);
      });
      conn.on('error', (err) => {
        reject(err);
        this.fail(err);
      });
      conn.on('close', () => this.fail(new Error('ttrpc: connection closed')));
      conn.on('data', (chunk: Buffer) => {
        for (const f of reader.push(chunk)) this.settle(f);
      });
    });
  }

  private fail(err: Error): void {
    this.conn = undefined;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private settle(f: Frame): void {
    const p = this.pending.get(f.streamId);
    if (!p || f.type !== TYPE_RESPONSE || !f.payload) return;
    this.pending.delete(f.streamId);
    try {
      const r = decode('ttrpc.Response', f.payload) as { status?: { code: number; message: string }; payload: Uint8Array };
      if (r.status && r.status.code !== 0) p.reject(new TtrpcError(r.status.code, r.status.message));
      else p.resolve(r.payload);
    } catch (err) {
      p.reject(err as Error);
    }
  }

  async call(service: string, method: string, payload: Uint8Array, timeoutMs = 5000): Promise<Uint8Array> {
    const conn = await this.connect();
    const streamId = this.nextStream;
    this.nextStream += 2;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(streamId);
        reject(new Error(`ttrpc: ${service}/${method} timed out`));
      }, timeoutMs);
      this.pending.set(streamId, {
        resolve: (b) => (clearTimeout(timer), resolve(b)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      conn.write(frame(streamId, TYPE_REQUEST, encode('ttrpc.Request', { service, method, payload, timeout_nano: timeoutMs * 1e6 })));
    });
  }

  close(): void {
    this.conn?.destroy();
  }
}
