/** Values that break naive quoting, splitting or decoding somewhere. */
export const NASTY_VALUES: Record<string, string> = {
  NEWLINES: 'line 1\nline 2\n\nline 4\n',
  CRLF: 'windows\r\nline\r\n',
  QUOTES: `single ' double " back \``,
  EQUALS: 'a=b==c=',
  HASH: '# not a comment #',
  DOLLAR: '$HOME $(id) `id` $$ \\$',
  UNICODE: 'é 日本語 😀 \u2028 \u00a0',
  SPACES: '  leading and trailing  ',
  BACKSLASHES: 'C:\\dir\\ and \\n literally\\',
  JSON: '{"a": [1, "two"], "b": null}',
  PEM: '-----BEGIN KEY-----\nMIIB\\nIjAN+/=\n-----END KEY-----\n',
};
