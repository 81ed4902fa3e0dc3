// What Argo CD needs to read the GitOps repository: one of Argo CD's repository Secret shapes
// (argoproj/argo-cd docs/operator-manual/declarative-setup.md, "Repositories"). Produced by the
// publish step for the target it pushed to, written by roles/argocd-bootstrap as a 0600 manifest,
// never committed to git.
export type RepoCredential =
  /** SSH: a private key (OpenSSH format) Argo CD presents; the host key is pinned separately */
  | { type: 'ssh'; sshPrivateKey: string }
  /** HTTPS: basic auth with a token as the password (GitHub, Gitea, GitLab all accept this) */
  | { type: 'https'; username: string; password: string };

/** The repository Secret's stringData for a credential (public repositories need none). */
export function repoSecretData(url: string, cred: RepoCredential): Record<string, string> {
  return cred.type === 'ssh'
    ? { type: 'git', url, sshPrivateKey: cred.sshPrivateKey }
    : { type: 'git', url, username: cred.username, password: cred.password };
}

/** The secret values of a credential, for the log masker. */
export function credentialSecrets(cred: RepoCredential | undefined): string[] {
  if (!cred) return [];
  return cred.type === 'ssh' ? [cred.sshPrivateKey] : [cred.password];
}
