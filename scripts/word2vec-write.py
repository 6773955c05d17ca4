#!/usr/bin/env python3
"""Independent word2vec writer (standard library only), to check the TypeScript writer and reader.

Writes what word2vec.c's `save_vectors` writes: binary = ASCII header "<vocab> <dim>\\n", then per word
its UTF-8 bytes, a space, dim little-endian float32 (struct '<f') and '\\n'; text = the header line, then
"word v1 ... vD" per line.

usage: word2vec-write.py OUT {binary|text} [--gzip] [--no-newline] [--no-header] < spec.json
spec.json: {"words": ["the", ...], "vectors": [[0.1, ...], ...]}
"""
import gzip
import json
import struct
import sys


def main(argv):
    if len(argv) < 3 or argv[2] not in ("binary", "text"):
        sys.exit(__doc__)
    out, fmt, flags = argv[1], argv[2], set(argv[3:])
    spec = json.load(sys.stdin)
    words, vectors = spec["words"], spec["vectors"]
    dim = len(vectors[0]) if vectors else 0
    parts = []
    if fmt == "binary" or "--no-header" not in flags:
        parts.append(f"{len(words)} {dim}\n".encode("ascii"))
    for word, vec in zip(words, vectors):
        assert len(vec) == dim, word
        if fmt == "binary":
            parts.append(word.encode("utf-8") + b" " + struct.pack(f"<{dim}f", *vec))
            if "--no-newline" not in flags:
                parts.append(b"\n")
        else:
            # repr of the float32 value, as the reader parses decimal text
            vals = [repr(struct.unpack("<f", struct.pack("<f", v))[0]) for v in vec]
            parts.append((word + " " + " ".join(vals) + "\n").encode("utf-8"))
    data = b"".join(parts)
    opener = gzip.open if "--gzip" in flags else open
    with opener(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main(sys.argv)
