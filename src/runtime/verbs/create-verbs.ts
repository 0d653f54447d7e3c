// The verbs that start a process in a container, as one module: main.ts
// loads it only for them, and the build makes it a cold part of its own
// (build/verb-create.cjs), so the code only they run (config validation,
// seccomp, user namespaces, rootless, the create and exec plans) is never
// read, compiled or declared by the hot verbs (state, kill, start, delete...).
import create from './create.ts';
import exec from './exec.ts';
import run from './run.ts';

export default { create, run, exec };
