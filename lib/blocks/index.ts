export { file, absent, renderTemplate, sha256 } from './file.ts';
export { lineInFile, blockInFile, editLine, editBlock } from './edit-file.ts';
export { directory } from './directory.ts';
export { packages } from './packages.ts';
export { service, serviceHandler } from './service.ts';
export { sysctl } from './sysctl.ts';
export { kernelModule } from './kernel-module.ts';
export { command } from './command.ts';
export { q, run } from './shell.ts';
