// A local HTTP stand-in for Google Cloud Monitoring's timeSeries.create and Google's OAuth token endpoint,
// for tests: no Google endpoint is reachable from these machines. It speaks the REST API as the SDK's
// REST transport sends it (POST /v3/projects/{project}/timeSeries, proto3 JSON), checks the bearer token
// (a token it issued at /token for a JWT signed by the service account's key, or a self-signed JWT of that
// key), refuses a point written less than 5 s after the previous one of its time series as the real API
// does, and answers errors in Google's shape ({"error": {"code", "message", "status"}}).
import { createVerify, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TimeSeriesRequest {
  receivedAt: number;
  project: string;
  body: {
    timeSeries: Array<{
      metric: { type: string; labels: Record<string, string> };
      resource: { type: string; labels: Record<string, string> };
      metricKind?: string | number;
      valueType?: string | number;
      points: Array<{ interval: { endTime: string; startTime?: string }; value: { int64Value?: string | number } }>;
    }>;
  };
}

export type CloudMonitoringBehaviour = 'accept' | 'permission-denied' | 'quota-exceeded';

export interface CloudMonitoringStandIn {
  url: string;
  requests: TimeSeriesRequest[];
  answers: string[];
  tokensIssued: number;
  behaviour: CloudMonitoringBehaviour;
  /** A service account key file's JSON whose token_uri is this stand-in. */
  serviceAccountKey: Record<string, string>;
  close(): Promise<void>;
}

/** The minimum time between two points of one time series (Cloud Monitoring's documented write limit). */
const MIN_POINT_SPACING_MS = 5_000;

function verifyJwt(jwt: string, publicKey: KeyObject): Record<string, unknown> | undefined {
  const [header, payload, signature] = jwt.split('.');
  if (!header || !payload || !signature) return undefined;
  const alg = (JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: string }).alg;
  if (alg !== 'RS256') return undefined;
  const ok = createVerify('RSA-SHA256').update(`${header}.${payload}`).verify(publicKey, Buffer.from(signature, 'base64url'));
  return ok ? (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>) : undefined;
}

export async function startCloudMonitoringStandIn(projectId: string): Promise<CloudMonitoringStandIn> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = `metric-writer@${projectId}.iam.gserviceaccount.com`;
  const issued = new Set<string>();
  const lastPointAt = new Map<string, number>();
  const standIn = { requests: [] as TimeSeriesRequest[], answers: [] as string[], tokensIssued: 0, behaviour: 'accept' as CloudMonitoringBehaviour };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const answer = (status: number, json: unknown, label: string) => {
        standIn.answers.push(`${status} ${label}`);
        res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(JSON.stringify(json));
      };
      const googleError = (code: number, status: string, message: string) => answer(code, { error: { code, message, status } }, status);

      if (req.method === 'POST' && url.pathname === '/token') {
        const form = new URLSearchParams(body);
        const claims = form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' ? verifyJwt(form.get('assertion') ?? '', publicKey) : undefined;
        if (!claims || claims.iss !== clientEmail) return answer(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }, 'invalid_grant');
        const token = `ya29.stand-in-${randomBytes(12).toString('hex')}`;
        issued.add(token);
        standIn.tokensIssued += 1;
        return answer(200, { access_token: token, expires_in: 3599, token_type: 'Bearer' }, 'token');
      }

      const match = /^\/v3\/projects\/([^/]+)\/timeSeries$/.exec(url.pathname);
      if (req.method !== 'POST' || !match) return googleError(404, 'NOT_FOUND', `stand-in: no route for ${req.method} ${url.pathname}`);
      const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      const selfSigned = bearer && bearer.split('.').length === 3 ? verifyJwt(bearer, publicKey) : undefined;
      if (!bearer || (!issued.has(bearer) && selfSigned?.iss !== clientEmail)) {
        return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
      }
      if (standIn.behaviour === 'permission-denied') return googleError(403, 'PERMISSION_DENIED', 'Permission monitoring.timeSeries.create denied (or the resource may not exist).');
      if (standIn.behaviour === 'quota-exceeded') return googleError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric \'Time series ingestion requests\'.');
      const parsed = JSON.parse(body) as TimeSeriesRequest['body'];
      for (const series of parsed.timeSeries ?? []) {
        const key = JSON.stringify([series.metric?.type, series.metric?.labels, series.resource]);
        const endTime = Date.parse(series.points?.[0]?.interval?.endTime ?? '');
        const previous = lastPointAt.get(key);
        if (Number.isNaN(endTime)) return googleError(400, 'INVALID_ARGUMENT', 'Field timeSeries[0].points[0].interval.end_time had an invalid value');
        if (previous !== undefined && endTime - previous < MIN_POINT_SPACING_MS) {
          return googleError(400, 'INVALID_ARGUMENT', 'One or more TimeSeries could not be written: One or more points were written more frequently than the maximum sampling period configured for the metric.');
        }
      }
      for (const series of parsed.timeSeries ?? []) {
        lastPointAt.set(JSON.stringify([series.metric?.type, series.metric?.labels, series.resource]), Date.parse(series.points[0]!.interval.endTime));
      }
      standIn.requests.push({ receivedAt: Date.now(), project: decodeURIComponent(match[1]!), body: parsed });
      return answer(200, {}, 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return Object.assign(standIn, {
    url,
    serviceAccountKey: {
      type: 'service_account',
      project_id: projectId,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: clientEmail,
      client_id: '100000000000000000001',
      auth_uri: `${url}/auth`,
      token_uri: `${url}/token`,
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

