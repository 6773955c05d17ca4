/**
 * Opens an HTML file in headless Chromium over the DevTools Protocol and reports what rendered: chart
 * and image counts, images that failed to decode, console errors, exceptions and failed loads, plus a
 * full-page screenshot. Used by the report test; any page can be checked the same way.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectWebSocket, type MiniWebSocket } from './ws.js';

export interface PageCheck {
  readonly title: string;
  readonly sections: readonly string[];
  readonly svgs: number;
  readonly charts: number;
  readonly bars: number;
  readonly points: number;
  /** Texts of the scatter's point labels, as rendered. */
  readonly pointLabels: readonly string[];
  /** Pairs of point labels whose rendered boxes intersect. */
  readonly labelOverlaps: number;
  /** Rings around best points. */
  readonly bestMarks: number;
  readonly lines: number;
  readonly images: number;
  /** Images decoded with a non-zero size. */
  readonly imagesLoaded: number;
  /** src/href values that are neither data: URIs nor in-page anchors (a self-contained page has none). */
  readonly externalRefs: readonly string[];
  readonly consoleErrors: readonly string[];
  readonly width: number;
  readonly height: number;
  readonly screenshot?: string;
  readonly chromiumVersion: string;
}

export interface CheckOptions {
  readonly chromium: string;
  /** Write a full-page PNG here. */
  readonly screenshot?: string;
  readonly width?: number;
  readonly timeoutMs?: number;
}

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

type Json = Record<string, unknown>;

/** Request/response and events of one CDP session. */
class Cdp {
  private id = 0;
  private readonly pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  private readonly listeners: ((method: string, params: Json) => void)[] = [];
  private ws?: MiniWebSocket;

  async open(url: string): Promise<void> {
    this.ws = await connectWebSocket(
      url,
      (text) => {
        const msg = JSON.parse(text) as {
          id?: number;
          result?: Json;
          error?: { message: string };
          method?: string;
          params?: Json;
        };
        if (msg.id !== undefined) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) p?.reject(new Error(msg.error.message));
          else p?.resolve(msg.result ?? {});
        } else if (msg.method) for (const l of this.listeners) l(msg.method, msg.params ?? {});
      },
      (why) => {
        for (const p of this.pending.values()) p.reject(new Error(`DevTools connection closed: ${why}`));
        this.pending.clear();
      },
    );
  }

  send(method: string, params: Json = {}): Promise<Json> {
    const id = ++this.id;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws?.send(JSON.stringify({ id, method, params }));
    });
  }

  on(l: (method: string, params: Json) => void): void {
    this.listeners.push(l);
  }

  close(): void {
    this.ws?.close();
  }
}

const describe = (args: unknown): string =>
  Array.isArray(args)
    ? args.map((a: { value?: unknown; description?: string }) => String(a.value ?? a.description ?? '')).join(' ')
    : '';

const PROBE =
  `JSON.stringify((() => {
  const imgs = [...document.images];
  return {
    title: document.title,
    sections: [...document.querySelectorAll('section')].map((s) => s.id),
    svgs: document.querySelectorAll('svg').length,
    charts: document.querySelectorAll('svg.chart').length,
    bars: document.querySelectorAll('svg.chart rect.bar').length,
    points: document.querySelectorAll('svg.chart circle.point').length,
    pointLabels: [...document.querySelectorAll('svg.chart text.point-label')].map((t) => t.textContent),
    labelOverlaps: (() => {
      const boxes = [...document.querySelectorAll('svg.chart text.point-label')].map((t) => t.getBoundingClientRect());
      let n = 0;
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i], boxes[j]];
          if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) n++;
        }
      return n;
    })(),
    bestMarks: document.querySelectorAll('svg.chart circle.best').length,
    lines: document.querySelectorAll('svg.chart polyline.line').length,
    images: imgs.length,
    imagesLoaded: imgs.filter((i) => i.complete && i.naturalWidth > 0).length,
    externalRefs: [...document.querySelectorAll('[src],[href]')].map((e) => e.getAttribute('src') ?? ` +
  `e.getAttribute('href') ?? '').filter((u) => !u.startsWith('data:') && !u.startsWith('#')),
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  };
})())`;

