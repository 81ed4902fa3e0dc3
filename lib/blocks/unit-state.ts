// The unit state fact lives in lib/facts/units.ts; re-exported for the blocks and roles that read it.
export * from '../facts/units.ts';
