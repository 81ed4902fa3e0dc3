// Process entry of a VM supervisor: `node --import tsx lib/lab/supervisor-main.ts VM_DIR`.
import { superviseVm } from './supervisor.ts';

const vmDir = process.argv[2];
if (!vmDir) {
  console.error('usage: supervisor-main.ts VM_DIR');
  process.exit(2);
}
process.exit(await superviseVm(vmDir));
