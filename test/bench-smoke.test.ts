// `npm run bench -- --quick` end to end: the JSON has every section with
// numbers in it and the run left nothing behind. No timing is asserted: this
// machine is too noisy for that, and the bench reports its own verdicts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT } from './lib/tsrun.ts';

const out = mkdtempSync(join(tmpdir(), 'tsrun-bench-smoke-'));
test.after(() => rmSync(out, { recursive: true, force: true }));

const isNum = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);

test('quick bench: every section has numbers, nothing leaked', () => {
  if (process.getuid?.() !== 0) {
    console.log('SKIP bench-smoke: needs root');
    return;
  }
  const res = spawnSync(join(PROJECT, 'bin/node-pinned'), [join(PROJECT, 'bench/run.mjs'), '--quick', '--out', out], {
    encoding: 'utf8',
    timeout: 5 * 60_000,
  });
  assert.is(res.status, 0, `bench failed:\n${res.stdout}\n${res.stderr}`);
  assert.match(res.stdout, 'Targets');
  const r = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
  assert.ok(readFileSync(join(out, 'latest.svg'), 'utf8').includes('<svg'), 'chart written');

  const rts: string[] = r.meta.runtimes;
  assert.ok(rts.includes('tsrun'), `runtimes: ${rts}`);
  assert.ok(r.meta.quick);
  assert.ok(isNum(r.perVerb.floor.median), 'node floor');
  for (const verb of ['state', 'kill', 'start', 'delete', 'create']) {
    for (const rt of rts) assert.ok(isNum(r.perVerb.verbs[verb][rt]?.median), `${verb} ${rt}`);
  }
  for (const part of ['createStartWaitDelete', 'run']) {
    for (const rt of rts) assert.ok(isNum(r.lifecycle[part][rt]?.median), `lifecycle ${part} ${rt}`);
  }
  if (!r.seccomp.skipped) {
    for (const rt of rts) {
      const sc = r.seccomp.runtimes[rt];
      assert.ok(isNum(sc.plain.median) && isNum(sc.profile.median) && isNum(sc.extraMs), `seccomp create ${rt}`);
    }
  }
  for (const rt of rts) {
    const c = r.throughput.concurrent.runtimes[rt];
    assert.ok(isNum(c.perSecond.median), `concurrent ${rt}`);
    assert.is(c.failures, 0, `concurrent failures ${rt}: ${JSON.stringify(c.rounds)}`);
    const s = r.throughput.sequential.runtimes[rt];
    assert.ok(isNum(s.totalSeconds) && isNum(s.perRun.median), `sequential ${rt}`);
    assert.is(s.failures, 0, `sequential failures ${rt}`);
  }
  assert.equal(r.failures.filter((f: { runtime: string }) => f.runtime === 'tsrun'), [], 'no tsrun command failed');

  assert.ok(Array.isArray(r.initFootprint), `init footprint: ${JSON.stringify(r.initFootprint)}`);
  const init = r.initFootprint.find((x: { name: string }) => x.name === 'tsrun-init');
  assert.ok(init && isNum(init.vmRssKb) && isNum(init.fileBytes), 'tsrun-init row');

  assert.ok(typeof r.network.skipped === 'string' || r.network.macvlanOverHost === null || isNum(r.network.macvlanOverHost), 'network section');
  assert.ok(r.targets.length >= 13);
  for (const t of r.targets) assert.ok(t.pass === null || typeof t.pass === 'boolean', t.name);

  // nothing left: not by tsrun during the run, not by anyone once the bench exited
  assert.equal(r.throughput.concurrent.runtimes.tsrun.leaks, []);
  assert.equal(r.leaks.view.tsrun, []);
  assert.equal(r.leaks.hostView.filter((x: string) => x.includes(`${r.meta.idPrefix}-tsrun-`)), []);
  assert.equal(r.leaks.runningInits, []);
  assert.not.ok(existsSync(r.meta.tmpDir), 'bench temp dir removed');
  const cgroups = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '5', '-type', 'd', '-name', `${r.meta.idPrefix}*`], { encoding: 'utf8' });
  assert.is(cgroups.stdout.trim(), '', 'no cgroups named after bench containers');
});

test.run();
