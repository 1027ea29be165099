// What `src` reads from its environment, as the original src-cli does: SRC_ENDPOINT (default
// https://sourcegraph.com), SRC_ACCESS_TOKEN (sent as `Authorization: token <t>`), SRC_HEADER_<NAME>=value
// (header `<name>` lowercased: underscores stay, as src-cli does) and SRC_HEADERS ("Name: value" lines,
// for header names with dashes).

export interface SrcConfig {
  endpoint: string;
  /**
   * SRC_PROXY given as a UNIX domain socket (`/path`, `unix:///path`, `~/path`): requests to the endpoint
   * go over that socket (src-cli's socket proxy). HTTP and SOCKS proxies are not supported by this build.
   */
  proxySocketPath: string | undefined;
  accessToken: string | undefined;
  /** Header name (lowercase) → value. */
  additionalHeaders: Record<string, string>;
}

export function parseAdditionalHeaders(env: Record<string, string | undefined>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === '') continue;
    if (name === 'SRC_HEADERS') {
      const text = value.replace(/^"|"$/g, '').replaceAll('\\n', '\n');
      for (const line of text.split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const v = line.slice(colon + 1).trim();
        if (v !== '') headers[line.slice(0, colon).trim().toLowerCase()] = v;
      }
    } else if (name.startsWith('SRC_HEADER_') && name.length > 'SRC_HEADER_'.length) {
      headers[name.slice('SRC_HEADER_'.length).toLowerCase()] = value;
    }
  }
  return headers;
}

/** Throws an Error (the original's message) when SRC_ACCESS_TOKEN and an Authorization header are both set. */
export function loadSrcConfig(env: Record<string, string | undefined>): SrcConfig {
  const additionalHeaders = parseAdditionalHeaders(env);
  const accessToken = env.SRC_ACCESS_TOKEN || undefined;
  if (accessToken && 'authorization' in additionalHeaders) {
    throw new Error("when passing an 'Authorization' additional headers, SRC_ACCESS_TOKEN must never be set");
  }
  let proxySocketPath: string | undefined;
  const proxy = env.SRC_PROXY;
  if (proxy) {
    const p = proxy.replace(/^unix:\/\//, '');
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) throw new Error(`SRC_PROXY=${JSON.stringify(proxy)}: this build of src supports only UNIX domain socket proxies (a path, or unix:///path)`);
    proxySocketPath = p.startsWith('~/') ? `${env.HOME ?? ''}/${p.slice(2)}` : p;
  }
  return { endpoint: (env.SRC_ENDPOINT || 'https://sourcegraph.com').replace(/\/+$/, ''), proxySocketPath, accessToken, additionalHeaders };
}
