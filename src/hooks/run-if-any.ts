// Most containers have no hooks: the runner (and child_process with it) is
// loaded only when a kind actually has hooks, so create/start/delete stay lean.
import type { Hook, HookKind, State } from '../runtime/oci-types.ts';
import type { HookFailure, RunHooksOptions } from './run-hooks.ts';

export async function runHooksIfAny(kind: HookKind, hooks: Hook[] | undefined, state: State, opts?: RunHooksOptions): Promise<HookFailure[]> {
  if (!hooks || hooks.length === 0) return [];
  const { runHooks } = await import('./run-hooks.ts');
  return runHooks(kind, hooks, state, opts);
}
