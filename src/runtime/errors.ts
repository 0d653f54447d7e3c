// One error type for the whole runtime. Every failure a user can see is a
// RuntimeError: a stable `code` for callers and tests, the operation and the
// object (path, key, id) that failed, and an optional hint saying what to do.
// Messages are lowercase with no trailing period and name the failing object,
// so the single line printed on stderr (and in --log) is enough to act on.

export interface RuntimeErrorInit {
  op?: string;
  path?: string;
  hint?: string;
  errno?: number;
  cause?: unknown;
}

/** Marks a RuntimeError across bundles: a cold verb (build/verb-*.cjs) has its
 *  own copy of this class, so instanceof alone would not recognise its errors. */
const BRAND = Symbol.for('tsrun.RuntimeError');

export class RuntimeError extends Error {
  readonly [BRAND] = true;
  readonly code: string;
  readonly op: string | undefined;
  readonly path: string | undefined;
  readonly hint: string | undefined;
  readonly errno: number | undefined;

  constructor(code: string, message: string, init: RuntimeErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'RuntimeError';
    this.code = code;
    this.op = init.op;
    this.path = init.path;
    this.hint = init.hint;
    this.errno = init.errno;
  }

  /** The one line the CLI prints: message, then the hint in parentheses. */
  get line(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

/** Wraps a Node system error (ENOENT, EACCES...) with the operation and path. */
export function fromSystemError(code: string, op: string, path: string, err: unknown): RuntimeError {
  const e = err as NodeJS.ErrnoException;
  const reason = e?.code ? `${e.code.toLowerCase()}` : String(e?.message ?? err);
  return new RuntimeError(code, `${op} ${JSON.stringify(path)}: ${reason}`, {
    op,
    path,
    errno: typeof e?.errno === 'number' ? -e.errno : undefined,
    cause: err,
  });
}

export function isRuntimeError(err: unknown): err is RuntimeError {
  return typeof err === 'object' && err !== null && (err as { [BRAND]?: unknown })[BRAND] === true;
}
