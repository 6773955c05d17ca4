import { describe, expect, it } from 'vitest';
import { secretValuesFromEnv, parseServerUri } from './credentials.js';
import { Redactor } from './redact.js';

describe('Redactor', () => {
  it('redacts params by key rule, by extra dotted keys, and secret values anywhere', () => {
    const r = new Redactor(['dataset.auth'], ['tok-123456']);
    expect(
      r.entries({
        'db.password': 'hunter22',
        'x.apiKey': 'k',
        'svc.auth_token': 'abcd',
        'dataset.auth.user': 'bob',
        'dataset.root': '/d',
        note: 'uses tok-123456',
        maxTokens: 5,
        tokenizer: 'bpe',
      }),
    ).toEqual({
      'db.password': '***',
      'x.apiKey': '***',
      'svc.auth_token': '***',
      'dataset.auth.user': '***',
      'dataset.root': '/d',
      note: 'uses ***',
      maxTokens: 5,
      tokenizer: 'bpe',
    });
    expect(r.text('db:\n  password: hunter22\n  url: "http://h/?t=tok-123456"\nlr: 0.1\n')).toBe(
      'db:\n  password: ***\n  url: "http://h/?t=***"\nlr: 0.1\n',
    );
    expect(r.text('{"clientSecret": "s3cr3t-value",\n "a": 1}')).toBe('{"clientSecret": "***",\n "a": 1}');
    expect(r.fileText(Buffer.from([0, 1, 2]))).toBeUndefined();
  });

  it('takes credentials from the environment and the URI, and a token wins for auth', () => {
    const env = {
      MLFLOW_TRACKING_USERNAME: 'u',
      MLFLOW_TRACKING_PASSWORD: 'p-1',
      MLFLOW_TRACKING_TOKEN: 't-2',
      HF_TOKEN: 'hf-3',
      PATH: '/bin',
    };
    expect(secretValuesFromEnv(env, 'http://a:uri-pw@h:1').sort()).toEqual(['hf-3', 'p-1', 't-2', 'uri-pw']);
    expect(parseServerUri('http://a:uri-pw@h:1/', env)).toEqual({
      baseUrl: 'http://h:1',
      credentials: { token: 't-2' },
    });
    expect(parseServerUri('https://a:uri-pw@h/mlflow', {})).toEqual({
      baseUrl: 'https://h/mlflow',
      credentials: { username: 'a', password: 'uri-pw' },
    });
  });
});
