// PGlite's WebAssembly and file-system bundle inside a release binary. From a source checkout, or from the
// bundle an image runs, PGlite finds `pglite.wasm`, `initdb.wasm` and `pglite.data` beside its code by
// itself; a single executable has nothing beside it, so the release build embeds the three files as SEA
// assets (scripts/build/release.ts) and they are handed to PGlite here.
import type { PGliteOptions } from '@electric-sql/pglite';
import { isSingleExecutable } from '../../shared/build-info.js';

/** The asset names the release build embeds, each the file of the same name in PGlite's dist/. */
export const PGLITE_ASSET_NAMES = ['pglite.wasm', 'initdb.wasm', 'pglite.data'] as const;

export type PgliteAssets = Pick<PGliteOptions, 'pgliteWasmModule' | 'initdbWasmModule' | 'fsBundle'>;

/**
 * The hidden first argument of the coordinator's bundled entry point (src/bin/coordinator.ts) that runs
 * createPgliteDataDir in the child: a bundle or a single executable has no pglite-initdb script to run.
 */
export const PGLITE_INITDB_COMMAND = '__pglite-initdb';

// lib ES2023 without DOM types declares WebAssembly's types but not the value.
const wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: ArrayBuffer): Promise<NonNullable<PgliteAssets['pgliteWasmModule']>> } }).WebAssembly;

let loading: Promise<PgliteAssets> | undefined;

/** The embedded assets as PGlite options in a release binary (compiled once), else `{}`. */
export function pgliteAssets(): Promise<PgliteAssets> {
  loading ??= (async () => {
    if (!(await isSingleExecutable())) return {};
    const sea = await import('node:sea');
    const [pgliteWasmModule, initdbWasmModule] = await Promise.all([
      wasm.compile(sea.getAsset('pglite.wasm')),
      wasm.compile(sea.getAsset('initdb.wasm')),
    ]);
    return { pgliteWasmModule, initdbWasmModule, fsBundle: sea.getAssetAsBlob('pglite.data') };
  })();
  return loading;
}
