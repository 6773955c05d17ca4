/**
 * The Redis reachability check, kept free of heavy imports so `main.ts` can run it before loading the
 * CLI (under load, loading tfjs and the plugins takes seconds; an unreachable Redis must be reported in
 * less). Used again by the queue commands themselves (adapter.ts probeRedis).
 */

/** The URL without its password, for messages and tags. */
export const displayQueueUrl = (url: string): string => url.replace(/\/\/[^@/]*@/, '//***@');

interface ProbeConnection {
  connect(): Promise<void>;
  ping(): Promise<string>;
  disconnect(): void;
  on(event: 'error', listener: (e: Error) => void): unknown;
}

type ProbeConstructor = new (url: string, options: Record<string, unknown>) => ProbeConnection;

/**
 * Connects once with no retries and pings, within `timeoutMs`. Resolves to undefined when Redis answers,
 * else to the one-line message a user gets.
 */
export async function probeRedisUrl(
  Redis: ProbeConstructor,
  url: string,
  timeoutMs = 5000,
): Promise<string | undefined> {
  const once = { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null };
  const probe = new Redis(url, { ...once, connectTimeout: timeoutMs });
  let last: Error | undefined;
  probe.on('error', (e) => void (last = e));
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs / 1000}s`)), timeoutMs);
    });
    await Promise.race([probe.connect().then(() => probe.ping()), timeout]);
    return undefined;
  } catch (e) {
    const why = (last ?? (e as Error)).message.split('\n')[0];
    const fix = 'start it (e.g. scripts/redis.sh start <dir>) or fix --queue';
    return `cannot reach Redis at ${displayQueueUrl(url)} (${why}): ${fix}`;
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
}

/** `--queue <url>` / `--queue=<url>` of a command that talks to Redis first (sweep, worker, queue enqueue). */
export function queueUrlOf(argv: readonly string[]): string | undefined {
  if (!['sweep', 'worker', 'queue'].includes(argv[0] ?? '')) return undefined;
  if (['--dry-run', '--help', '-h'].some((f) => argv.includes(f))) return undefined;
  const i = argv.indexOf('--queue');
  const url = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--queue='))?.slice('--queue='.length);
  return url && /^rediss?:\/\//.test(url) ? url : undefined;
}

/** For main.ts: exit code 2 with the message printed when the command's Redis does not answer. */
export async function redisPreflight(argv: readonly string[]): Promise<number | undefined> {
  const url = queueUrlOf(argv);
  if (!url) return undefined;
  let Redis: ProbeConstructor;
  try {
    const mod = (await import('ioredis')) as unknown as { Redis?: ProbeConstructor; default?: ProbeConstructor };
    Redis = (mod.Redis ?? mod.default)!;
  } catch {
    return undefined; // the command itself reports the missing package
  }
  const problem = await probeRedisUrl(Redis, url);
  if (!problem) return undefined;
  process.stderr.write(`niwt: ${problem}\n`);
  return 2;
}
