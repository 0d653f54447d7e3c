// Task events to containerd: each one goes, in order, as an Envelope to the
// ttrpc events service at $TTRPC_ADDRESS (Events/Forward), as containerd's
// own shims publish them. While containerd is away (restarting) events wait
// in the queue and are retried; none is dropped unless the queue overflows.
import { encode, timestamp, toAny } from './messages.ts';
import { TtrpcClient } from './ttrpc.ts';

export type Topic = 'create' | 'start' | 'exit' | 'delete' | 'oom' | 'exec-added' | 'exec-started' | 'paused' | 'resumed';

const EVENT_TYPE: Record<Topic, string> = {
  create: 'TaskCreate', start: 'TaskStart', exit: 'TaskExit', delete: 'TaskDelete', oom: 'TaskOOM',
  'exec-added': 'TaskExecAdded', 'exec-started': 'TaskExecStarted', paused: 'TaskPaused', resumed: 'TaskResumed',
};
const QUEUE_LIMIT = 10000;

export class Publisher {
  private readonly client: TtrpcClient | undefined;
  private readonly namespace: string;
  private readonly queue: Uint8Array[] = [];
  private sending = false;
  private retryDelay = 50;
  private readonly log: (msg: string) => void;

  constructor(ttrpcAddress: string, namespace: string, log: (msg: string) => void) {
    const path = ttrpcAddress.replace(/^unix:\/\//, '');
    this.client = path ? new TtrpcClient(path) : undefined;
    this.namespace = namespace;
    this.log = log;
  }

  publish(topic: Topic, event: object): void {
    if (!this.client) return;
    const name = `containerd.events.${EVENT_TYPE[topic]}`;
    const envelope = { timestamp: timestamp(Date.now()), namespace: this.namespace, topic: `/tasks/${topic}`, event: toAny(name, name, event) };
    if (this.queue.length >= QUEUE_LIMIT) {
      this.log(`events: queue full, dropping the oldest event`);
      this.queue.shift();
    }
    this.queue.push(encode('containerd.events.ForwardRequest', { envelope }));
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.sending || !this.client) return;
    this.sending = true;
    try {
      while (this.queue.length) {
        try {
          await this.client.call('containerd.services.events.ttrpc.v1.Events', 'Forward', this.queue[0]!);
          this.queue.shift();
          this.retryDelay = 50;
        } catch (err) {
          this.log(`events: forward failed (${(err as Error).message}), retrying in ${this.retryDelay} ms`);
          await new Promise((r) => setTimeout(r, this.retryDelay).unref());
          this.retryDelay = Math.min(this.retryDelay * 2, 2000);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** Waits (up to timeoutMs) until every queued event went out: before the shim exits. */
  async flush(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.queue.length && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  }
}
