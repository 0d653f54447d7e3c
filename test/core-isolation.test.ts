// What a container sees from the inside: its own namespaces (and a joined one
// shared), hostname, mounts, read-only root, masked and read-only paths,
// uid/gid/groups, rlimits, capabilities, oomScoreAdj, --no-pivot.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { leftovers, sandbox, uniqueId } from './lib/tsrun.ts';
import type { Config } from '../src/runtime/oci-types.ts';

const sb = sandbox();
test.after(async () => {
  await sb.cleanup();
});

/** Runs `script` in a container made from the default spec plus `edit`; returns its output. */
async function inside(script: string, edit?: (c: Config) => void, extra: string[] = []): Promise<string> {
  const id = uniqueId('iso');
  const bundle = sb.bundle((c) => {
    c.process!.args = ['sh', '-c', script];
    edit?.(c);
  });
  const r = await sb.tsrun(['run', ...extra, '--bundle', bundle, id]);
  assert.is(r.exitCode, 0, `${script}: ${r.stderr}`);
  return r.stdout;
}

test('the container gets its own pid, net, mount, uts, ipc and cgroup namespaces', async () => {
  const id = uniqueId('ns');
  await sb.tsrun(['run', '-d', '--bundle', sb.bundle(), id]);
  const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid;
  for (const ns of ['pid', 'net', 'mnt', 'uts', 'ipc', 'cgroup']) {
    assert.is.not(readlinkSync(`/proc/${pid}/ns/${ns}`), readlinkSync(`/proc/self/ns/${ns}`), ns);
  }
  assert.is(readlinkSync(`/proc/${pid}/ns/user`), readlinkSync('/proc/self/ns/user'), 'no user namespace asked for');
  await sb.tsrun(['delete', '-f', id]);
});

test('a namespace given by path is joined, not created', async () => {
  const holder = spawn('unshare', ['--net', '--uts', 'sleep', '30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const id = uniqueId('join');
    const bundle = sb.bundle((c) => {
      c.linux!.namespaces = c.linux!.namespaces!.map((ns) => (ns.type === 'network' ? { type: 'network', path: `/proc/${holder.pid}/ns/net` } : ns));
    });
    const r = await sb.tsrun(['run', '-d', '--bundle', bundle, id]);
    assert.is(r.exitCode, 0, r.stderr);
    const pid = JSON.parse((await sb.tsrun(['state', id])).stdout).pid;
    assert.is(readlinkSync(`/proc/${pid}/ns/net`), readlinkSync(`/proc/${holder.pid}/ns/net`));
    assert.is.not(readlinkSync(`/proc/${pid}/ns/uts`), readlinkSync(`/proc/${holder.pid}/ns/uts`));
    await sb.tsrun(['delete', '-f', id]);
  } finally {
    holder.kill('SIGKILL');
  }
});

test('hostname and domainname', async () => {
  const out = await inside('hostname; cat /proc/sys/kernel/domainname', (c) => {
    c.hostname = 'box1';
    c.domainname = 'example.test';
  });
  assert.is(out, 'box1\nexample.test');
});

test('mounts: proc, tmpfs with size and mode, a read-only bind, devices and /dev links', async () => {
  const out = await inside(
    'grep -E " /(proc|dev|data|scratch) " /proc/self/mountinfo | awk \'{print $5, $6}\'; stat -c "%a" /scratch; ls -l /dev/null /dev/fd /dev/ptmx | awk \'{print $1, $NF}\'; echo x > /data/f 2>&1 || echo data-ro',
    (c) => {
      c.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['mode=700', 'size=1m', 'nosuid'] });
      c.mounts!.push({ destination: '/data', type: 'bind', source: sb.dir, options: ['rbind', 'ro'] });
    },
  );
  assert.match(out, /\/proc rw,/);
  assert.match(out, /\/dev rw,nosuid/);
  assert.match(out, /\/scratch rw,nosuid/);
  assert.match(out, /\/data ro,/);
  assert.match(out, /\n700\n/);
  assert.match(out, /crw-rw-rw- \/dev\/null/);
  assert.match(out, /lrwxrwxrwx \/proc\/self\/fd/);
  assert.match(out, /lrwxrwxrwx pts\/ptmx/);
  assert.match(out, /data-ro/);
});

test('mount propagation options: shared and private', async () => {
  const out = await inside('grep -E " /(pub|priv) " /proc/self/mountinfo | cut -d" " -f5,7', (c) => {
    c.mounts!.push({ destination: '/pub', type: 'tmpfs', source: 'tmpfs', options: ['rshared'] });
    c.mounts!.push({ destination: '/priv', type: 'tmpfs', source: 'tmpfs', options: ['private'] });
  });
  assert.match(out, /^\/pub shared:\d+/m, out);
  assert.match(out, /^\/priv -$/m, `a private mount has no optional fields: ${out}`);
});

