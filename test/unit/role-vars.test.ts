// Every role var is checked against its role's documented defaults when the inventory is loaded:
// an unknown key or a wrong type is an inventory error at its line, before any host is touched.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InventoryError, parseInventory } from '../../lib/inventory/load.ts';
import { runSiteCommand } from '../../cli/site/pipeline.ts';
import { checkInventoryVars } from '../../roles/vars-specs.ts';

const BASE = `cluster:
  name: lab
  k3s_version: v1.31.4+k3s1
defaults: { user: admin }
hosts:
  s1: { address: 127.0.0.1, port: 1 }
groups:
  servers: [s1]
`;

/** The issues checkInventoryVars reports for BASE plus `extra`, as "line:path: message". */
function issuesOf(extra: string, base = BASE): string[] {
  const inventory = parseInventory(base + extra, 'inventory.yaml');
  try {
    checkInventoryVars(inventory);
    return [];
  } catch (err) {
    assert.instance(err, InventoryError);
    return (err as InventoryError).issues.map((i) => `${i.line}:${i.path}: ${i.message}`);
  }
}

test('vars.hardening (documented for months, never read) is an unknown role at its line', () => {
  assert.equal(issuesOf('vars:\n  hardening:\n    ssh_port: 22\n'), [
    '10:vars.hardening: unknown host vars "hardening" (did you mean "harden"?): known are facts, base, harden, wireguard-keys, wireguard, k3s-artifacts, k3s-prereq, platform-prereq, k3s-server, k3s-agent, kubeconfig, cluster-registration, gitops-repo, argocd-bootstrap, k3s-reset, capacity',
  ]);
});

test('harden: unknown keys at any depth and wrong types, in top-level, group and host vars', () => {
  const extra = [
    'vars:',
    '  harden:',
    '    firewall:',
    '      ssh_prot: 2222',
    'groups:',
    '  servers:',
    '    hosts: [s1]',
    '    vars:',
    '      harden: { firewall: { enabled: "yes" }, fail2ban: { maxretry: 5, bantime: 3600 } }',
  ].join('\n');
  const base = BASE.replace('groups:\n  servers: [s1]\n', '');
  assert.equal(issuesOf(`${extra}\n`, base), [
    '10:vars.harden.firewall.ssh_prot: unknown setting "ssh_prot" of harden.firewall (did you mean "ssh_port"?): known are enabled, ssh_port, ssh_allowed_from, api_allowed_from, node_networks, allow_icmp, log_dropped, extra_ports, revert_after_seconds (see the README of role harden)',
    '15:groups.servers.vars.harden.firewall.enabled: expected true or false, got the string "yes"',
    '15:groups.servers.vars.harden.fail2ban.bantime: expected a string, got number 3600',
  ]);
});

test('free-form maps stay free: sysctl values, sshd settings, unattended-upgrades origins; null means none', () => {
  const extra = `vars:
  harden:
    sysctl: { values: { vm.swappiness: 10, kernel.sysrq: null }, optional: [vm.swappiness] }
    sshd: { settings: { Banner: /etc/issue.net, X11Forwarding: null } }
    network_protocols: { blacklist: null }
    firewall: { ssh_allowed_from: 192.168.1.0/24, api_allowed_from: [10.0.0.0/8] }
  base:
    unattended_upgrades: { origins: { raspbian: [] } }
  k3s-prereq: { reboot_timeout: 900 }
  capacity: { cpu: 4, memory: 8Gi }
`;
  assert.equal(issuesOf(extra), []);
});

test('base and k3s-prereq: unknown keys and a non-numeric reboot_timeout', () => {
  assert.equal(issuesOf('vars:\n  base:\n    packages: [htop]\n    time_zone: Europe/Berlin\n  k3s-prereq:\n    reboot_timeout: 10m\n'), [
    '12:vars.base.time_zone: unknown setting "time_zone" of base (did you mean "timezone"?): known are packages, packages_absent, apt_cache_valid_seconds, timezone, time_sync, manage_hostname, admin_user, admin_groups, admin_keys, admin_keys_exclusive, admin_keys_revoked, admin_sudo, unattended_upgrades (see the README of role base)',
    '14:vars.k3s-prereq.reboot_timeout: expected an integer from 30 to 7200, got the string "10m"',
  ]);
});

