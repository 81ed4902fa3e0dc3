// POSIX shell quoting for the commands the transport sends. Every value that ends up in a
// remote command line goes through shQuote, so file names and scripts can contain anything
// but NUL (which no argv can carry).

/** Quote a string as one POSIX sh word: 'abc' with each ' written as '\'' */
export function shQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a NUL byte cannot be passed in a shell command');
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Quote each word and join them with spaces. */
export function shJoin(words: string[]): string {
  return words.map(shQuote).join(' ');
}
