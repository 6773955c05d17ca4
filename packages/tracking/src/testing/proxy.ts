/**
 * A loopback HTTP proxy in front of a test server that records every request and injects faults:
 * `unavailable` answers 503 without forwarding; `lose-response` forwards (the server applies the
 * call) and then answers 503, the case that duplicates metric points when a client blindly retries.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault = 'unavailable' | 'lose-response';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** Status sent to the client. */
  status: number;
}

export class FaultProxy {
  readonly requests: RecordedRequest[] = [];
  private faults: { fault: Fault; match: (r: RecordedRequest) => boolean; left: number }[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly target: URL,
  ) {}

  static async start(target: string): Promise<FaultProxy> {
    const server = http.createServer();
    const self = new FaultProxy(server, new URL(target));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => void self.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return self;
  }

  get uri(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next `count` requests matching `match` get `fault`. */
  inject(fault: Fault, count: number, match: (r: RecordedRequest) => boolean = () => true): void {
    this.faults.push({ fault, match, left: count });
  }

  /** Drops faults not yet used; returns how many were left. */
  clearFaults(): number {
    const left = this.faults.reduce((n, f) => n + f.left, 0);
    this.faults = [];
    return left;
  }

  /** Requests whose path starts with `/api/2.0/mlflow/<endpoint>`. */
  calls(endpoint: string): RecordedRequest[] {
    return this.requests.filter((r) => r.url.startsWith(`/api/2.0/mlflow/${endpoint}`));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      body: Buffer.concat(chunks),
      status: 0,
    };
    this.requests.push(rec);
    const f = this.faults.find((x) => x.left > 0 && x.match(rec));
    if (f) f.left--;
    if (f?.fault === 'unavailable') return this.unavailable(res, rec);
    const upstream = await this.forward(rec).catch(() => undefined);
    if (!upstream || f?.fault === 'lose-response') return this.unavailable(res, rec);
    rec.status = upstream.status;
    res.writeHead(upstream.status, upstream.headers);
    res.end(upstream.body);
  }

  private unavailable(res: http.ServerResponse, rec: RecordedRequest): void {
    rec.status = 503;
    res.writeHead(503, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error_code: 'TEMPORARILY_UNAVAILABLE', message: 'injected by FaultProxy' }));
  }

  private forward(rec: RecordedRequest): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const up = http.request(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: rec.method,
          path: rec.url,
          headers: { ...rec.headers, host: this.target.host },
        },
        (r) => {
          const out: Buffer[] = [];
          r.on('data', (c: Buffer) => out.push(c));
          r.on('end', () => resolve({ status: r.statusCode ?? 502, headers: r.headers, body: Buffer.concat(out) }));
          r.on('error', reject);
        },
      );
      up.on('error', reject);
      up.end(rec.body);
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
