// Text from the bus or a member (host names, member ids, errors, `--by` names) as the CLI prints it to a
// terminal: control characters shown as `\uXXXX`, never interpreted (an ESC sequence can rewrite the screen).

/** Control characters (C0, DEL, C1) as `\\uXXXX`. */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
