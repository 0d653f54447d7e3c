// podman drives tsrun into user namespaces as it drives runc: --uidmap/--gidmap
// and --userns=auto (ranges from /etc/subuid's "containers" entry, added for
// the test and removed after). Checked from inside (id, the maps) and from the
// host (/proc/PID/status of the container's process). Private storage.
// (--userns=keep-id is rootless only in podman 4.3, for runc too.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasPodman, LIMITS, privatePodman } from './lib/podman.ts';

const pm = privatePodman('podman-userns');
const { work, podman } = pm;
const limits = LIMITS;
const image = 'localhost/tsrun-busybox-userns:test';
// --userns=auto takes ranges from the "containers" user's subordinate ids.
const SUBID_LINE = `containers:${310000 + (process.pid % 1000) * 4096}:4096`;
const SUBID_FILES = ['/etc/subuid', '/etc/subgid'];

function removeSubidLine(): void {
  for (const f of SUBID_FILES) {
    if (!existsSync(f)) continue;
    const kept = readFileSync(f, 'utf8').split('\n').filter((l) => l !== SUBID_LINE);
    writeFileSync(f, kept.join('\n'));
  }
}

test.after(async () => {
  await pm.cleanup();
  removeSubidLine();
});

const statusIds = (pid: number): string => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;

(hasPodman ? test : test.skip)('--uidmap 0:100000:65536: id 0 inside, uid 100000 on the host; exec joins the namespace', async () => {
  assert.is((await pm.importBusybox(image)).exitCode, 0);
  const name = `tsrun-uidmap-${process.pid}`;
  const r = await podman(['run', '-d', '--name', name, ...limits, '--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536', image, 'sleep', '300']);
  assert.is(r.exitCode, 0, r.stderr);
  const pid = Number((await podman(['inspect', name, '--format', '{{.State.Pid}}'])).stdout);
  assert.is(statusIds(pid), '100000');
  const exec = await podman(['exec', name, 'sh', '-c', 'id -u; cat /proc/self/uid_map; stat -c %u /bin']);
  assert.is(exec.exitCode, 0, exec.stderr);
  assert.equal(exec.stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')), ['0', '0 100000 65536', '0']);
  assert.is((await podman(['rm', '-f', '-t', '0', name])).exitCode, 0);
});

(hasPodman ? test : test.skip)('--userns=auto: a range from /etc/subuid, as with runc', async () => {
  for (const f of SUBID_FILES) appendFileSync(f, `${SUBID_LINE}\n`);
  const first = Number(SUBID_LINE.split(':')[1]);
  const r = await podman(['run', '--rm', ...limits, '--userns=auto', image, 'sh', '-c', 'id -u; cat /proc/self/uid_map /proc/self/gid_map']);
  assert.is(r.exitCode, 0, r.stderr);
  const [uid, uidMap, gidMap] = r.stdout.split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  assert.equal(uid, [0]);
  for (const map of [uidMap!, gidMap!]) {
    assert.is(map[0], 0);
    assert.ok(map[1]! >= first && map[1]! + map[2]! <= first + 4096, `inside the subordinate range: ${map}`);
  }
  removeSubidLine();
});

test('nothing is left behind', async () => {
  const ps = spawnSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(work));
  assert.equal(ps, []);
});

test.run();
