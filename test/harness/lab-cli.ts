// Starts a lab and keeps it until this process is interrupted: for poking at test hosts by hand
// (`node --import tsx test/harness/lab-cli.ts 3`) and for the tests of the harness's own cleanup.
// Prints one JSON line describing the lab once every host answers SSH.
import path from 'node:path';
import { startLab } from './hosts.ts';

const count = Number(process.argv[2] ?? 1);
const prefix = process.argv[3];
const lab = await startLab({ count, prefix });
const info = {
  labDir: path.dirname(lab.keyPath),
  keyPath: lab.keyPath,
  knownHostsFile: lab.knownHostsFile,
  inventory: lab.writeInventory(),
  hosts: lab.hosts,
};
process.stdout.write(`${JSON.stringify(info)}\n`);
// keep the event loop alive until a signal: the harness's handlers tear the lab down
setInterval(() => undefined, 1 << 30);
