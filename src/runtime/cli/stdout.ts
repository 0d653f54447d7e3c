// Output of the verbs that callers run constantly (state, list), written
// straight to fd 1: process.stdout would first load Node's stream modules,
// ~0.8 ms of every `state`.
import { writeSync } from 'node:fs';

export function printOut(text: string): void {
  const buf = Buffer.from(text);
  let done = 0;
  while (done < buf.length) {
    try {
      done += writeSync(1, buf, done);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') return; // the reader has gone; nobody is left to tell
      if (code !== 'EAGAIN') throw err;
      // A full non-blocking pipe: Node's stream waits for it to drain.
      process.stdout.write(buf.subarray(done));
      return;
    }
  }
}
