/**
 * Everything checkable is checked before a run opens (issue 13, point 6): wrong taps, dataset folders
 * and files, an unwritable cacheDir or store, a malformed tracking URI, a server that is not MLflow.
 * Each is exit 2 with one line `file:line path: …`, and nothing is created: no run folder, no spool.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.js';

const base = `experiment: pre
seed: 1
cacheDir: .niwt/cache
dataset:
  name: shapes
backbone:
  name: small-cnn
  tap: conv3
methods:
  - name: niwt
tracking:
  uri: file:./mlruns
`;
const folderData = base.replace('  name: shapes', '  name: folder\n  root: data');
const FOLDER_WANT =
  'expected a folder-format dataset (with classes.txt, attributes.txt, class-attributes.txt, split.yaml, images/)';

/** A real peer that is not MLflow: answers every request with `body`. */
async function fakeServer(
  status: number,
  type: string,
  body: string,
): Promise<{ uri: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const srv = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  return { uri: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => srv.close(() => r())) };
}

const HTML = '<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Single sign-on</body></html>';
let sso: Awaited<ReturnType<typeof fakeServer>>;
let wrongPrefix: Awaited<ReturnType<typeof fakeServer>>;
let otherJson: Awaited<ReturnType<typeof fakeServer>>;

beforeAll(async () => {
  sso = await fakeServer(200, 'text/html; charset=utf-8', HTML);
  wrongPrefix = await fakeServer(404, 'text/html', '<html><body><h1>Not Found</h1></body></html>');
  otherJson = await fakeServer(200, 'application/json', '{"status":"ok"}');
});
afterAll(async () => {
  await Promise.all([sso?.close(), wrongPrefix?.close(), otherJson?.close()]);
});

type Setup = (dir: string) => void;
const folder =
  (files: Record<string, string>, dirs: string[] = []): Setup =>
  (dir) => {
    mkdirSync(path.join(dir, 'data'), { recursive: true });
    for (const d of dirs) mkdirSync(path.join(dir, 'data', d), { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, 'data', f), text);
  };
const allFiles = {
  'classes.txt': 'a\nb\n',
  'attributes.txt': 'x\n',
  'class-attributes.txt': '1\n0\n',
  'split.yaml': 'seen: [a]\nunseen: [b]\n',
};

async function expectPreRunError(
  text: string,
  message: string | RegExp,
  setup?: Setup,
  uri?: () => string,
): Promise<void> {
  const dir = tempDir('pre');
  setup?.(dir);
  const before = readdirSync(dir).sort();
  writeFileSync(path.join(dir, 'exp.yaml'), uri ? text.replace('file:./mlruns', uri()) : text);
  const r = await runCli(['run', 'exp.yaml'], dir);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  const msg = lines[0]
    .replace(/^niwt: /, '')
    .split(dir)
    .join('<dir>');
  if (typeof message === 'string') expect(msg).toBe(message);
  else expect(msg).toMatch(message);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  // no run folder, no spool, no cache: the error came before a run opened
  expect(readdirSync(dir).sort()).toEqual([...before, 'exp.yaml'].sort());
}

