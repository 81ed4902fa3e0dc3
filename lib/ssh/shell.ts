// The one POSIX shell quoter, for every command line clusterseed builds (the transport's own and the
// scripts of blocks and roles: lib/blocks/shell.ts's `q` is shSingleQuote). File names and scripts
// can contain anything but NUL (which no argv can carry).

/** Quote a string as one POSIX sh word, always in single quotes: 'abc' with each ' written as '\'' */
export function shSingleQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a NUL byte cannot be passed in a shell command');
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Quote a string as one POSIX sh word, bare when it is made of safe characters only. */
export function shQuote(value: string): string {
  if (value !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return shSingleQuote(value);
}

/** Quote each word and join them with spaces. */
export function shJoin(words: string[]): string {
  return words.map(shQuote).join(' ');
}
