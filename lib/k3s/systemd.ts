// The systemd unit and environment file of a K3s node, byte for byte as the official installer
// (get.k3s.io, create_systemd_service_file / create_env_file) writes them for `server` or `agent`
// with no extra arguments: every setting is in /etc/rancher/k3s/config.yaml instead.

export const BIN_DIR = '/usr/local/bin';
export const K3S_BIN = `${BIN_DIR}/k3s`;
export const SYSTEMD_DIR = '/etc/systemd/system';

export type NodeKind = 'server' | 'agent';

/** k3s for servers, k3s-agent for agents (the installer's SYSTEM_NAME) */
export function serviceName(kind: NodeKind): string {
  return kind === 'server' ? 'k3s' : 'k3s-agent';
}

export function unitPath(kind: NodeKind): string {
  return `${SYSTEMD_DIR}/${serviceName(kind)}.service`;
}

export function envPath(kind: NodeKind): string {
  return `${unitPath(kind)}.env`;
}

export function unitFile(kind: NodeKind): string {
  return `[Unit]
Description=Lightweight Kubernetes
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-${envPath(kind)}
KillMode=process
Delegate=yes
User=root
# Having non-zero Limit*s causes performance problems due to accounting overhead
# in the kernel. We recommend using cgroups to do container-local accounting.
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=${K3S_BIN} \\
    ${kind} \\

`;
}

/**
 * The env file (0600): K3S_* and proxy variables as `NAME='value'` lines, which is how the
 * installer's `sh -c export` capture leaves them. The join token travels here, never in argv.
 */
export function envFile(vars: Record<string, string>): string {
  const lines = Object.entries(vars)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => {
      if (/['\n]/.test(v)) throw new Error(`environment value of ${k} may not contain quotes or newlines`);
      return `${k}='${v}'`;
    });
  return lines.length ? lines.join('\n') + '\n' : '';
}
