// tsrun list [--format table|json] [--quiet]: every container under --root.
import { printOut } from '../cli/stdout.ts';
import { loadContainer } from '../container.ts';
import type { Context } from '../context.ts';
import { creatingState, publicState } from '../state-store.ts';

export default async function list(ctx: Context): Promise<number> {
  const rows = [];
  for (const id of ctx.store.ids()) {
    try {
      const record = ctx.store.load(id);
      if (!record || record.creator) {
        // Being created, or what a killed create left: `delete --force` removes it.
        rows.push(record ? publicState(record, 'creating') : creatingState(id));
        continue;
      }
      const c = loadContainer(ctx, id);
      rows.push(publicState(c.state, c.status));
    } catch {
      // deleted meanwhile
    }
  }
  if (ctx.options.quiet) {
    printOut(rows.map((r) => `${r.id}\n`).join(''));
  } else if (ctx.options.format === 'json') {
    printOut(`${JSON.stringify(rows)}\n`);
  } else {
    const table = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED'], ...rows.map((r) => [r.id, String(r.pid ?? 0), r.status, r.bundle, r.created])];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    printOut(table.map((row) => `${row.map((cell, i) => cell.padEnd(widths[i]!)).join('   ').trimEnd()}\n`).join(''));
  }
  return 0;
}
