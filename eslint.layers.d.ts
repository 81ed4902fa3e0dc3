// Types of eslint.layers.js for the TypeScript that imports it (test/unit/layers.test.ts).
import type { Linter } from 'eslint';

export interface Layer {
  name: string;
  /** repo-relative folders */
  folders: string[];
}
export const LAYERS: Layer[];
export const ROOT: string;
export function layerOf(rel: string): { index: number; name: string; folder: string } | undefined;
export const layersConfig: Linter.Config[];
