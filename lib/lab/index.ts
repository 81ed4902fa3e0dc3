// The local VM lab: throwaway Debian VMs under QEMU to try clusterseed on (see lab/README.md).
export { labUp, labDown, labStatus, rebootAndWait, sshTarget } from './lab.ts';
export type { LabUpOptions, LabUpResult, LabHost, LabStatus, VmStatus } from './lab.ts';
export type { UdpForward } from './qemu.ts';
export { sshExec, waitForSsh } from './ssh.ts';
export type { LabSshTarget, RemoteResult } from './ssh.ts';
export { defaultLabDir } from './paths.ts';
export { readState, processTag } from './state.ts';
export type { LabState, VmRecord } from './state.ts';
