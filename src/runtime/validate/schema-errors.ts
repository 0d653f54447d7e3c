// Turns Ajv's error objects into one readable line each, `<path>: <message>`.
// Ajv's own messages ("must NOT have fewer than 1 items", "must be equal to
// one of the allowed values") hide the useful part in `params`, so each
// keyword is phrased here from its params instead.
import type { ErrorObject } from 'ajv';

const ARTICLE: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

// Branch errors of anyOf/oneOf say why each alternative failed; only the
// summary error of the composite keyword helps the user.
const COMPOSITE = new Set(['anyOf', 'oneOf']);

function showValue(v: unknown): string {
  if (typeof v === 'string') return v === '' || /[\s,]/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function typeOf(data: unknown): string {
  if (data === null) return 'null';
  if (Array.isArray(data)) return 'array';
  if (typeof data === 'number' && Number.isInteger(data)) return 'integer';
  return typeof data;
}

function typeMessage(e: ErrorObject): string {
  const raw = e.params['type'] as string | string[] | undefined;
  const types = (Array.isArray(raw) ? raw : String(raw ?? '').split(',')).filter((t) => t !== '');
  const wanted = types.map((t) => ARTICLE[t] ?? t).join(' or ');
  // Ajv includes the offending value only when compiled with `verbose`.
  const got = 'data' in e ? `, got ${ARTICLE[typeOf(e.data)] ?? typeOf(e.data)}` : '';
  return `must be ${wanted}${got}`;
}

function keywordMessage(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `must have required property ${JSON.stringify(p['missingProperty'])}`;
    case 'type':
      return typeMessage(e);
    case 'enum': {
      const values = (p['allowedValues'] as unknown[] | undefined) ?? [];
      return `must be one of ${values.map(showValue).join(', ')}`;
    }
    case 'const':
      return `must be ${showValue(p['allowedValue'])}`;
    case 'minItems':
      return `must have at least ${plural(Number(p['limit']), 'item')}`;
    case 'maxItems':
      return `must have at most ${plural(Number(p['limit']), 'item')}`;
    case 'minLength':
      return Number(p['limit']) === 1 ? 'must not be empty' : `must be at least ${plural(Number(p['limit']), 'character')} long`;
    case 'maxLength':
      return `must be at most ${plural(Number(p['limit']), 'character')} long`;
    case 'minimum':
      return `must be at least ${String(p['limit'])}`;
    case 'maximum':
      return `must be at most ${String(p['limit'])}`;
    case 'exclusiveMinimum':
      return `must be greater than ${String(p['limit'])}`;
    case 'exclusiveMaximum':
      return `must be less than ${String(p['limit'])}`;
    case 'multipleOf':
      return `must be a multiple of ${String(p['multipleOf'])}`;
    case 'pattern':
      return `must match the pattern ${String(p['pattern'])}`;
    case 'format':
      return `must be a valid ${String(p['format'])}`;
    case 'additionalProperties':
      return `must not have property ${JSON.stringify(p['additionalProperty'])}`;
    case 'uniqueItems':
      return `must not have duplicate items (items ${String(p['j'])} and ${String(p['i'])} are identical)`;
    case 'minProperties':
      return `must have at least ${plural(Number(p['limit']), 'property', 'properties')}`;
    case 'maxProperties':
      return `must have at most ${plural(Number(p['limit']), 'property', 'properties')}`;
    case 'anyOf':
      return 'must match one of the allowed forms';
    case 'oneOf':
      return 'must match exactly one of the allowed forms';
    default:
      return e.message ?? `is invalid (${e.keyword})`;
  }
}

function isBranchNoise(e: ErrorObject, composites: ErrorObject[]): boolean {
  return composites.some(
    (c) =>
      c !== e &&
      e.schemaPath.startsWith(`${c.schemaPath}/`) &&
      (e.instancePath === c.instancePath || e.instancePath.startsWith(`${c.instancePath}/`)),
  );
}

/** One line per distinct error, `<instancePath or "/">: <message>`, in Ajv's order. */
export function formatSchemaErrors(errors: ErrorObject[] | null | undefined): string[] {
  if (!errors || errors.length === 0) return [];
  const composites = errors.filter((e) => COMPOSITE.has(e.keyword));
  const lines = new Set<string>();
  for (const e of errors) {
    // `if` only says "must match then schema"; the `then` errors carry the detail.
    if (e.keyword === 'if' || isBranchNoise(e, composites)) continue;
    lines.add(`${e.instancePath === '' ? '/' : e.instancePath}: ${keywordMessage(e)}`);
  }
  return [...lines];
}
