// The shim's log URIs end to end (src/shim/stdio.ts), through a private
// containerd (test/lib/containerd.ts) as in test/shim.test.ts: `ctr run
// --log-uri binary:///...` and `ctr task exec --log-uri` start a small shell
// logger written here, which copies its fds 3 and 4 into files and notes its
// environment, arguments and cwd (another, its fds); the process's output lands there, and
// the logger is gone once the task (or exec) is deleted, whether it exits at
// EOF, dies of SIGTERM, or ignores SIGTERM (SIGKILL after containerd's 12 s).
// A logger that does not exist, or exits before it is ready, fails the
// create with its URI and reason and leaves nothing. file:// URIs too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { leftovers, uniqueId, waitFor } from './lib/tsrun.ts';
import { useContainerd } from './lib/containerd.ts';

// Each test sees its shim end with its last container (see test/shim.test.ts).
const ctd = useContainerd(test, 'shim-logging', { runtime: 'shim', env: { TSRUN_SHIM_IDLE: '0' } });
const { namespace } = ctd;
let logs: string;
const debug = (): string => ctd.cd.log().slice(-3000);

async function removeTask(id: string): Promise<void> {
  await ctd.removeTask(id);
  assert.ok(await waitFor(() => ctd.cd.shims().length === 0, 30000, 50), 'the shim exited with its last container');
}

// Loggers: each writes into the directory it lives in, its files named after
// its CONTAINER_ID. dash's PATH default finds cat, ls and sleep.
const LOGGERS: Record<string, string> = {
  // TERM is ignored (as by the cats it starts): it exits once both streams
  // reached EOF, so what it wrote is complete when the delete returns.
  'logger.sh': `trap '' TERM
d=\${0%/*}; n=$CONTAINER_ID
echo $$ > "$d/$n.pid"
env > "$d/$n.env"
printf '%s\\n' "$@" > "$d/$n.args"
cat <&3 > "$d/$n.out" &
cat <&4 > "$d/$n.err" &
exec 3<&- 4<&-
printf r >&5
exec 5>&-
wait`,
  // Ready, then never exits at EOF: SIGTERM ends it.
  'logger-term.sh': `echo $$ > "\${0%/*}/$CONTAINER_ID.pid"
printf r >&5
exec sleep 99999`,
  // Ready by closing fd 5, and deaf to SIGTERM: SIGKILL ends it.
  'logger-stubborn.sh': `trap '' TERM
echo $$ > "\${0%/*}/$CONTAINER_ID.pid"
exec 5>&-
exec sleep 99999`,
  'logger-quits.sh': 'exit 3',
};

const file = (name: string): string => (existsSync(join(logs, name)) ? readFileSync(join(logs, name), 'utf8') : '');
const loggerPid = (id: string): number => Number(file(`${id}.pid`).trim());
/** The logger (reaped once gone: the shim is its parent). */
const alive = (pid: number): boolean => pid > 0 && existsSync(`/proc/${pid}`);
/** Processes of the loggers: their command lines name the loggers' directory, or are their sleep. */
const strays = (): string[] => spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout.split('\n')
  .filter((l) => l.includes(logs) || / sleep 99999$/.test(l));

/** After a failed create: no task, container, tsrun state, rootfs mount, shim or logger left. */
async function nothingLeft(id: string): Promise<void> {
  assert.not.ok((await ctd.tasks()).has(id), 'no task');
  const cs = await ctd.cd.ctr(['containers', 'ls', '-q']);
  if (cs.stdout.split('\n').includes(id)) assert.is((await ctd.cd.ctr(['containers', 'rm', id])).exitCode, 0);
  assert.ok(await waitFor(() => ctd.cd.shims().length === 0, 30000, 50), 'the shim exited');
  assert.equal(leftovers(ctd.cd.tsrunRoot, id), []);
  // The rootfs was mounted in containerd's mount namespace.
  const mounts = readFileSync(`/proc/${ctd.cd.pid}/mountinfo`, 'utf8').split('\n').filter((l) => l.includes(id));
  assert.equal(mounts, [], 'no rootfs mount');
  assert.equal(strays(), [], 'no logger process');
}