export async function checkPageInChromium(file: string, opts: CheckOptions): Promise<PageCheck> {
  const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-chromium-'));
  const width = opts.width ?? 1280;
  const child = spawn(
    opts.chromium,
    [
      ...CHROMIUM_FLAGS,
      `--user-data-dir=${profile}`,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--window-size=${width},900`,
      'about:blank',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  const cdp = new Cdp();
  const timeout = opts.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const work = (async (): Promise<PageCheck> => {
      const browserWs = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
          if (m) resolve(m[1]);
        });
        child.once('exit', (code) =>
          reject(new Error(`chromium exited (${code}) before DevTools started:\n${stderr.slice(-2000)}`)),
        );
        child.once('error', reject);
      });
      const base = new URL(browserWs);
      const version = (await (await fetch(`http://${base.host}/json/version`)).json()) as { Browser?: string };
      const targets = (await (await fetch(`http://${base.host}/json/list`)).json()) as {
        type: string;
        webSocketDebuggerUrl?: string;
      }[];
      const page = targets.find((t) => t.type === 'page' && t.webSocketDebuggerUrl);
      if (!page?.webSocketDebuggerUrl) throw new Error(`no page target in ${JSON.stringify(targets)}`);
      await cdp.open(page.webSocketDebuggerUrl);
      const errors: string[] = [];
      let loaded: () => void = () => undefined;
      const load = new Promise<void>((resolve) => (loaded = resolve));
      cdp.on((method, p) => {
        if (method === 'Page.loadEventFired') loaded();
        if (method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert'))
          errors.push(`console.${String(p.type)}: ${describe(p.args)}`);
        if (method === 'Runtime.exceptionThrown')
          errors.push(`exception: ${JSON.stringify((p.exceptionDetails as Json | undefined)?.text ?? p)}`);
        if (method === 'Log.entryAdded') {
          const e = p.entry as { level?: string; text?: string; url?: string } | undefined;
          if (e?.level === 'error') errors.push(`log: ${e.text ?? ''}${e.url ? ` (${e.url})` : ''}`);
        }
        if (method === 'Network.loadingFailed')
          errors.push(`load failed: ${String(p.errorText)} (${String(p.requestId)})`);
      });
      for (const m of ['Runtime.enable', 'Log.enable', 'Page.enable', 'Network.enable']) await cdp.send(m);
      await cdp.send('Emulation.setDeviceMetricsOverride', { width, height: 900, deviceScaleFactor: 1, mobile: false });
      await cdp.send('Page.navigate', { url: pathToFileURL(path.resolve(file)).href });
      await load;
      const evaluated = await cdp.send('Runtime.evaluate', { expression: PROBE, returnByValue: true });
      const probe = JSON.parse(String((evaluated.result as Json).value)) as Omit<
        PageCheck,
        'consoleErrors' | 'screenshot' | 'chromiumVersion'
      >;
      let screenshot: string | undefined;
      if (opts.screenshot) {
        const shot = await cdp.send('Page.captureScreenshot', {
          format: 'png',
          captureBeyondViewport: true,
          clip: { x: 0, y: 0, width, height: Math.min(probe.height, 16_000), scale: 1 },
        });
        await fs.mkdir(path.dirname(opts.screenshot), { recursive: true });
        await fs.writeFile(opts.screenshot, Buffer.from(String(shot.data), 'base64'));
        screenshot = opts.screenshot;
      }
      return { ...probe, consoleErrors: errors, screenshot, chromiumVersion: version.Browser ?? 'unknown' };
    })();
    const deadline = new Promise<never>(
      (_, reject) =>
        (timer = setTimeout(
          () => reject(new Error(`chromium check of ${file} timed out after ${timeout} ms:\n${stderr.slice(-2000)}`)),
          timeout,
        )),
    );
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    cdp.close();
    if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await fs.rm(profile, { recursive: true, force: true }).catch(() => undefined);
  }
}
