// tsrun list [--format table|json] [--quiet]: every container under --root.
import { printOut } from '../cli/stdout.ts';
import { loadContainer } from '../container.ts';
import type { Context } from '../context.ts';
import { publicState } from '../state-store.ts';

export default async function list(ctx: Context): Promise<number> {
  const rows = [];
  for (const id of ctx.store.ids()) {
    try {
      const c = loadContainer(ctx, id);
      rows.push(publicState(c.state, c.status));
    } catch {
      // still being created, or deleted meanwhile
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
