/**
 * The grammar of the OCI distribution spec: repository names, tags and digests.
 * Pure functions; each returns a reason string when the input is invalid, or null.
 */

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;
/** The algorithms registered by the OCI image spec; anything else no registry accepts. */
const KNOWN_DIGESTS: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
  blake3: /^[a-f0-9]{64}$/,
};

/** Longest repository name the proxy forwards (the spec bounds name plus host at 255). */
export const MAX_NAME_LENGTH = 255;

export function nameProblem(name: string): string | null {
  if (name.length === 0) return 'repository name is empty';
  if (name.length > MAX_NAME_LENGTH) return `repository name is longer than ${MAX_NAME_LENGTH} characters`;
  if (!NAME_RE.test(name)) return `invalid repository name "${name}"`;
  return null;
}

export function tagProblem(tag: string): string | null {
  return TAG_RE.test(tag) ? null : `invalid tag "${tag}"`;
}

export function digestProblem(digest: string): string | null {
  const m = DIGEST_RE.exec(digest);
  if (!m) return `invalid digest "${digest}"`;
  const known = KNOWN_DIGESTS[m[1]!];
  if (!known) return `unsupported digest algorithm "${m[1]}" in "${digest}"`;
  if (!known.test(m[2]!)) return `invalid ${m[1]} digest "${digest}"`;
  return null;
}

export function isDigest(reference: string): boolean {
  return reference.includes(':');
}
