// A foreground run or exec passes the signals it gets on to the container's
// process, as runc does without a terminal: not CHLD (ours), not WINCH (the
// helper relays a terminal's size itself), not URG.
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Starts forwarding to `pid`; the returned function stops it. */
export function forwardSignals(pid: number): () => void {
  const forward = (signal: NodeJS.Signals): void => {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  };
  for (const s of FORWARDED) process.on(s, forward);
  return () => {
    for (const s of FORWARDED) process.off(s, forward);
  };
}
