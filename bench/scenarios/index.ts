/** All scenarios, in the order they run and appear in the tables. */
import type { Scenario } from '../lib/types.ts';
import { cacheColdConcurrent } from './cache-cold-concurrent.ts';
import { cacheManifestDigest, cacheManifestTag } from './cache-manifest.ts';
import { cacheWarmGet } from './cache-warm-get.ts';
import { clientCost } from './client-cost.ts';
import { coldStart } from './cold-start.ts';
import { getBlob } from './get-blob.ts';
import { getConcurrent } from './get-concurrent.ts';
import { manifestGet } from './manifest-get.ts';
import { manifestGet1000 } from './manifest-get-1000.ts';
import { manifestGetC1 } from './manifest-get-c1.ts';
import { manifestHead } from './manifest-head.ts';
import { tokenManifestGet } from './token-manifest-get.ts';
import { uploadChunked } from './upload-chunked.ts';
import { uploadMono } from './upload-mono.ts';

export const scenarios: readonly Scenario[] = [
  uploadMono,
  uploadChunked,
  getBlob,
  getConcurrent,
  manifestGet,
  manifestGetC1,
  manifestHead,
  tokenManifestGet,
  cacheWarmGet,
  cacheColdConcurrent,
  cacheManifestTag,
  cacheManifestDigest,
  manifestGet1000,
  coldStart,
  clientCost,
];

/** Whether a scenario reads the blobs the upload scenarios write (seeded when those did not run). */
export const readsUploadedBlobs = (s: Scenario): boolean => s.id.startsWith('get-') || s.id === 'cache-warm-get' || s.id === 'client-cost';

/** Whether a scenario uses proxy-cache (started only then). */
export const usesCache = (s: Scenario): boolean => s.id.startsWith('cache-');