test('read-only root, masked paths and read-only paths', async () => {
  const out = await inside('touch /x 2>/dev/null || echo root-ro; wc -c < /etc/passwd; ls /var | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null || echo sys-ro; touch /tmp/ok 2>/dev/null || echo tmp-ro', (c) => {
    mkdirSync(join(sb.rootfs, 'var', 'secret'), { recursive: true });
    c.linux!.maskedPaths!.push('/etc/passwd', '/var', '/does/not/exist');
  });
  assert.match(out, /root-ro/);
  assert.match(out, /^0\n0$/m, out + ' a masked file reads empty (/dev/null), a masked dir is an empty tmpfs');
  assert.match(out, /sys-ro/);
  assert.match(out, /tmp-ro/, '/tmp is part of the read-only root');
});

test('uid, gid, additional groups and umask', async () => {
  const out = await inside('id -u; id -g; id -G; umask', (c) => {
    c.process!.user = { uid: 1000, gid: 1000, additionalGids: [5, 44], umask: 0o27 };
  });
  assert.is(out, '1000\n1000\n1000 5 44\n0027');
});

test('rlimits: lowering works; raising a hard limit above ours fails clearly (no CAP_SYS_RESOURCE here)', async () => {
  const out = await inside('ulimit -n; ulimit -Hn; ulimit -c', (c) => {
    c.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }];
  });
  assert.is(out, '100\n200\n0');
  const id = uniqueId('rlim');
  const bundle = sb.bundle((c) => {
    c.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1_048_576 * 8 }];
  });
  const r = await sb.tsrun(['create', '--bundle', bundle, id]);
  if (r.exitCode === 0) {
    // The machine allows it after all (a caller with CAP_SYS_RESOURCE): nothing to refuse.
    await sb.tsrun(['delete', '-f', id]);
  } else {
    assert.match(r.stderr, /set RLIMIT_NOFILE to 1024\/8388608: operation not permitted \(EPERM\)/);
  }
});

test('capabilities: the configured sets, dropped bounding set, no_new_privs', async () => {
  const out = await inside('grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)" /proc/self/status | tr -s "\\t" " "', (c) => {
    const caps = ['CAP_KILL', 'CAP_NET_BIND_SERVICE'];
    c.process!.capabilities = { bounding: [...caps, 'CAP_CHOWN'], effective: caps, permitted: caps, inheritable: [], ambient: [] };
  });
  assert.match(out, /CapPrm: 0000000000000420/);
  assert.match(out, /CapEff: 0000000000000420/);
  assert.match(out, /CapBnd: 0000000000000421/);
  assert.match(out, /NoNewPrivs: 1/);
});

test('oomScoreAdj: raising works; lowering below ours fails clearly', async () => {
  assert.is(await inside('cat /proc/self/oom_score_adj', (c) => { c.process!.oomScoreAdj = 500; }), '500');
  const id = uniqueId('oom');
  const r = await sb.tsrun(['create', '--bundle', sb.bundle((c) => { c.process!.oomScoreAdj = -1000; }), id]);
  if (r.exitCode === 0) await sb.tsrun(['delete', '-f', id]);
  else assert.match(r.stderr, /set oomScoreAdj -1000: (permission denied|operation not permitted)/);
});

test('--no-pivot runs with MS_MOVE + chroot', async () => {
  assert.is(await inside('cat /etc/hostname; ls /bin/busybox', undefined, ['--no-pivot']), 'tsrun\n/bin/busybox');
});

test('env, cwd (created when missing) and argv reach the program', async () => {
  const out = await inside('echo "$FOO|$(pwd)|$0"', (c) => {
    c.process!.env = ['PATH=/bin', 'FOO=bar baz'];
    c.process!.cwd = '/work/here';
    c.root.readonly = false;
    c.mounts!.push({ destination: '/work', type: 'tmpfs', source: 'tmpfs' });
  });
  assert.is(out, 'bar baz|/work/here|sh');
});

test('resource limits are seen from inside, in the container\'s own /sys/fs/cgroup', async () => {
  const v1 = !existsSync('/sys/fs/cgroup/cgroup.controllers');
  const script = v1
    ? 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares'
    : 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; echo 512';
  const out = await inside(script, (c) => {
    c.linux!.resources = { ...c.linux!.resources, memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 }, cpu: { shares: 512 } };
  });
  assert.is(out, '67108864\n50\n512');
});

test('nothing is left behind', async () => {
  await sb.cleanup();
  assert.equal(leftovers(sb.root), []);
});

test.run();
