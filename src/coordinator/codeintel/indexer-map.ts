// Which container image each inferred indexer runs in. The defaults are the local images that
// `npm run images -- --indexers` builds (no registry is needed); the site setting
// `codeIntelAutoIndexing.indexerMap` (JSON, e.g. {"typescript": "registry.example.com/scip-typescript:custom"})
// overrides any of them, as the original's setting does.
import { z } from 'zod';

/** Versions of the npm packages the images hold (package.json pins the same). */
export const SCIP_TYPESCRIPT_VERSION = '0.4.0';
export const SCIP_PYTHON_VERSION = '0.6.6';
/** The version of this project's `src` (the package's version). */
export const SRC_CLI_VERSION = '0.1.0';

/** The indexers inference knows, by the key the indexer map uses. */
export type IndexerKey = 'typescript' | 'python';

export const DEFAULT_INDEXER_IMAGES: Readonly<Record<IndexerKey, string>> = {
  typescript: `executors-scip-typescript:${SCIP_TYPESCRIPT_VERSION}`,
  python: `executors-scip-python:${SCIP_PYTHON_VERSION}`,
};

/** The image of the upload step (the original's `executors.srcCLIImage:executors.srcCLIImageTag`). */
export const DEFAULT_SRC_CLI_IMAGE = `executors-src-cli:${SRC_CLI_VERSION}`;

/** The name of the site setting, as the original's site configuration spells it. */
export const INDEXER_MAP_SETTING = 'codeIntelAutoIndexing.indexerMap';

const IndexerMapSchema = z.record(z.string().min(1), z.string().min(1, 'expected a container image'));
export type IndexerMap = z.infer<typeof IndexerMapSchema>;

/** Parses the setting's JSON; a message naming the problem when it is not a map of names to images. */
export function parseIndexerMap(raw: string | undefined): { ok: true; map: IndexerMap } | { ok: false; error: string } {
  if (raw === undefined || raw.trim() === '') return { ok: true, map: {} };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    return { ok: false, error: `${INDEXER_MAP_SETTING}: not JSON: ${(err as Error).message}` };
  }
  const parsed = IndexerMapSchema.safeParse(value);
  if (!parsed.success) return { ok: false, error: `${INDEXER_MAP_SETTING}: expected {"<indexer>": "<image>", …}: ${parsed.error.issues[0]?.message ?? ''}` };
  return { ok: true, map: parsed.data };
}

/** The image for an indexer: the map's entry (under its key or its `scip-` name), else the default. */
export function indexerImage(key: IndexerKey, map: IndexerMap): string {
  return map[key] ?? map[`scip-${key}`] ?? DEFAULT_INDEXER_IMAGES[key];
}
