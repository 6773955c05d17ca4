/** The 128-byte Level-5 header: text, version, endian indicator; v7.3 (HDF5) and v4 files are told apart here. */
import { FormatError } from '@niwt/core';
import type { MatHeader } from './types.js';

export const HEADER_BYTES = 128;
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Parses the header; `head` is the first 512+8 bytes of the file (or all of it when shorter). */
export function parseHeader(file: string, head: Buffer, fileSize: number): MatHeader {
  const text = head
    .subarray(0, Math.min(116, head.length))
    .toString('latin1')
    .replace(/[\0 ]+$/, '');
  if (
    text.startsWith('MATLAB 7.3 MAT-file') ||
    (head.length >= 520 && head.subarray(512, 520).equals(HDF5_SIGNATURE))
  ) {
    throw new FormatError(
      `${file}: MATLAB v7.3 MAT-file (HDF5), which this reader does not decode; expected a Level-5 ` +
        `(v5/v6/v7) MAT-file ` +
        `(re-save it with MATLAB "save(file, '-v7')" or Python "scipy.io.savemat(file, data, do_compression=True)")`,
    );
  }
  if (fileSize < HEADER_BYTES) {
    throw new FormatError(
      `${file}: truncated MAT-file (${fileSize} bytes, shorter than the 128-byte header); expected a MATLAB ` +
        `Level-5 MAT-file`,
    );
  }
  if (!text.startsWith('MATLAB 5.0 MAT-file')) {
    const hint =
      head.readUInt32LE(0) < 5000 && head[1] === 0 ? ' (it looks like a Level-4 MAT-file: save with -v7)' : '';
    throw new FormatError(
      `${file}: not a MATLAB Level-5 MAT-file (header does not start with "MATLAB 5.0 MAT-file")${hint}`,
    );
  }
  const endian = head.subarray(126, 128).toString('latin1');
  if (endian !== 'IM' && endian !== 'MI') {
    throw new FormatError(
      `${file}: bad endian indicator ${JSON.stringify(endian)} at offset 126; expected "IM" or "MI"`,
    );
  }
  const littleEndian = endian === 'IM';
  const version = littleEndian ? head.readUInt16LE(124) : head.readUInt16BE(124);
  return { text, version, littleEndian };
}
