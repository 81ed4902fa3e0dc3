import { readFileSync } from 'node:fs';
import { roleSettingsList } from './roles/vars-specs.ts';
import { k3sSettingsSpec } from './lib/k3s/settings.ts';
const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
function paths(d: Record<string, unknown>, open: string[] = [], prefix = ''): string[] {
  return Object.entries(d).flatMap(([k, v]) => { const p = prefix ? `${prefix}.${k}` : k; return isMapping(v) && Object.keys(v).length && !open.includes(p) ? paths(v, open, p) : [p]; });
}
for (const s of [...roleSettingsList(), k3sSettingsSpec]) {
  const f = s.name === 'k3s' ? 'k3s-server' : s.name;
  let r = ''; try { r = readFileSync(`roles/${f}/README.md`, 'utf8'); } catch {}
  const m = paths(s.defaults, s.open).filter((p) => !r.includes('`' + p + '`') && !r.includes('`' + p + '.<'));
  if (m.length) console.log(s.name, JSON.stringify(m));
}
