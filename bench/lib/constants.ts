/** Constants shared by the benchmark modules. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MiB = 1024 * 1024;
/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RESULTS = join(ROOT, 'bench', 'results');
/** Connections of the request-rate load runs (wrk, ab). */
export const CONNS = 32;
/** Repositories the token-auth scenario cycles over: one token exchange each is expected. */
export const TOKEN_REPOS = 4;
/** The token server's user, and the credentials in the proxy's Secret. */
export const USER = { username: 'bench', password: 'bench-Pa55word-for-the-token-server' };
/**
 * The anchors: plain reverse proxies the proxy is measured against, in the order they
 * alternate (after direct, before the proxies). Each is its own process with its CPU group.
 * node-relay (bench/node-relay.ts) is the floor of an HTTP proxy written in Node and node-tcp
 * (bench/node-tcp.ts) the floor of moving bytes through Node at all; neither is a peer: goals
 * "against the strongest anchor" take the best of PEER_ANCHORS.
 */
export const PEER_ANCHORS = ['nginx', 'nginx-tuned', 'haproxy'] as const;
export const ANCHORS = [...PEER_ANCHORS, 'node-relay', 'node-tcp'] as const;
export type AnchorId = (typeof ANCHORS)[number];
/** proxy-cache's --cache-max-bytes: room for every blob a run stores, nothing evicted. */
export const CACHE_MAX_BYTES = 8 * 1024 * MiB;
/** Connectors in the big configuration of the scale scenario (manifest-get-1000). */
export const SCALE_CONNECTORS = 1000;
/** Token exchanges the scale scenario's set-up makes at once. */
export const SCALE_CONCURRENCY = 32;
