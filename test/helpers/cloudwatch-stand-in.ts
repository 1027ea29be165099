// A local HTTP stand-in for Amazon CloudWatch's PutMetricData, for tests: no AWS endpoint is reachable
// from these machines. It speaks the API as the SDK (@aws-sdk/client-cloudwatch 3.x) does — the AWS JSON
// 1.0 protocol (`X-Amz-Target: GraniteServiceVersion20100801.PutMetricData`), SigV4-signed requests
// (the signature is recomputed with the expected secret and compared), `{}` on success and the service's
// error bodies (`__type`, `message`, `x-amzn-query-error`) when told to refuse.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PutMetricDataRequest {
  receivedAt: number;
  /** The request's `X-Amz-Date`, parsed. */
  signedAt: Date;
  region: string;
  accessKeyId: string;
  body: {
    Namespace: string;
    MetricData: Array<{ MetricName: string; Dimensions: Array<{ Name: string; Value: string }>; Unit?: string; Value: number; Timestamp: number }>;
  };
}

/** How the stand-in answers the next requests. */
export type CloudWatchBehaviour = 'accept' | 'throttle' | 'invalid-client-token';

export interface CloudWatchStandIn {
  url: string;
  requests: PutMetricDataRequest[];
  /** Every answer it gave: status and error type (`ok` for 200). */
  answers: string[];
  behaviour: CloudWatchBehaviour;
  close(): Promise<void>;
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** RFC 3986 encoding as SigV4 wants it in canonical query strings. */
const uriEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The SigV4 signature of a request (AWS's "Create a signed AWS API request"): canonical request →
 * string to sign → HMAC with the key derived from the secret, date, region and service.
 */
function sigV4Signature(options: { method: string; path: string; query: URLSearchParams; headers: http.IncomingHttpHeaders; signedHeaders: string[]; body: Buffer; secret: string; date: string; region: string; service: string }): string {
  const canonicalQuery = [...options.query.entries()]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = options.signedHeaders.map((h) => `${h}:${String(options.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = [options.method, options.path, canonicalQuery, canonicalHeaders, options.signedHeaders.join(';'), sha256(options.body)].join('\n');
  const amzDate = String(options.headers['x-amz-date']);
  const scope = `${options.date}/${options.region}/${options.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${options.secret}`, options.date), options.region), options.service), 'aws4_request');
  return hmac(key, stringToSign).toString('hex');
}

/** Starts the stand-in on 127.0.0.1; requests must be signed with `credentials` for `region`. */
export async function startCloudWatchStandIn(credentials: { accessKeyId: string; secretAccessKey: string }, region: string): Promise<CloudWatchStandIn> {
  const standIn: Omit<CloudWatchStandIn, 'url' | 'close'> = { requests: [], answers: [], behaviour: 'accept' };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const fail = (status: number, type: string, message: string, queryError: string) => {
        standIn.answers.push(`${status} ${type}`);
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `stand-in-${standIn.answers.length}`, 'x-amzn-query-error': queryError });
        res.end(JSON.stringify({ __type: `com.amazonaws.cloudwatch#${type}`, message }));
      };
      const url = new URL(req.url ?? '/', 'http://stand-in');
      if (req.method !== 'POST' || url.pathname !== '/' || req.headers['x-amz-target'] !== 'GraniteServiceVersion20100801.PutMetricData' || req.headers['content-type'] !== 'application/x-amz-json-1.0') {
        return fail(400, 'UnknownOperationException', `stand-in: expected POST / with X-Amz-Target GraniteServiceVersion20100801.PutMetricData, got ${req.method} ${req.url} ${String(req.headers['x-amz-target'])}`, 'UnknownOperation;Sender');
      }
      const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(String(req.headers.authorization ?? ''));
      if (!auth) return fail(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token', 'MissingAuthenticationToken;Sender');
      const [, accessKeyId, date, signedRegion, service, signedHeaders, signature] = auth;
      if (accessKeyId !== credentials.accessKeyId || standIn.behaviour === 'invalid-client-token') {
        return fail(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.', 'InvalidClientTokenId;Sender');
      }
      const expected = sigV4Signature({ method: 'POST', path: url.pathname, query: url.searchParams, headers: req.headers, signedHeaders: signedHeaders!.split(';'), body, secret: credentials.secretAccessKey, date: date!, region: signedRegion!, service: service! });
      if (service !== 'monitoring' || signedRegion !== region || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature!))) {
        return fail(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.', 'SignatureDoesNotMatch;Sender');
      }
      if (standIn.behaviour === 'throttle') return fail(400, 'Throttling', 'Rate exceeded', 'Throttling;Sender');
      const amzDate = String(req.headers['x-amz-date']);
      const signedAt = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
      standIn.requests.push({ receivedAt: Date.now(), signedAt, region: signedRegion!, accessKeyId: accessKeyId!, body: JSON.parse(body.toString('utf8')) as PutMetricDataRequest['body'] });
      standIn.answers.push('200 ok');
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `stand-in-${standIn.answers.length}` });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(standIn, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