test('platform-prereq: its defaults.yaml keys are the only settings', () => {
  assert.equal(issuesOf('vars:\n  platform-prereq:\n    iscsi_packages: [open-iscsi]\n    iscsi_pakages: [open-iscsi]\n'), [
    '12:vars.platform-prereq.iscsi_pakages: unknown setting "iscsi_pakages" of platform-prereq (did you mean "iscsi_packages"?): known are iscsi_packages, iscsi_service, nvidia_key_url, nvidia_keyring, nvidia_sources_file, nvidia_repo_url, nvidia_packages, nfs_packages (see the README of role platform-prereq)',
  ]);
});

test('argocd-bootstrap has no vars: its fixed paths and chart pin are not settings', () => {
  assert.equal(issuesOf('vars:\n  argocd-bootstrap:\n    manifests_dir: /tmp\n'), [
    '11:vars.argocd-bootstrap.manifests_dir: unknown setting "manifests_dir": role argocd-bootstrap has no settings (see its README)',
  ]);
});

test('cluster vars: k3s settings checked in depth at their line, other keys unknown', () => {
  const cluster = (vars: string) => BASE.replace('  k3s_version: v1.31.4+k3s1\n', `  k3s_version: v1.31.4+k3s1\n  vars:\n${vars}`);
  assert.equal(issuesOf('', cluster('    k3s:\n      disable: [traefik]\n      etcd_snapshot_retentions: 3\n')), [
    '7:cluster.vars.k3s.etcd_snapshot_retentions: unknown setting "etcd_snapshot_retentions" of k3s (did you mean "etcd_snapshot_retention"?): known are disable, embedded_etcd, etcd_snapshot_schedule, etcd_snapshot_retention, airgap_images, registries, server_config, agent_config, env, kubeconfig, kubeconfig_server, ready_timeout, write_kubeconfig_mode, prefer_bundled_bin, secrets_encryption, pod_security, audit_log, seccomp_default, pod_max_pids, streaming_connection_idle_timeout, protect_kernel_defaults, tls_file_modes (see roles/k3s-server/README.md)',
  ]);
  assert.equal(issuesOf('', cluster('    k3s:\n      server_config:\n        token: abc\n')), [
    '7:cluster.vars.k3s.server_config.token: may not be set here (the token lives in token_file and never in config.yaml)',
  ]);
  assert.equal(issuesOf('', cluster('    storageClass: longhorn\n    k3: {}\n')), [
    '6:cluster.vars.k3: unknown cluster vars "k3" (did you mean "k3s"?): known are k3s, storageClass',
  ]);
});

test('the site command refuses such an inventory before rendering or touching any host', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-vars-'));
  try {
    const key = path.join(dir, 'id_ed25519');
    writeFileSync(key, 'not used: the run stops before connecting\n', { mode: 0o600 });
    const file = path.join(dir, 'inventory.yaml');
    writeFileSync(
      file,
      `${BASE.replace('defaults: { user: admin }', `defaults: { user: admin, ssh_key: ${key} }`)}vars:\n  hardening: { ssh_port: 22 }\n`,
    );
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m), verbose() {}, debug() {}, warn: (m: string) => lines.push(m) };
    try {
      await runSiteCommand({
        inventoryFile: file,
        check: false,
        diff: false,
        forks: 1,
        acceptNewHostKeys: false,
        verbosity: 0,
        log,
        skipPush: true,
      });
      assert.unreachable('an unknown role var must stop the run');
    } catch (err) {
      assert.instance(err, InventoryError);
      assert.match((err as InventoryError).format(), /inventory\.yaml:10:3: vars\.hardening: unknown host vars "hardening"/);
    }
    assert.equal(lines, [], 'nothing ran');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
