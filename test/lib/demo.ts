// Test helpers for `tsrun demo`: start a demo with its output through files
// (a demo's containers could hold pipes open), and run one with --quick
// --json --svg and check the JSON's common shape.
//
//   const demos = demoRunner(dir);
//   const { json, svg } = await demos.json('pid1');
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TSRUN, type RunResult } from './tsrun.ts';

export interface Demo {
  pid: number;
  done: Promise<RunResult>;
}

export interface DemoRunner {
  /** The pids of every demo started, in order. */
  pids: number[];
  /** Starts `tsrun demo ARGS...`. */
  start(args: string[]): Demo;
  /** Runs `tsrun demo NAME --quick --json --svg FILE`, asserts it succeeded
   *  (with nothing on stderr when `quiet`) and that its JSON names the demo,
   *  is quick and has explanations. */
  json(name: string, opts?: { quiet?: boolean }): Promise<{ json: Record<string, any>; svg: string }>;
}

/** A demo runner keeping outputs and SVG files in `dir`. */
export function demoRunner(dir: string): DemoRunner {
  const pids: number[] = [];
  let outputs = 0;

  function start(args: string[]): Demo {
    const base = join(dir, `demo-${outputs++}`);
    const out = openSync(`${base}.out`, 'w+');
    const err = openSync(`${base}.err`, 'w+');
    const child = spawn(TSRUN, ['demo', ...args], { stdio: ['ignore', out, err] });
    pids.push(child.pid!);
    const done = new Promise<RunResult>((resolve) => {
      child.on('exit', (code, signal) => {
        closeSync(out);
        closeSync(err);
        resolve({ exitCode: code ?? (signal ? 128 : 0), stdout: readFileSync(`${base}.out`, 'utf8'), stderr: readFileSync(`${base}.err`, 'utf8') });
      });
    });
    return { pid: child.pid!, done };
  }

  async function json(name: string, opts: { quiet?: boolean } = {}): Promise<{ json: Record<string, any>; svg: string }> {
    const svgFile = join(dir, `${name}.svg`);
    const r = await start([name, '--quick', '--json', '--svg', svgFile]).done;
    assert.is(r.exitCode, 0, r.stderr);
    if (opts.quiet) assert.is(r.stderr, '', 'no progress output when stderr is not a TTY');
    const parsed = JSON.parse(r.stdout);
    assert.is(parsed.demo, name);
    assert.is(parsed.quick, true);
    assert.ok(Array.isArray(parsed.explanations) && parsed.explanations.length > 0);
    return { json: parsed, svg: readFileSync(svgFile, 'utf8') };
  }

  return { pids, start, json };
}
