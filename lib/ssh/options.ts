export interface TransportOptions {
  /** OpenSSH known_hosts file every host key is checked against */
  knownHostsFile: string;
  /** trust and record keys of hosts not in the file yet (a changed key is refused regardless) */
  acceptNewHostKeys?: boolean;
  /** TCP connect + SSH handshake + login, default 15 s */
  connectTimeoutMs?: number;
  /** SSH keepalive interval, default 15 s; 3 unanswered keepalives drop the connection */
  keepaliveMs?: number;
  /** -vv output: connections, commands run, files written; never stdin or file contents */
  log?: (line: string) => void;
  /** private key file used for every host (else host.sshKey, else ssh-agent) */
  privateKey?: string;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
export const DEFAULT_KEEPALIVE_MS = 15_000;
