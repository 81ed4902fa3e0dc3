// The state of systemd units, several at once, in ONE systemctl call. Every systemctl call is a
// process plus a D-Bus round trip to PID 1 (≈ 5 ms of host CPU each, measured in the bench's
// containers); `is-enabled` + `is-active` + `show` per unit cost three of them. `systemctl show`
// prints one block per unit named, in the order named, blank-line separated; a unit that does not
// exist still gets its block (LoadState=not-found), so blocks map to units by position.
import { shQuote as q } from '../ssh/shell.ts';
import type { Fact } from './fact.ts';

export interface UnitState {
  /** loaded, not-found, masked, bad-setting, error */
  load: string;
  /** enabled, enabled-runtime, static, disabled, masked, indirect, generated, alias, ... ('' when unknown) */
  unitFile: string;
  /** active, inactive, activating, deactivating, reloading, failed */
  active: string;
  /** the unit file changed on disk since systemd loaded it */
  needsDaemonReload: boolean;
}

const PROPERTIES = 'LoadState,UnitFileState,ActiveState,NeedDaemonReload';

/** Shell text printing the state of `units` (parse it with parseUnitStates). */
export function unitStateProbe(units: string[]): string {
  if (!units.length) throw new Error('unitStateProbe: no unit named');
  return `systemctl show -p ${PROPERTIES} -- ${units.map(q).join(' ')} 2>/dev/null || true`;
}

/** The states printed by unitStateProbe(units), keyed by the names given there. */
export function parseUnitStates(stdout: string, units: string[]): Map<string, UnitState> {
  const blocks = stdout.trim() === '' ? [] : stdout.trim().split(/\n\s*\n/);
  const states = new Map<string, UnitState>();
  units.forEach((unit, i) => {
    const kv = new Map<string, string>();
    for (const line of (blocks[i] ?? '').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
    }
    // systemctl writes an error text into UnitFileState when it cannot tell (no unit file)
    const unitFile = kv.get('UnitFileState') ?? '';
    states.set(unit, {
      load: kv.get('LoadState') ?? '',
      unitFile: /\s/.test(unitFile) ? '' : unitFile,
      active: kv.get('ActiveState') ?? '',
      needsDaemonReload: kv.get('NeedDaemonReload') === 'yes',
    });
  });
  return states;
}

/** The state of a unit the task listed in `units`, as the probe batch gathered it. */
export function unitState(state: { units?: ReadonlyMap<string, UnitState> }, unit: string): UnitState {
  const found = state.units?.get(unit);
  if (!found) throw new Error(`${unit}: not among the units this task asked for (a bug in the task)`);
  return found;
}

/** enabled in the sense of "starts at boot or with what wants it" */
export function isEnabledState(unitFile: string): boolean {
  return ['enabled', 'enabled-runtime', 'static', 'alias'].includes(unitFile);
}

export function isActiveState(active: string): boolean {
  return active === 'active' || active === 'activating' || active === 'reloading';
}

/** The units of a batch: one `systemctl show` for every unit any task asked about. */
export const unitsFact: Fact<Map<string, UnitState>, string> = {
  name: 'units',
  command: (units) => unitStateProbe([...units]),
  parse: (stdout, units) => parseUnitStates(stdout, [...units]),
};
