// A small router: method + path pattern → handler, with named parameters. Unknown path → 404,
// known path with another method → 405.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** Aborted when the client goes away before the response is complete. Created on first use. */
  readonly signal: AbortSignal;
}

/** What a handler returns; `undefined` means it wrote the response itself (streams). */
export type Reply = { status: number; body?: string | Buffer | object | number; headers?: Record<string, string | undefined> } | undefined;

export type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;

export interface Route {
  method: string;
  /** Used as the `route` label of metrics. */
  name: string;
  pattern: RegExp;
  handler: Handler;
}

export type RouteMatch = { route: Route; params: Record<string, string> } | { methodNotAllowed: string[] } | null;

/**
 * Patterns are written like `/api/v1/queues/:queue/jobs/:id`; a trailing `*name` captures the rest of
 * the path, slashes included (repository names such as `github.com/foo/bar`).
 */
export function compilePath(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) return `(?<${segment.slice(1)}>[^/]+)`;
      if (segment.startsWith('*')) return `(?<${segment.slice(1)}>.+)`;
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}$`);
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, name: string, handler: Handler): this {
    this.routes.push({ method, name, pattern: compilePath(path), handler });
    return this;
  }

  match(method: string, pathname: string): RouteMatch {
    const allowed: string[] = [];
    for (const route of this.routes) {
      const m = route.pattern.exec(pathname);
      if (!m) continue;
      if (route.method === method) {
        const params: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.groups ?? {})) {
          try {
            params[k] = decodeURIComponent(v);
          } catch {
            params[k] = v;
          }
        }
        return { route, params };
      }
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { methodNotAllowed: allowed } : null;
  }
}
