/**
 * How a service field is refused: one `UserError('invalid_service', ..., 400)` whose message
 * names the field (or flag) and shows the value it got.
 */
import { UserError } from './errors.ts';

export const fail = (message: string): never => {
  throw new UserError('invalid_service', message, 400);
};

export const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'nothing';
  try {
    const s = JSON.stringify(v);
    return s.length > 60 ? s.slice(0, 57) + '...' : s;
  } catch {
    // too deep or circular for JSON.stringify, and String() of a deep array overflows the stack too
    return Array.isArray(v) ? 'an array' : typeof v;
  }
};

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
