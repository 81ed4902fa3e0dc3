import type { Logger } from './types.ts';
import { mask } from './mask.ts';

export interface ConsoleLoggerOptions {
  verbosity: number;
  /** where lines go; default process.stdout */
  write?: (line: string) => void;
  prefix?: string;
}

/** A logger that masks secrets and honours -v / -vv. */
export function consoleLogger(opts: ConsoleLoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const p = opts.prefix ? `${opts.prefix} ` : '';
  return {
    info: (m) => write(mask(p + m)),
    verbose: (m) => {
      if (opts.verbosity >= 1) write(mask(p + m));
    },
    debug: (m) => {
      if (opts.verbosity >= 2) write(mask(p + m));
    },
    warn: (m) => write(mask(`${p}WARNING: ${m}`)),
  };
}

export function withPrefix(log: Logger, prefix: string): Logger {
  return {
    info: (m) => log.info(mask(`${prefix} ${m}`)),
    verbose: (m) => log.verbose(mask(`${prefix} ${m}`)),
    debug: (m) => log.debug(mask(`${prefix} ${m}`)),
    warn: (m) => log.warn(mask(`${prefix} ${m}`)),
  };
}
