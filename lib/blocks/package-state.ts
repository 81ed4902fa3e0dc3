// The package state fact lives in lib/facts/packages.ts; re-exported for the blocks and roles that read it.
export * from '../facts/packages.ts';
