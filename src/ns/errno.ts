// errno numbers from the helper, as words: "no such file or directory (ENOENT)".
import { getSystemErrorMessage, getSystemErrorName } from 'node:util';

export function errnoText(errno: number): string {
  try {
    return `${getSystemErrorMessage(-errno).toLowerCase()} (${getSystemErrorName(-errno)})`;
  } catch {
    return `errno ${errno}`;
  }
}
