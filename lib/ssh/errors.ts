import { TransportError } from './types.ts';

/** download() of a path that does not exist on the host (a task failure, not a transport one). */
export class RemoteFileNotFound extends TransportError {
  readonly code = 'ENOENT';
  constructor(
    host: string,
    readonly path: string,
  ) {
    super(`${host}: ${path} does not exist`, 'exec');
    this.name = 'RemoteFileNotFound';
  }
}
