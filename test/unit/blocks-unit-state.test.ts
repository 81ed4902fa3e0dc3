// unitStateProbe / parseUnitStates: one `systemctl show` for several units, mapped back by position.
// The sample output is what systemd 252 (Debian 12) printed in a test host for these units.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { isActiveState, isEnabledState, parseUnitStates, unitStateProbe } from '../../lib/blocks/unit-state.ts';

const SAMPLE = `LoadState=loaded
ActiveState=inactive
UnitFileState=enabled
NeedDaemonReload=no

LoadState=not-found
ActiveState=inactive
UnitFileState=Failed to get unit file state for nosuch.service: No such file or directory
NeedDaemonReload=no

LoadState=masked
ActiveState=inactive
UnitFileState=masked
NeedDaemonReload=no

LoadState=loaded
ActiveState=active
UnitFileState=enabled
NeedDaemonReload=yes
`;

test('one systemctl call for all units, names quoted', () => {
  const probe = unitStateProbe(['ssh.service', "odd'name.service"]);
  assert.is(probe.match(/systemctl/g)?.length, 1);
  assert.match(probe, /-p LoadState,UnitFileState,ActiveState,NeedDaemonReload -- '?ssh\.service'? 'odd'\\''name\.service'/);
  assert.throws(() => unitStateProbe([]), /no unit named/);
});

test('blocks map to the units by position; an error text in UnitFileState reads as unknown', () => {
  const units = ['systemd-timesyncd', 'nosuch.service', 'apt-daily.timer', 'sshd.service'];
  const st = parseUnitStates(SAMPLE, units);
  assert.equal(st.get('systemd-timesyncd'), { load: 'loaded', unitFile: 'enabled', active: 'inactive', needsDaemonReload: false });
  assert.equal(st.get('nosuch.service'), { load: 'not-found', unitFile: '', active: 'inactive', needsDaemonReload: false });
  assert.is(st.get('apt-daily.timer')!.unitFile, 'masked');
  assert.equal(st.get('sshd.service'), { load: 'loaded', unitFile: 'enabled', active: 'active', needsDaemonReload: true });
});

test('no output (systemctl missing or failed): every unit unknown, nothing thrown', () => {
  const st = parseUnitStates('', ['a.service', 'b.timer']);
  assert.equal(st.get('b.timer'), { load: '', unitFile: '', active: '', needsDaemonReload: false });
});

test('enabled and active in the sense the service block acts on', () => {
  for (const s of ['enabled', 'enabled-runtime', 'static', 'alias']) assert.ok(isEnabledState(s), s);
  for (const s of ['disabled', 'masked', 'indirect', '']) assert.not.ok(isEnabledState(s), s);
  for (const s of ['active', 'activating', 'reloading']) assert.ok(isActiveState(s), s);
  for (const s of ['inactive', 'failed', 'deactivating', '']) assert.not.ok(isActiveState(s), s);
});

test.run();
