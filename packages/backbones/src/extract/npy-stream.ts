/**
 * A float32 `.npy` written row block by row block (bounded memory), resumable: the header states the final
 * shape up front and a `<file>.progress` sidecar records the rows already written, so a killed extraction
 * restarts where it stopped. The sidecar is removed when the file is complete.
 */
import { promises as fs } from 'node:fs';

function header(shape: readonly number[]): Buffer {
  const dict =
    `{'descr': '<f4', 'fortran_order': False, 'shape': ` + `(${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const pad = (64 - (unpadded % 64)) % 64;
  const text = dict + ' '.repeat(pad) + '\n';
  const buf = Buffer.alloc(10 + text.length);
  buf.write('\x93NUMPY', 0, 'latin1');
  buf[6] = 1;
  buf[7] = 0;
  buf.writeUInt16LE(text.length, 8);
  buf.write(text, 10, 'latin1');
  return buf;
}

export class NpyRowWriter {
  private constructor(
    readonly file: string,
    private readonly handle: fs.FileHandle,
    private readonly offset: number,
    private readonly rowBytes: number,
    /** Rows already written (resumed). */
    public rows: number,
    readonly totalRows: number,
  ) {}

  /** Opens (or resumes) `file` for `totalRows` rows of `rowShape`. A complete file gives rows = totalRows. */
  static async open(file: string, totalRows: number, rowShape: readonly number[]): Promise<NpyRowWriter> {
    const head = header([totalRows, ...rowShape]);
    const rowBytes = rowShape.reduce((a, b) => a * b, 1) * 4;
    let done = 0;
    let complete = false;
    try {
      const st = await fs.stat(file);
      try {
        done = Number(JSON.parse(await fs.readFile(`${file}.progress`, 'utf8')).rows);
      } catch {
        complete = st.size === head.length + totalRows * rowBytes;
        done = complete ? totalRows : 0;
      }
    } catch {
      done = 0;
    }
    if (complete) return new NpyRowWriter(file, await fs.open(file, 'r'), head.length, rowBytes, totalRows, totalRows);
    const handle = await fs.open(file, done > 0 ? 'r+' : 'w');
    await handle.write(head, 0, head.length, 0);
    await handle.truncate(head.length + done * rowBytes);
    if (done === 0) await fs.writeFile(`${file}.progress`, JSON.stringify({ rows: 0 }));
    return new NpyRowWriter(file, handle, head.length, rowBytes, done, totalRows);
  }

  async append(data: Float32Array): Promise<void> {
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.handle.write(buf, 0, buf.length, this.offset + this.rows * this.rowBytes);
    this.rows += data.byteLength / this.rowBytes;
  }

  /** Records progress durably (call after every appended batch of every file of a set). */
  async checkpoint(): Promise<void> {
    await this.handle.sync();
    await fs.writeFile(`${this.file}.progress.tmp`, JSON.stringify({ rows: this.rows }));
    await fs.rename(`${this.file}.progress.tmp`, `${this.file}.progress`);
  }

  async close(): Promise<void> {
    await this.handle.close();
    if (this.rows === this.totalRows) await fs.rm(`${this.file}.progress`, { force: true });
  }
}
