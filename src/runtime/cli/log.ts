// Errors and debug lines for --log: text or JSON lines, as runc writes them
// ({"level":"error","msg":"...","time":"..."}); containerd and conmon read the
// last error from that file, so every failure is written there as well as on
// stderr.
import { appendFileSync } from 'node:fs';

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

export function createLogger(file: string | undefined, format: string, debug: boolean): Logger {
  const write = (level: string, msg: string): void => {
    if (!file) return;
    const time = new Date().toISOString();
    const line = format === 'json' ? JSON.stringify({ level, msg, time }) : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
    try {
      appendFileSync(file, `${line}\n`);
    } catch {
      // A log we cannot write must not hide the real error, which stderr still gets.
    }
  };
  return {
    error(msg) {
      process.stderr.write(`tsrun: ${msg}\n`);
      write('error', msg);
    },
    warn(msg) {
      process.stderr.write(`tsrun: ${msg}\n`);
      write('warning', msg);
    },
    debug(msg) {
      if (!debug) return;
      // Milliseconds since the process started: --debug shows where the time goes.
      process.stderr.write(`tsrun: debug: ${performance.now().toFixed(1)} ms ${msg}\n`);
      write('debug', msg);
    },
  };
}
