#!/bin/sh
# clusterseed lab on Multipass: ./launch.sh [AGENTS]  (default 1)   ·   ./launch.sh --delete
# One server "desktop" and AGENTS agents "node-N", Ubuntu 24.04 of the host's architecture (arm64 on
# Apple Silicon: those are not Raspberry Pis, so no raspberry_pi flag). Writes ./inventory.yaml.
# Then: npx zx ../../scripts/site.mjs -i lab/multipass/inventory.yaml --accept-new-host-keys
set -eu
cd "$(dirname "$0")"
if [ "${1:-}" = "--delete" ]; then
  for vm in $(multipass list --format csv | awk -F, 'NR > 1 && $1 ~ /^cs-/ {print $1}'); do multipass delete --purge "$vm"; done
  rm -f inventory.yaml cloud-init.rendered.yaml
  exit 0
fi
agents=${1:-1}
case "$agents" in '' | *[!0-9]*) echo "usage: $0 [AGENTS] | --delete" >&2; exit 1 ;; esac
names="desktop"
i=1
while [ "$i" -le "$agents" ]; do names="$names node-$i"; i=$((i + 1)); done

[ -f id_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -C clusterseed-multipass-lab -f id_ed25519
sed "s|__ADMIN_PUBLIC_KEY__|$(cat id_ed25519.pub)|" cloud-init.yaml > cloud-init.rendered.yaml

for name in $names; do
  mem=1G; [ "$name" = desktop ] && mem=2G
  multipass info "cs-$name" >/dev/null 2>&1 ||
    multipass launch 24.04 --name "cs-$name" --cpus 2 --memory "$mem" --disk 10G --cloud-init cloud-init.rendered.yaml
done

arch=$(multipass exec cs-desktop -- uname -m)
{
  echo "# Written by lab/multipass/launch.sh"
  echo "cluster: { name: lab, k3s_version: v1.31.4+k3s1 }"
  echo "defaults: { user: admin, become: true, ssh_key: \"$(pwd)/id_ed25519\" }"
  echo "hosts:"
  for name in $names; do
    ip=$(multipass info "cs-$name" --format csv | awk -F, 'NR == 2 {print $3}')
    echo "  $name: { address: $ip, port: 22, arch: $arch }"
  done
  printf 'groups: { servers: [desktop], agents: [%s] }\n' "$(echo "$names" | cut -s -d' ' -f2- | sed 's/ /, /g')"
} > inventory.yaml
echo "wrote $(pwd)/inventory.yaml"
