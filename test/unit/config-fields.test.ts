// Nothing silently ignored: every property spec/config.schema.json knows has
// an entry in src/runtime/validate/fields.ts, and the entries hold: a refused
// field is refused naming its JSON path, an applied one marked `plan` changes
// the create (or exec) plan. docs/config-fields.md lists every entry.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCreatePlan, type PlanInput } from '../../src/runtime/create-plan.ts';
import { buildExecPlan } from '../../src/runtime/exec-plan.ts';
import { resourceProblems } from '../../src/runtime/cgroups/problems.ts';
import { defaultSpec } from '../../src/runtime/default-spec.ts';
import type { Config } from '../../src/runtime/oci-types.ts';
import { CONFIG_FIELDS, fieldEntry } from '../../src/runtime/validate/fields.ts';
import { semanticProblems } from '../../src/runtime/validate/semantic.ts';
import { PROJECT } from '../lib/tsrun.ts';

type Schema = { $ref?: string; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean; definitions?: Record<string, Schema> };
const schema = JSON.parse(readFileSync(join(PROJECT, 'spec/config.schema.json'), 'utf8')) as Schema;

/** Every property path of the schema, "*" for array items and map values. */
function schemaPaths(node: Schema, at: string, out: string[], depth = 0): string[] {
  if (depth > 12) return out;
  const s = node.$ref ? schema.definitions![node.$ref.replace('#/definitions/', '')]! : node;
  for (const [name, child] of Object.entries(s.properties ?? {})) {
    out.push(`${at}/${name}`);
    schemaPaths(child, `${at}/${name}`, out, depth + 1);
  }
  if (s.items) schemaPaths(s.items, `${at}/*`, out, depth + 1);
  if (typeof s.additionalProperties === 'object') schemaPaths(s.additionalProperties, `${at}/*`, out, depth + 1);
  return out;
}

const paths = schemaPaths(schema, '', []);

/** A default config with `value` at `path` ("*" = the first item). */
function withField(path: string, value: unknown): Config {
  const config = defaultSpec() as unknown as Record<string, unknown>;
  const keys = path.slice(1).split('/').map((k) => (k === '*' ? '0' : k));
  let node = config;
  for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
  node[keys.at(-1)!] = value;
  return config as unknown as Config;
}

const planInput = (config: Config): PlanInput => ({
  config, bundle: '/b', rootfs: '/b/rootfs', stateDir: '/run/tsrun/x', init: null, cgroupDirs: {}, cgroupTasks: [],
  noPivot: false, preserveFds: 0, monitor: false, runtimeEnv: [],
});

test('every property the schema knows is applied, refused or pending by name', () => {
  assert.ok(paths.length > 100, `walked ${paths.length} paths`);
  const missing = paths.filter((p) => !fieldEntry(p));
  assert.equal(missing, []);
});

test('every entry names a property of the schema (pending work may add its own)', () => {
  const known = new Set(paths);
  assert.equal(CONFIG_FIELDS.filter((f) => f.status !== 'pending' && !known.has(f.path)).map((f) => f.path), []);
  assert.equal(CONFIG_FIELDS.filter((f) => f.status === 'pending').map((f) => f.path), []);
});

for (const f of CONFIG_FIELDS.filter((e) => e.status === 'refused')) {
  test(`${f.path} is refused naming its path`, () => {
    assert.ok(f.sample !== undefined, 'a refused entry has a sample');
    const config = withField(f.path, f.sample);
    const problems = [
      ...semanticProblems(config, { rootfs: 'dir' }),
      ...resourceProblems(config.linux?.resources, 1),
      ...resourceProblems(config.linux?.resources, 2),
    ];
    const at = f.path.replace('*', '0');
    assert.ok(problems.some((p) => p.startsWith(`${at}: `)), `${at} not refused: ${problems.join('; ')}`);
  });
}

for (const f of CONFIG_FIELDS.filter((e) => e.plan)) {
  test(`${f.path} changes the ${f.plan} plan`, () => {
    const base = defaultSpec();
    const config = withField(f.path, f.sample);
    assert.equal(semanticProblems(config, { rootfs: 'dir' }), [], 'the sample is valid');
    const plan = (c: Config) => JSON.stringify(f.plan === 'exec'
      ? buildExecPlan({ process: c.process!, namespaces: [], monitor: false, preserveFds: 0 })
      : buildCreatePlan(planInput(c)));
    assert.is.not(plan(config), plan(base));
  });
}

test('docs/config-fields.md lists every entry with its status', () => {
  const doc = readFileSync(join(PROJECT, 'docs/config-fields.md'), 'utf8');
  for (const f of CONFIG_FIELDS) assert.ok(doc.includes(`| \`${f.path}\` | ${f.status} |`), `${f.path} ${f.status}`);
});

test.run();
