/**
 * A queued job's data holds the config as written, so `niwt sweep --queue` warns when it carries a credential
 * (user info in a URL, a key naming a secret, a path listed in the tracker's `secretKeys`) and says what to use.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { composeExperiment } from '../compose.js';
import { credentialWarning } from '../queue/enqueue.js';

const BASE = `experiment: creds
dataset: { name: shapes, imagesPerClass: 8, seenClasses: 4, unseenClasses: 2 }
backbone: { name: small-cnn }
methods: [{ name: eszsl }]
`;

const warningFor = async (tracking: string): Promise<string | undefined> =>
  credentialWarning(
    await composeExperiment('c.yaml', { inlineText: `${BASE}${tracking}`, logger: silentLogger, cwd: '/tmp' }),
  );

describe('credentialWarning', () => {
  it('names the credential environment variables when the tracking URI carries user:password@', async () => {
    expect(await warningFor('tracking: { uri: "http://alice:s3cret@127.0.0.1:5701" }\n')).toBe(
      'the config carries a credential, which every queued job holds as written in Redis: give each worker ' +
        'MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in its environment instead',
    );
  });

  it('also for a path listed in secretKeys; not for a config without credentials', async () => {
    expect(await warningFor('tracking: { uri: "http://127.0.0.1:5701", secretKeys: [dataset.seed] }\n')).toMatch(
      /^the config carries a credential/,
    );
    expect(await warningFor('tracking: { uri: "http://127.0.0.1:5701" }\n')).toBeUndefined();
    expect(await warningFor('')).toBeUndefined();
  });
});
