// How an error message names an environment variable the config names: as written when it looks
// like one, otherwise not at all (it may be the secret itself). Shared by node/ and cluster/.

/**
 * How an error message names a variable: as written when it looks like one (upper case, digits and
 * `_`, with a `_` or at most 12 characters: `PORTCULLIS_ADMIN_TOKEN`, `PADM`), otherwise not at all —
 * `client_secret_env: q7Lr2xVb…` is most likely the secret itself pasted where its variable's name
 * belongs, and an error message goes to terminals, CI logs and the process log.
 */
export function shownEnvName(name: string): string {
  return /^[A-Z_][A-Z0-9_]{0,63}$/.test(name) && (name.includes('_') || name.length <= 12)
    ? name
    : '(name not shown: not an UPPER_CASE variable name, it may be a secret pasted in its place)';
}
