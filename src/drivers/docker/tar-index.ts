import { open } from 'node:fs/promises';
import { hasUstarMagic, isTarHeader, TAR_BLOCK as BLOCK, tarField as cstr } from '../shared/tar-header.js';

/** One image described by a `docker save` archive's manifest.json. */
export interface SavedImage {
  /** image id ("sha256:…"), from the manifest's Config file name */
  id: string;
  repoTags: string[];
}

export interface TarIndex {
  /** "save" = a `docker save` archive (has manifest.json), "rootfs" = a plain file system tarball */
  kind: 'save' | 'rootfs';
  images: SavedImage[];
}

const MAX_ENTRIES = 2_000_000;
const MAX_MANIFEST = 16 * 1024 * 1024;

function tarSize(h: Buffer): number {
  const field = h.subarray(124, 136);
  if (field[0]! & 0x80) {
    // base-256 (GNU) for big files
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const s = cstr(h, 124, 12).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function normalize(name: string): string {
  return name.replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}

function parseManifest(text: string): SavedImage[] {
  const doc = JSON.parse(text) as unknown;
  if (!Array.isArray(doc)) throw new Error('manifest.json is not an array');
  return doc.map((e: unknown) => {
    const entry = e as { Config?: unknown; RepoTags?: unknown };
    if (typeof entry.Config !== 'string') throw new Error('manifest.json entry without Config');
    const hex = /([0-9a-f]{64})(?:\.json)?$/.exec(entry.Config)?.[1];
    if (!hex) throw new Error(`manifest.json Config "${entry.Config}" does not name an image id`);
    const tags = Array.isArray(entry.RepoTags) ? entry.RepoTags.filter((t): t is string => typeof t === 'string') : [];
    return { id: `sha256:${hex}`, repoTags: tags };
  });
}

/**
 * Read the headers of an uncompressed tar file (seeking over the contents) and tell a `docker save`
 * archive from a root file system tarball. Throws on a file that is not a tar archive.
 */
export async function indexTar(path: string): Promise<TarIndex> {
  const fh = await open(path, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const h = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | undefined;
    let manifest: string | undefined;
    let entries = 0;
    while (pos + BLOCK <= fileSize && entries < MAX_ENTRIES) {
      await fh.read(h, 0, BLOCK, pos);
      if (h.every((b) => b === 0)) break;
      const ustar = hasUstarMagic(h);
      if (entries === 0 && !isTarHeader(h)) throw new Error('not a tar archive');
      const size = tarSize(h);
      const type = String.fromCharCode(h[156]!);
      const dataPos = pos + BLOCK;
      let name = cstr(h, 0, 100);
      if (ustar) {
        const prefix = cstr(h, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      if (type === 'L' || type === 'x') {
        const data = Buffer.alloc(Math.min(size, 65536));
        await fh.read(data, 0, data.length, dataPos);
        if (type === 'L') longName = cstr(data, 0, data.length);
        else {
          const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
          if (m) longName = m[1];
        }
      } else {
        const full = normalize(longName ?? name);
        longName = undefined;
        if (full === 'manifest.json' && (type === '0' || type === '\0') && size <= MAX_MANIFEST) {
          const data = Buffer.alloc(size);
          await fh.read(data, 0, size, dataPos);
          manifest = data.toString('utf8');
        }
      }
      pos = dataPos + Math.ceil(size / BLOCK) * BLOCK;
      entries++;
    }
    if (entries === 0) throw new Error('empty or not a tar archive');
    if (manifest !== undefined) return { kind: 'save', images: parseManifest(manifest) };
    return { kind: 'rootfs', images: [] };
  } finally {
    await fh.close();
  }
}
