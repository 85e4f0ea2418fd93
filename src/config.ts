/**
 * Configuration from environment variables, with errors that name the variable, the value and
 * what is allowed.
 */

import { ConfigError } from './errors.js';

type Env = Record<string, string | undefined>;

function raw(name: string, env: Env): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** An integer variable in [min, max], or undefined when unset. */
export function optionalIntEnv(name: string, min: number, max: number, env: Env = process.env): number | undefined {
  const v = raw(name, env);
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v)) throw new ConfigError(name, v, `an integer from ${min} to ${max}`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(name, v, `an integer from ${min} to ${max}`);
  return n;
}

/** A number variable in [min, max], or undefined when unset. */
export function optionalNumberEnv(name: string, min: number, max: number, env: Env = process.env): number | undefined {
  const v = raw(name, env);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^[0-9]*\.?[0-9]+$/.test(v) || !(n >= min && n <= max)) {
    throw new ConfigError(name, v, `a number from ${min} to ${max}`);
  }
  return n;
}

/** A boolean variable (1/0, true/false, yes/no, on/off), or undefined when unset. */
export function optionalBoolEnv(name: string, env: Env = process.env): boolean | undefined {
  const v = raw(name, env);
  if (v === undefined) return undefined;
  const l = v.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(l)) return true;
  if (['0', 'false', 'no', 'off'].includes(l)) return false;
  throw new ConfigError(name, v, 'one of 1, 0, true, false, yes, no, on, off');
}

/** One of a set of strings, or undefined when unset. */
export function optionalEnumEnv<T extends string>(
  name: string,
  allowed: readonly T[],
  env: Env = process.env,
): T | undefined {
  const v = raw(name, env);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new ConfigError(name, v, `one of ${allowed.join(', ')}`);
  return v as T;
}

/** Checks that `value` is a ws:// or wss:// URL; returns it. @throws ConfigError naming `name`. */
export function checkWsUrl(name: string, value: unknown): string {
  let ok = false;
  try {
    const u = new URL(String(value));
    ok = typeof value === 'string' && (u.protocol === 'ws:' || u.protocol === 'wss:');
  } catch {
    ok = false;
  }
  if (!ok) throw new ConfigError(name, value, 'a ws:// or wss:// URL');
  return value as string;
}

/** Checks that `value` is an http:// or https:// URL; returns it without trailing slashes. @throws ConfigError naming `name`. */
export function checkHttpUrl(name: string, value: unknown): string {
  let ok = false;
  try {
    const u = new URL(String(value));
    ok = typeof value === 'string' && (u.protocol === 'http:' || u.protocol === 'https:') && u.search === '';
  } catch {
    ok = false;
  }
  if (!ok) throw new ConfigError(name, value, 'an http:// or https:// URL without a query');
  return (value as string).replace(/\/+$/, '');
}

/** A ws:// or wss:// URL, or undefined when unset. */
export function optionalUrlEnv(name: string, env: Env = process.env): string | undefined {
  const v = raw(name, env);
  return v === undefined ? undefined : checkWsUrl(name, v);
}

/** An http:// or https:// URL (trailing slashes dropped), or undefined when unset. */
export function optionalHttpUrlEnv(name: string, env: Env = process.env): string | undefined {
  const v = raw(name, env);
  return v === undefined ? undefined : checkHttpUrl(name, v);
}
