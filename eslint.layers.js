// The layer rule: imports point one way, from the composition root down to the foundation.
//
// LAYERS is the whole policy, written once, lowest layer first. A file may import its own layer and
// any layer BELOW it, never one above (`layers/upward-import`). The order is the order of knowledge:
//   foundation  – inventory model, SSH transport, report/logging, locks, private state, local processes
//   facts       – named probes + parsers of host state, run through the foundation's transport
//   runner      – plans and applies tasks, batching facts; knows nothing of what a task does
//   settings    – a role's declared settings (defaults.yaml) checked against the inventory and read
//                 with types in a host's context (the runner's HostContext)
//   blocks      – reusable tasks (files, units, packages, shell) built on the runner's types
//   knowledge   – domain libraries without a role's tasks (K3s, GitOps, publishing, clusters, WireGuard,
//                 the lab); they may use blocks and each other
//   roles       – the tasks that converge a host, built from blocks and knowledge
//   cli         – the composition root and every CLI: wires roles, knowledge and inventory together
// scripts/, bench/ and test/ stand above all of these and may import anything (they are not listed).
//
// What counts: every `import`, `import type`, `export … from` and `import()` with a relative specifier
// (packages are not layers). Type-only imports count too: a type from a higher layer is still a
// dependency upward (the lower layer cannot be understood or moved without the higher one); a type a
// lower layer needs belongs in that lower layer.
//
// A plain ESLint rule rather than `no-restricted-imports` patterns: a relative specifier is resolved
// against the importing file, so '../blocks/x.ts' is matched by the folder it really names (a glob on the
// specifier cannot tell lib/blocks from roles/x/blocks), dynamic import() is covered, and the message
// names both layers. No plugin, no dependency.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Lowest first. Folders are repo-relative; a file belongs to the layer of its longest matching folder. */
export const LAYERS = [
  { name: 'foundation', folders: ['lib/inventory', 'lib/ssh', 'lib/report', 'lib/locks', 'lib/state', 'lib/process'] },
  { name: 'facts', folders: ['lib/facts'] },
  { name: 'runner', folders: ['lib/runner'] },
  { name: 'settings', folders: ['lib/settings'] },
  { name: 'blocks', folders: ['lib/blocks'] },
  { name: 'knowledge', folders: ['lib/k3s', 'lib/gitops', 'lib/publish', 'lib/clusters', 'lib/wireguard', 'lib/lab'] },
  { name: 'roles', folders: ['roles'] },
  { name: 'cli', folders: ['cli'] },
];

export const ROOT = path.dirname(fileURLToPath(import.meta.url));

/** The layer index (0 = lowest) and name of a repo-relative path, or undefined outside every layer. */
export function layerOf(rel) {
  const p = rel.split(path.sep).join('/');
  let best;
  LAYERS.forEach((layer, index) => {
    for (const folder of layer.folders) {
      if ((p === folder || p.startsWith(folder + '/')) && (!best || folder.length > best.folder.length)) {
        best = { index, name: layer.name, folder };
      }
    }
  });
  return best;
}

const upwardImport = {
  meta: {
    type: 'problem',
    docs: { description: 'imports point down the layers of eslint.layers.js (LAYERS), never up' },
    schema: [],
    messages: {
      upward:
        '{{from}} ({{fromLayer}}) may not import {{to}} ({{toLayer}}): a higher layer. Move what is needed down, or pass it in from the composition root (cli/).',
    },
  },
  create(context) {
    const file = context.filename ?? context.getFilename();
    const fromRel = path.relative(ROOT, file);
    const from = layerOf(fromRel);
    if (!from) return {};
    const check = (node, source) => {
      if (!source || typeof source.value !== 'string' || !source.value.startsWith('.')) return;
      const toRel = path.relative(ROOT, path.resolve(path.dirname(file), source.value));
      const to = layerOf(toRel);
      if (to && to.index > from.index) {
        context.report({
          node: source,
          messageId: 'upward',
          data: { from: fromRel, fromLayer: from.name, to: toRel, toLayer: to.name },
        });
      }
    };
    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source.type === 'Literal' ? node.source : undefined),
      // import x = require('../y') (TypeScript)
      TSExternalModuleReference: (node) => check(node, node.expression),
    };
  },
};

/** The flat-config entries: the local plugin and the rule on every layered folder. */
export const layersConfig = [
  {
    files: LAYERS.flatMap((l) => l.folders.map((f) => `${f}/**/*.{ts,js,mjs}`)),
    plugins: { layers: { rules: { 'upward-import': upwardImport } } },
    rules: { 'layers/upward-import': 'error' },
  },
];
