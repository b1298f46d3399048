// What a config error may quote of what the operator typed: a key or a name is shown only when
// it looks like a config word (snake_case, short, few digits); anything else may be a secret
// pasted in the wrong place, and config errors go to terminals, CI logs, the process log and 422 bodies.

/**
 * `name` when it looks like a config key or a name (lower case letters, digits, `_` and `-`,
 * starting with a letter, at most 40 characters and at most 2 digits: `client_secrt`, `orders-api`),
 * otherwise undefined — `q7Lr2xVb…` is shown as nothing. Failure: none (pure).
 */
export function shownName(name: string): string | undefined {
  if (!/^[a-z][a-z0-9_-]{0,39}$/.test(name)) return undefined;
  let digits = 0;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) >= 48 && name.charCodeAt(i) <= 57) digits++;
  return digits <= 2 ? name : undefined;
}

/** `"name"` when shownName shows it, else `(value not shown: it may be a secret)`. */
export function quotedName(name: string): string {
  const shown = shownName(name);
  return shown !== undefined ? `"${shown}"` : '(value not shown: it may be a secret)';
}
