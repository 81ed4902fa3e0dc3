// Role settings, one mechanism for every role: declared from the role's defaults.yaml (declare.ts),
// checked against every vars layer of the inventory with file, line and field (check.ts), read with
// types by the role's tasks (reader.ts).
export { roleSettings, noSettings, type RoleSettings, type SettingsRules } from './declare.ts';
export {
  layerProblems,
  roleVarsProblems,
  ruleProblem,
  throwIfProblems,
  hostVarsLayers,
  clusterVarsLayers,
  type Problem,
  type VarRule,
  type VarType,
  type VarsLayer,
  type VarsSpec,
} from './check.ts';
export { VarsError, VarsReader, loadDefaults } from './reader.ts';
