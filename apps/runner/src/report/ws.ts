/**
 * A minimal WebSocket client (RFC 6455, text frames, client masking) over node:http's upgrade, for the
 * Chrome DevTools Protocol. Node 20 has no global WebSocket (it came unflagged in Node 22), and the
 * project adds no dependency for a test-only browser check.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';

export interface MiniWebSocket {
  send(text: string): void;
  close(): void;
}

function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (len < 126) head[1] = 0x80 | len;
  else if (len < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

/** Connects to a ws:// url; `onMessage` gets every complete text message, `onClose` once. */
export function connectWebSocket(
  url: string,
  onMessage: (text: string) => void,
  onClose: (why: string) => void,
): Promise<MiniWebSocket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: `${u.pathname}${u.search}`,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
    });
    req.on('error', reject);
    req.on('response', (res) => reject(new Error(`${url}: HTTP ${res.statusCode} instead of a WebSocket upgrade`)));
    req.on('upgrade', (_res, socket: Duplex, head: Buffer) => {
      let buf = head;
      let parts: Buffer[] = [];
      let closed = false;
      const finish = (why: string): void => {
        if (closed) return;
        closed = true;
        onClose(why);
      };
      const pump = (): void => {
        for (;;) {
          if (buf.length < 2) return;
          const fin = (buf[0] & 0x80) !== 0;
          const opcode = buf[0] & 0x0f;
          let len = buf[1] & 0x7f;
          let off = 2;
          if (len === 126) {
            if (buf.length < 4) return;
            len = buf.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (buf.length < 10) return;
            len = Number(buf.readBigUInt64BE(2));
            off = 10;
          }
          const masked = (buf[1] & 0x80) !== 0;
          const maskOff = off;
          if (masked) off += 4;
          if (buf.length < off + len) return;
          let payload = buf.subarray(off, off + len);
          if (masked) payload = Buffer.from(payload.map((b, i) => b ^ buf[maskOff + (i & 3)]));
          buf = buf.subarray(off + len);
          if (opcode === 0x8) {
            socket.end();
            return finish('closed by peer');
          }
          if (opcode === 0x9) socket.write(frame(0xa, payload));
          else if (opcode === 0x1 || opcode === 0x0) {
            parts.push(payload);
            if (fin) {
              const text = Buffer.concat(parts).toString('utf8');
              parts = [];
              onMessage(text);
            }
          }
        }
      };
      socket.on('data', (d: Buffer) => {
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        pump();
      });
      socket.on('close', () => finish('socket closed'));
      socket.on('error', (e) => finish(e.message));
      pump();
      resolve({
        send: (text) => void socket.write(frame(0x1, Buffer.from(text, 'utf8'))),
        close: () => {
          if (!closed) socket.end(frame(0x8, Buffer.alloc(0)));
        },
      });
    });
    req.end();
  });
}