describe('errors found before a run opens: exit 2, one line, nothing created', () => {
  it('a VGG16 tap that is not a layer: the taps are an enum, with a suggestion', async () => {
    await expectPreRunError(
      base.replace('name: small-cnn', 'name: vgg16').replace('tap: conv3', 'tap: block5_conv4'),
      new RegExp(
        String.raw`^exp\.yaml:8 backbone\.tap: expected one of ` +
          String.raw`"block1_conv1"\|"block1_conv2"\|"block1_pool"\|.*\|… \(18 in all: niwt plugins ls lists ` +
          String.raw`them\) \(found "block5_conv4"; did you mean 'block5_conv1'\?\)$`,
      ),
    );
  });

  it('a misspelt ResNet-101 tap', async () => {
    await expectPreRunError(
      base.replace('name: small-cnn', 'name: resnet101').replace('tap: conv3', 'tap: conv4_block23_ou'),
      new RegExp(
        String.raw`^exp\.yaml:8 backbone\.tap: expected one of "pool1_pool"\|.*\(34 in all: niwt plugins ls ` +
          String.raw`lists them\) \(found "conv4_block23_ou"; did you mean 'conv4_block23_out'\?\)$`,
      ),
    );
  });

  it('a ResNet tap right before global pooling (constant importances)', async () => {
    await expectPreRunError(
      base.replace('name: small-cnn', 'name: resnet50').replace('tap: conv3', 'tap: conv5_block3_out'),
      "exp.yaml:8 backbone.tap: 'conv5_block3_out' sits directly before global average pooling and a linear " +
        "head, so every image gets the same neuron importances; use e.g. 'conv5_block1_out' (or " +
        'allowDegenerateTap: true)',
    );
  });

  it('a dataset root that does not exist', async () => {
    await expectPreRunError(
      folderData,
      `exp.yaml:6 dataset.root: <dir>/data does not exist; ${FOLDER_WANT}; fix the path (relative to the ` +
        `working directory)`,
    );
  });

  it('an empty dataset root', async () => {
    await expectPreRunError(folderData, `exp.yaml:6 dataset.root: <dir>/data is empty; ${FOLDER_WANT}`, folder({}));
  });

  it('a dataset file that is empty, and one that is missing', async () => {
    await expectPreRunError(
      folderData,
      `exp.yaml:6 dataset.root: <dir>/data/classes.txt is empty; ${FOLDER_WANT}`,
      folder({ ...allFiles, 'classes.txt': '' }, ['images']),
    );
    await expectPreRunError(
      folderData,
      `exp.yaml:6 dataset.root: <dir>/data/images/ is missing; ${FOLDER_WANT}`,
      folder(allFiles),
    );
  });

  it('a cacheDir that cannot be written', async () => {
    await expectPreRunError(
      base.replace('cacheDir: .niwt/cache', 'cacheDir: blocker/cache'),
      'exp.yaml:3 cacheDir: <dir>/blocker/cache cannot be written (ENOTDIR: <dir>/blocker is a file, not a ' +
        'folder); set cacheDir to a folder you can write',
      (dir) => writeFileSync(path.join(dir, 'blocker'), 'a file'),
    );
  });

  it('a file store that cannot be written', async () => {
    await expectPreRunError(
      base,
      'exp.yaml:12 tracking.uri: the file store <dir>/blocker/mlruns cannot be written (ENOTDIR: ' +
        '<dir>/blocker is a file, not a folder); choose a folder you can write',
      (dir) => writeFileSync(path.join(dir, 'blocker'), 'a file'),
      () => 'file:./blocker/mlruns',
    );
  });

  it.each(['127.0.0.1:5701', 'localhost:5701'])('a tracking URI without a scheme: %s', async (uri) => {
    await expectPreRunError(
      base,
      `exp.yaml:12 tracking.uri: "${uri}" has no scheme; for a tracking server write "http://${uri}" (a ` +
        `local store is "file:./mlruns")`,
      undefined,
      () => uri,
    );
  });

  it('a server answering HTTP 200 with an HTML page (a login): no run is created on it', async () => {
    const fix = "check that the URI is the MLflow server's root (no login page or extra path in between)";
    await expectPreRunError(
      base,
      `exp.yaml:12 tracking.uri: ${sso.uri}: expected an MLflow REST answer from ` +
        `/api/2.0/mlflow/experiments/get-by-name, got HTTP 200 text/html "<!DOCTYPE html> ` +
        `<html><head><title>Sign in</title></head><bo…"; ${fix}`,
      undefined,
      () => `http://niwt:pw-secret@${new URL(sso.uri).host}`,
    );
    expect(sso.requests).toEqual(['GET /api/2.0/mlflow/experiments/get-by-name?experiment_name=Default']);
    await expectPreRunError(
      base,
      `exp.yaml:12 tracking.uri: ${wrongPrefix.uri}/mlflow: expected an MLflow REST answer from ` +
        `/api/2.0/mlflow/experiments/get-by-name, got HTTP 404 text/html "<html><body><h1>Not ` +
        `Found</h1></body></html>"; ${fix}`,
      undefined,
      () => `${wrongPrefix.uri}/mlflow`,
    );
    await expectPreRunError(
      base,
      `exp.yaml:12 tracking.uri: ${otherJson.uri}: expected an MLflow REST answer from ` +
        `/api/2.0/mlflow/experiments/get-by-name, got HTTP 200 JSON without 'experiment': application/json ` +
        `"{\\"status\\":\\"ok\\"}"; ${fix}`,
      undefined,
      () => otherJson.uri,
    );
  });
});