if (!ctd.skip) {
  test.before(() => {
    logs = mkdtempSync(join(tmpdir(), 'tsrun-loggers-'));
    for (const [name, body] of Object.entries(LOGGERS)) {
      writeFileSync(join(logs, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(logs, name), 0o755);
    }
  });
  // After the fixture's: its loggers end with the tasks containerd deleted.
  test.after(() => {
    for (const line of logs ? strays() : []) process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    if (logs) rmSync(logs, { recursive: true, force: true });
  });

  test('ctr run --rm --log-uri binary://: the output reaches the logger; its args, env, cwd and fds are containerd\'s; it is gone after the delete', async () => {
    const id = uniqueId('log-run');
    const r = await ctd.cd.ctr(['run', '--rm', ...ctd.runtime, '--log-uri', `binary://${logs}/logger.sh?arg=x&flag&arg=y`, ctd.image.name, id,
      'sh', '-c', 'echo out1; echo err1 >&2; readlink /proc/self/fd/1; ls /proc/self/fd; echo out2; exit 3']);
    assert.is(r.exitCode, 3, `${r.stderr}\n${debug()}`);
    assert.is(r.stdout, '', 'nothing through ctr');
    const out = file(`${id}.out`).split('\n');
    assert.is(out[0], 'out1');
    assert.match(out[1]!, /^pipe:\[\d+\]$/, 'the container\'s stdout is a pipe');
    assert.equal(out.slice(2), ['0', '1', '2', '3', 'out2', ''], 'no fd but its stdio (and ls\'s own 3) in the container');
    assert.is(file(`${id}.err`), 'err1\n');
    assert.is(file(`${id}.args`), 'arg\nx\nflag\n\n', 'each key, then its first value');
    const env = file(`${id}.env`).split('\n').filter(Boolean).sort();
    const pwd = env.find((l) => l.startsWith('PWD='));
    assert.equal(env.filter((l) => l !== pwd), [`CONTAINER_ID=${id}`, `CONTAINER_NAMESPACE=${namespace}`], 'only these, not the shim\'s environment');
    assert.ok(pwd?.endsWith(`/${namespace}/${id}`), `the cwd is the bundle: ${pwd}`);
    assert.not.ok(alive(loggerPid(id)), 'the logger is gone');
    assert.not.ok((await ctd.tasks()).has(id));
    assert.ok(await waitFor(() => ctd.cd.shims().length === 0, 30000, 50), 'the shim exited');
  });

  test('ctr task exec --log-uri binary://: the exec\'s own logger (CONTAINER_ID = the exec id), gone after the exec; a missing one fails the exec', async () => {
    const id = uniqueId('log-exec');
    await ctd.sleeper(id);
    const execId = `x-${id}`;
    const ex = await ctd.cd.ctr(['task', 'exec', '--exec-id', execId, '--log-uri', `binary://${logs}/logger.sh?exec`, id, 'sh', '-c', 'echo exec-out; echo exec-err >&2; exit 5']);
    assert.is(ex.exitCode, 5, `${ex.stderr}\n${debug()}`);
    assert.is(file(`${execId}.out`), 'exec-out\n');
    assert.is(file(`${execId}.err`), 'exec-err\n');
    assert.is(file(`${execId}.args`), 'exec\n\n');
    assert.ok(file(`${execId}.env`).split('\n').includes(`CONTAINER_ID=${execId}`), file(`${execId}.env`));
    assert.not.ok(alive(loggerPid(execId)), 'the exec\'s logger is gone');
    const bad = await ctd.cd.ctr(['task', 'exec', '--exec-id', 'nolog', '--log-uri', `binary://${logs}/no-such-logger`, id, 'true']);
    assert.not.equal(bad.exitCode, 0);
    assert.match(bad.stderr, /logging binary .*no-such-logger.*no such file or directory/);
    assert.is((await ctd.tasks()).get(id)?.[1], 'RUNNING', 'the container goes on');
    await removeTask(id);
  });

  test('a logger that outlives EOF gets SIGTERM on delete; one that ignores it, SIGKILL (after containerd\'s 12 s)', async () => {
    // logger-stubborn.sh said ready by closing its fd 5.
    for (const [logger, pipes] of [['logger-term.sh', [3, 4, 5]], ['logger-stubborn.sh', [3, 4]]] as const) {
      const id = uniqueId('log-stop');
      const r = await ctd.cd.ctr(['run', '-d', ...ctd.runtime, '--log-uri', `binary://${logs}/${logger}`, ctd.image.name, id, 'sleep', '300']);
      assert.is(r.exitCode, 0, `${logger}: ${r.stderr}\n${debug()}`);
      const pid = loggerPid(id);
      try {
        assert.ok(alive(pid), `${logger} runs with the task (pid ${pid})`);
        // Its fds (sleep's, after the exec): /dev/null, then the pipes, and nothing of the shim's.
        const fds = readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b).map((fd) => [fd, readlinkSync(`/proc/${pid}/fd/${fd}`)] as const);
        const shown = fds.map(([fd, t]) => `${fd} ${t}`).join('; ');
        assert.equal(fds.map(([fd, t]) => (fd < 3 ? t : t.replace(/\[\d+\]$/, ''))), ['/dev/null', '/dev/null', '/dev/null', ...pipes.map(() => 'pipe:')], shown);
        assert.equal(fds.slice(3).map(([fd]) => fd), [...pipes], shown);
      } finally {
        await removeTask(id);
      }
      assert.not.ok(alive(pid), `${logger} is gone after the delete`);
    }
  });

  test('a logger that does not exist, or exits before it is ready: the create fails with its URI and why, and nothing is left', async () => {
    const cases: Array<[string, RegExp]> = [
      [`binary://${logs}/no-such-logger`, /no such file or directory/],
      [`binary://${logs}/logger-quits.sh?a=b`, /exited before it was ready \(exit status 3\)/],
    ];
    for (const [uri, why] of cases) {
      const id = uniqueId('log-fail');
      const r = await ctd.cd.ctr(['run', '--rm', ...ctd.runtime, '--log-uri', uri, ctd.image.name, id, 'echo', 'never']);
      assert.not.equal(r.exitCode, 0);
      assert.ok(r.stderr.includes(`logging binary \\"${uri}\\"`) || r.stderr.includes(`logging binary "${uri}"`), r.stderr);
      assert.match(r.stderr, why);
      await nothingLeft(id);
    }
  });

  test('ctr run -d --log-uri file://: stdout and stderr appended to the file (its directory made)', async () => {
    const id = uniqueId('log-file');
    const path = join(logs, 'sub', 'ctr.log');
    const r = await ctd.cd.ctr(['run', '-d', ...ctd.runtime, '--log-uri', `file://${path}`, ctd.image.name, id, 'sh', '-c', 'echo file-out; echo file-err >&2']);
    assert.is(r.exitCode, 0, `${r.stderr}\n${debug()}`);
    assert.ok(await waitFor(async () => (await ctd.tasks()).get(id)?.[1] === 'STOPPED', 10000, 100), 'it exited');
    assert.is(file('sub/ctr.log'), 'file-out\nfile-err\n');
    await removeTask(id);
  });

  test('nothing is left behind: no tasks, containers, tsrun state, shims, loggers', async () => {
    assert.equal(strays(), [], 'no logger processes');
    await ctd.nothingLeftBehind();
  });
}

test.run();
