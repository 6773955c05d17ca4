/**
 * A real MLflow server for integration tests (and local trials): `scripts/mlflow-server.sh` on a free
 * loopback port, SQLite + proxied artifacts in a folder the caller owns. `stop()` and `start()` again
 * keep the same port and data, so tests can take the server away mid-run and bring it back.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import axios from 'axios';
import { TrackingError } from '@niwt/core';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export class MlflowTestServer {
  private proc: ChildProcess | undefined;
  private log = '';

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get uri(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts a server storing into `dataDir`; resolves when /health answers. */
  static async start(
    dataDir: string,
    options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
  ): Promise<MlflowTestServer> {
    const s = new MlflowTestServer(dataDir, await freePort(), {
      ...process.env,
      ...options.env,
      PYTHONWARNINGS: 'ignore',
    });
    await s.start(options.timeoutMs);
    return s;
  }

  async start(timeoutMs = 180_000): Promise<void> {
    if (this.proc) return;
    this.log = '';
    const proc = spawn(path.join(REPO, 'scripts/mlflow-server.sh'), [this.dataDir, String(this.port)], {
      env: this.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      if (proc.exitCode !== null)
        throw new TrackingError(`mlflow server exited with ${proc.exitCode}:\n${this.log.slice(-3000)}`);
      const ok = await axios.get(`${this.uri}/health`, { timeout: 2_000, proxy: false }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 300));
    }
    await this.stop();
    throw new TrackingError(
      `mlflow server did not answer ${this.uri}/health within ${timeoutMs} ms:\n${this.log.slice(-3000)}`,
    );
  }

  /** SIGTERM to the server's process group (uvicorn runs as a child), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.pid === undefined) return;
    this.proc = undefined;
    if (proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    const signal = (s: NodeJS.Signals): void => {
      try {
        process.kill(-(proc.pid as number), s);
      } catch {
        // already gone
      }
    };
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    // uvicorn's child may outlive the parent briefly: wait until the port is closed.
    for (let i = 0; i < 100; i++) {
      const open = await new Promise<boolean>((r) => {
        const c = net.connect(this.port, '127.0.0.1', () => (c.destroy(), r(true)));
        c.once('error', () => r(false));
      });
      if (!open) return;
      if (i === 50) signal('SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Kills the server and blocks until its port is closed: for a test that must stop the server at an exact
   * point of a run (an async stop lets the run go on while uvicorn shuts down gracefully).
   */
  stopNow(): void {
    const proc = this.proc;
    if (!proc || proc.pid === undefined) return;
    this.proc = undefined;
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    execFileSync('bash', [
      '-c',
      `for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/${this.port}) 2>/dev/null || exit 0; sleep 0.05; ` +
        `done; exit 1`,
    ]);
  }

  get output(): string {
    return this.log;
  }
}
