// Writes docs/config-fields.md from src/runtime/validate/fields.ts:
//   bin/node-pinned scripts/config-fields-doc.ts > docs/config-fields.md
import { CONFIG_FIELDS } from '../src/runtime/validate/fields.ts';

const lines = [
  '# Config fields: applied or refused',
  '',
  'Every field of the runtime-spec 1.2 config (`spec/config.schema.json` knows them all) and what tsrun does with it.',
  'A refused field stops `create`, `run` and `exec --process` with an error naming its JSON path and the reason,',
  'for example `/process/apparmorProfile: AppArmor is not enabled on this host`; nothing is left behind.',
  'A path covers the fields under it unless they have a line of their own; `*` is an array item or a map value.',
  '',
  'Generated from `src/runtime/validate/fields.ts` by `scripts/config-fields-doc.ts`;',
  '`test/unit/config-fields.test.ts` checks the table against the schema and the code.',
  '',
  '| field | status | how, or why not |',
  '|---|---|---|',
  ...[...CONFIG_FIELDS].sort((a, b) => a.path.localeCompare(b.path)).map((f) => `| \`${f.path}\` | ${f.status} | ${f.how.replace(/\|/g, '\\|')} |`),
  '',
];
process.stdout.write(lines.join('\n'));
