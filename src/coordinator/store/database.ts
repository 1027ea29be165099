// The database seam: one PostgreSQL dialect, two drivers (a server through `pg`, or embedded PGlite).
// Everything above this interface is the same code on both (as pg-boss does with its adapters).

/** Something SQL can be sent to: the database itself, or one transaction's connection. */
export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction on one connection; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Subscribes to `NOTIFY channel`. `onNotify` gets each payload; `onReconnect` is called after a
   * lost listening connection came back (notifications may have been missed meanwhile).
   * Resolves to an unsubscribe function.
   */
  listen(channel: string, onNotify: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>>;
  /** Closes every connection. Idempotent. */
  close(): Promise<void>;
}

/** Parsers shared by both drivers: int8 as a JS number (job ids stay far below 2^53), numeric too. */
export const INT8_OID = 20;
export const NUMERIC_OID = 1700;
