// A plan is what tsrun-nsexec executes: a list of steps, each an opcode with
// string arguments. The TypeScript side decides everything (which namespaces,
// which mounts, which identity); the helper only carries the steps out and
// reports the index of the one that failed. See helper.ts for the protocol.

export interface PlanStep {
  op: string;
  args: string[];
  /** How an error in this step is described; without it, the helper's text is used. */
  what?: string;
  /** The helper's text (the syscall that failed) follows `what` in the message. */
  detail?: boolean;
  /** The helper's text is the whole message (hooks, program lookup). */
  rawError?: boolean;
  /** Bytes made on the host just before the helper starts (the compiled
   *  seccomp filter, src/runtime/seccomp.ts), sent right after the plan; they
   *  may throw a RuntimeError, and then no helper starts. debug: tsrun --debug. */
  hostInput?: (debug: (line: string) => void) => Buffer;
}

/** "op\0argc\0arg\0...", step after step, behind a "<byte length>\n" header. */
export function encodePlan(steps: PlanStep[]): Buffer {
  const parts: string[] = [];
  for (const step of steps) {
    for (const arg of step.args) {
      if (arg.includes('\0')) throw new Error(`plan step ${step.op}: argument contains a NUL byte`);
    }
    parts.push(step.op, String(step.args.length), ...step.args);
  }
  const body = Buffer.from(`${parts.join('\0')}\0`);
  return Buffer.concat([Buffer.from(`${body.length}\n`), body]);
}

export function step(op: string, args: Array<string | number | bigint> = [], extra: Omit<PlanStep, 'op' | 'args'> = {}): PlanStep {
  return { op, args: args.map(String), ...extra };
}

/** Frames one blob for the helper: "<byte length>\n<bytes>". */
export function frame(text: string | Buffer): Buffer {
  const body = typeof text === 'string' ? Buffer.from(text) : text;
  return Buffer.concat([Buffer.from(`${body.length}\n`), body]);
}
