// Bad input or a refused operation, as opposed to a bug: the commands print its message without a
// stack trace and exit 1 (cli/errors.ts reads `userError`). Each kind of refusal is a subclass, so
// callers can still catch it by type; its name is the subclass's.
export class UserError extends Error {
  readonly userError = true;
  constructor(message?: string) {
    super(message);
    this.name = new.target.name;
  }
}
