// The code-intelligence upload protocol (what `src code-intel upload` sends, reference §2.3): routes,
// query parameters, headers and the answer. A single upload is one POST of the gzip-compressed index;
// a large one is a `multiPart=true&numParts=N` POST, then one POST per part (`uploadId=…&index=i`), then
// `uploadId=…&done=true`. No I/O here: the coordinator and the src command both import it.

/** Executors' upload routes (the original's codeintel jobs use the lsif one; both take SCIP). */
export const EXECUTOR_LSIF_UPLOAD_ROUTE = '/.executors/lsif/upload';
export const EXECUTOR_SCIP_UPLOAD_ROUTE = '/.executors/scip/upload';
/** Uploads made with a user's token, outside executors; src's default route is the lsif one. */
export const USER_SCIP_UPLOAD_ROUTE = '/.api/scip/upload';
export const USER_LSIF_UPLOAD_ROUTE = '/.api/lsif/upload';

/** The size of the index before compression, in bytes (optional, informational). */
export const UNCOMPRESSED_SIZE_HEADER = 'x-uncompressed-size';
/** What src sends as the body's type. */
export const SCIP_CONTENT_TYPE = 'application/x-protobuf+scip';

/** Query parameter names. */
export const UploadQuery = {
  repository: 'repository',
  commit: 'commit',
  root: 'root',
  indexerName: 'indexerName',
  indexerVersion: 'indexerVersion',
  associatedIndexId: 'associatedIndexId',
  multiPart: 'multiPart',
  numParts: 'numParts',
  uploadId: 'uploadId',
  index: 'index',
  done: 'done',
} as const;

/** The 202 answer of a single upload and of a multipart init: the id as a string (older src expects one). */
export interface UploadCreatedResponse {
  id: string;
}
