// `lab ssh NAME` on a terminal: an interactive login shell through ssh2 (no ssh binary needed).
import ssh2 from 'ssh2';
import { connectConfig, type LabSshTarget } from './ssh.ts';

export function interactiveShell(target: LabSshTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    const stdin = process.stdin;
    const restore = () => {
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
    };
    client.on('ready', () => {
      const window = { term: process.env.TERM || 'xterm-256color', rows: process.stdout.rows, cols: process.stdout.columns };
      client.shell(window, (err, stream) => {
        if (err) {
          client.end();
          return reject(err);
        }
        const resize = () => stream.setWindow(process.stdout.rows, process.stdout.columns, 0, 0);
        process.stdout.on('resize', resize);
        if (stdin.isTTY) stdin.setRawMode(true);
        stdin.pipe(stream);
        stream.pipe(process.stdout);
        stream.stderr.pipe(process.stderr);
        stream.on('close', (code: number | null) => {
          process.stdout.off('resize', resize);
          stdin.unpipe(stream);
          restore();
          client.end();
          resolve(code ?? 0);
        });
      });
    });
    client.on('error', (err) => {
      restore();
      reject(err);
    });
    client.connect(connectConfig(target, 30_000));
  });
}
