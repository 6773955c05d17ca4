import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** sha256 over every file's relative path and bytes, in sorted order: equal iff the trees are byte-identical. */
export async function hashTree(root: string): Promise<{ hash: string; files: number; bytes: number }> {
  const files = (await readdir(root, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile())
    .map((d) => path.relative(root, path.join(d.parentPath, d.name)))
    .sort();
  const h = createHash('sha256');
  let bytes = 0;
  for (const f of files) {
    const data = await readFile(path.join(root, f));
    bytes += data.length;
    h.update(f).update('\0').update(data).update('\0');
  }
  return { hash: h.digest('hex'), files: files.length, bytes };
}
