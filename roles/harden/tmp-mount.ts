// /tmp mount options. nosuid and nodev cost nothing: nobody needs setuid programs or device nodes
// in a world-writable directory. noexec is not a default: things that unpack and run code from
// /tmp break (dpkg/apt helpers of some packages, installers such as K3s' own install.sh, Python
// wheels and JNI libraries that extract a .so there, `needrestart`), and it is bypassed by
// `sh /tmp/x` anyway.
// Least risky: options are only ever added to a /tmp that already is its own mount (live remount,
// and its fstab line if it has one). Turning a /tmp that is part of / into a tmpfs (tmpfs: true)
// uses RAM and hides what is in /tmp, so it is opt-in and takes effect at the next boot.
import type { Change, HostContext, Task } from '../../lib/runner/types.ts';
import { file } from '../../lib/blocks/index.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { putFile } from '../../lib/blocks/remote.ts';

export const TMP_MOUNT_UNIT = '/etc/systemd/system/tmp.mount';

export interface TmpMountSpec {
  tmpfs: boolean;
  size: string;
  options: string[];
}

/** Our tmp.mount (systemd's own, with our options and size), enabled for local-fs.target. */
export function tmpMountUnit(spec: TmpMountSpec): string {
  const options = ['mode=1777', 'strictatime', ...spec.options, `size=${spec.size}`, 'nr_inodes=1m'];
  return [
    '# Managed by clusterseed (role harden, tmp_mount.tmpfs): /tmp as a tmpfs.',
    '[Unit]',
    'Description=Temporary Directory /tmp',
    'ConditionPathIsSymbolicLink=!/tmp',
    'DefaultDependencies=no',
    'Conflicts=umount.target',
    'Before=local-fs.target umount.target',
    'After=swap.target',
    '',
    '[Mount]',
    'What=tmpfs',
    'Where=/tmp',
    'Type=tmpfs',
    `Options=${options.join(',')}`,
    '',
    '[Install]',
    'WantedBy=local-fs.target',
    '',
  ].join('\n');
}

/** fstab with `options` added to the 4th field of the /tmp line(s); other lines untouched. */
export function fstabWithTmpOptions(fstab: string, options: string[]): string {
  return fstab
    .split('\n')
    .map((line) => {
      const f = line.trim().split(/\s+/);
      if (line.trim().startsWith('#') || f[1] !== '/tmp' || f.length < 4) return line;
      const have = f[3].split(',');
      const missing = options.filter((o) => !have.includes(o));
      if (!missing.length) return line;
      f[3] = [...have.filter((o) => o !== 'defaults' || have.length === 1), ...missing].join(',');
      return f.join('\t');
    })
    .join('\n');
}

export function tmpMountTasks(spec: TmpMountSpec): Task[] {
  const tasks: Task[] = [];
  if (spec.tmpfs) {
    tasks.push(file({ path: TMP_MOUNT_UNIT, content: tmpMountUnit(spec), name: 'tmpfs on /tmp (tmp.mount)' }));
    tasks.push({
      name: 'tmp.mount enabled',
      probe: 'systemctl is-enabled tmp.mount 2>/dev/null || true',
      plan(state): Change | null {
        if (state.stdout.trim() === 'enabled') return null;
        return {
          summary: 'enable tmp.mount (a tmpfs on /tmp from the next boot: mounting it now would hide the files in use there)',
          apply: (c) => run(c, 'systemctl daemon-reload && systemctl enable tmp.mount', 'enable tmp.mount').then(() => undefined),
        };
      },
    });
  }
  if (spec.options.length === 0) return tasks;
  tasks.push({
    name: `/tmp mounted ${spec.options.join(',')}`,
    probe: `findmnt -n -o OPTIONS --mountpoint /tmp 2>/dev/null || echo '!none'; echo --; [ -f /etc/fstab ] && base64 -w0 < /etc/fstab; echo`,
    plan(state, ctx: HostContext) {
      const [live = '', fstabB64 = ''] = state.stdout.split('--\n').map((s) => s.trim());
      if (live === '!none' || live === '') {
        return {
          skip: spec.tmpfs
            ? '/tmp is not a mount yet: the tmpfs with these options is mounted at the next boot'
            : '/tmp is part of the root filesystem, so it cannot have its own options: set vars.harden.tmp_mount.tmpfs: true for a tmpfs on /tmp',
        };
      }
      const missing = spec.options.filter((o) => !live.split(',').includes(o));
      const fstab = Buffer.from(fstabB64, 'base64').toString('utf8');
      const nextFstab = fstabWithTmpOptions(fstab, spec.options);
      if (!missing.length && nextFstab === fstab) return null;
      const parts = [
        ...(missing.length ? [`remount /tmp with ${missing.join(',')}`] : []),
        ...(nextFstab !== fstab ? ['add them to /tmp in /etc/fstab'] : []),
      ];
      ctx.log.verbose(`/tmp live options: ${live}`);
      return {
        summary: parts.join('; '),
        diff: nextFstab !== fstab ? [{ path: '/etc/fstab', before: fstab, after: nextFstab }] : undefined,
        async apply(c) {
          if (nextFstab !== fstab) await putFile(c, '/etc/fstab', nextFstab, { mode: 0o644 });
          if (missing.length) await run(c, `mount -o ${q(`remount,${missing.join(',')}`)} /tmp`, 'remount /tmp');
        },
      };
    },
  });
  return tasks;
}
