// The lab's inventory.yaml, in clusterseed's inventory format: every VM is 127.0.0.1 plus its
// forwarded SSH port, the lab key and known_hosts are given as absolute paths, and arm64 VMs are
// marked raspberry_pi: true (the documented explicit override: nothing in the guest fakes a Pi).
// SSH goes through the port forwards, but the nodes reach each other on the lab LAN: node_ip is a
// VM's LAN address, and the local kubeconfig points at the API forward on 127.0.0.1.
import type { LabState } from './state.ts';

export const DEFAULT_K3S_VERSION = 'v1.31.4+k3s1';

/** YAML scalar for a path: double-quoted JSON string (valid YAML), so any character is safe. */
const q = (s: string) => JSON.stringify(s);

export function renderInventory(state: LabState, keyPath: string, knownHostsPath: string): string {
  const hosts = state.vms.map((vm) => {
    const pi = vm.raspberryPi ? ', raspberry_pi: true' : '';
    const nodeIp = vm.lan ? `, node_ip: ${vm.lan.address}` : '';
    return `  ${vm.name}: { address: 127.0.0.1, port: ${vm.port}${nodeIp}, arch: ${vm.arch}${pi} }`;
  });
  const group = (role: string) =>
    `[${state.vms
      .filter((v) => v.role === role)
      .map((v) => v.name)
      .join(', ')}]`;
  return [
    `# Written by \`scripts/lab.mjs up\` for lab ${state.id} (${state.dir}); rewritten on every up.`,
    state.lan
      ? `cluster: { name: lab, k3s_version: ${state.k3sVersion}, vars: { k3s: { kubeconfig_server: "https://127.0.0.1:${state.lan.apiPort}" } } }`
      : `cluster: { name: lab, k3s_version: ${state.k3sVersion} }`,
    `defaults: { user: admin, become: true, ssh_key: ${q(keyPath)}, known_hosts: ${q(knownHostsPath)} }`,
    'hosts:',
    ...hosts,
    `groups: { servers: ${group('server')}, agents: ${group('agent')} }`,
    '',
  ].join('\n');
}
