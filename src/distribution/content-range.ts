/**
 * A chunk's Content-Range on PATCH (distribution spec: `<start>-<end>`, inclusive) must be well
 * formed, ordered, and as long as the body; otherwise the chunk is refused before it is
 * forwarded (some registries ignore the header and would append the bytes at the wrong offset).
 * Pure: throws RegistryError.
 */
import { RegistryError } from './errors.ts';

export function checkContentRange(range: string | undefined, length: string | undefined): void {
  if (range === undefined) return;
  const m = /^(\d{1,15})-(\d{1,15})$/.exec(range);
  if (!m) throw new RegistryError(400, 'BLOB_UPLOAD_INVALID', 'Content-Range must be <start>-<end>', { range: range.slice(0, 64) });
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start || (length !== undefined && Number(length) !== end - start + 1)) {
    throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `Content-Range ${range} does not match the chunk${length === undefined ? '' : ` of ${length} bytes`}`, { range });
  }
}
