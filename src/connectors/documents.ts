/**
 * The product's configuration files: multi-document YAML of Kubernetes-style objects
 * (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`), each checked for what every
 * object needs, and the values of `Secret` documents. Every problem is a ConfigError naming the
 * file, the document, the field and what is wrong; no message quotes a value that may be secret.
 */
import { parseAllDocuments } from 'yaml';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One object of a file. */
export interface Doc {
  /** 1-based position in the file (0 for an object from the Kubernetes API). */
  index: number;
  kind: string;
  namespace: string;
  name: string;
  body: Obj;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The file's objects, in order; empty documents are skipped. */
export function parseDocuments(text: string, file: string): Doc[] {
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new ConfigError(`${file}: not a YAML stream`);
  const parsed: Doc[] = [];
  docs.forEach((doc, i) => {
    const index = i + 1;
    const err = doc.errors[0];
    if (err) {
      const where = err.linePos?.[0] ? ` (line ${err.linePos[0].line}, column ${err.linePos[0].col})` : '';
      const what = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new ConfigError(`${file}: document ${index}${where}: invalid YAML: ${what}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      // Unresolved aliases and alias bombs. The yaml library's message quotes the alias, which
      // may be a secret value (a password starting with '*'): say what, not the text.
      const what = /alias/i.test((e as Error).message) ? 'an unresolved or excessive YAML alias (a value starting with * or & must be quoted)' : 'unreadable YAML';
      throw new ConfigError(`${file}: document ${index}: invalid YAML: ${what}`);
    }
    if (value === null || value === undefined) return; // empty document, e.g. a trailing ---
    parsed.push(objectOf(value, file, index));
  });
  return parsed;
}

function objectOf(value: unknown, file: string, index: number): Doc {
  if (!isObj(value)) throw new ConfigError(`${file}: document ${index}: expected a mapping with apiVersion and kind`);
  const kind = value['kind'];
  if (typeof kind !== 'string') throw new ConfigError(`${file}: document ${index}: kind: missing`);
  const meta = value['metadata'];
  if (!isObj(meta)) throw new ConfigError(`${file}: document ${index} (${kind}): metadata: missing`);
  const name = meta['name'];
  if (typeof name !== 'string' || !DNS_LABEL.test(name) || name.length > 63) {
    throw new ConfigError(`${file}: document ${index} (${kind}): metadata.name: must be a DNS label (lower-case letters, digits, '-'), got ${JSON.stringify(name)}`);
  }
  const namespace = meta['namespace'] ?? 'default';
  if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace) || namespace.length > 63) {
    throw new ConfigError(`${file}: document ${index} (${kind} ${name}): metadata.namespace: must be a DNS label, got ${JSON.stringify(namespace)}`);
  }
  return { index, kind, namespace, name, body: value };
}

/** The file's Secret documents by `<ns>/<name>`: each once, each apiVersion v1. */
export function secretsOf(docs: readonly Doc[], file: string): Map<string, Doc> {
  const secrets = new Map<string, Doc>();
  for (const d of docs) {
    if (d.kind !== 'Secret') continue;
    const key = `${d.namespace}/${d.name}`;
    if (secrets.has(key))
      throw new ConfigError(`${file}: document ${d.index} (Secret ${key}): metadata.name: a Secret with this name is already defined in document ${secrets.get(key)!.index}`);
    if (d.body['apiVersion'] !== 'v1') throw new ConfigError(`${file}: document ${d.index} (Secret ${key}): apiVersion: must be "v1"`);
    secrets.set(key, d);
  }
  return secrets;
}

/** How a Secret document is named in messages. */
export function secretWhere(d: Doc, file: string): string {
  const key = `${d.namespace}/${d.name}`;
  return d.index ? `${file}: document ${d.index} (Secret ${key})` : `Secret ${key}`;
}

/** A Secret's values: `data` (base64) with `stringData` over it, as Kubernetes merges them. */
export function secretValues(d: Doc, where: string): Record<string, string> {
  const values: Record<string, string> = {};
  const data = d.body['data'];
  if (data !== undefined && data !== null) {
    if (!isObj(data)) throw new ConfigError(`${where}: data: must be a mapping`);
    for (const [k, v] of Object.entries(data)) {
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
        throw new ConfigError(`${where}: data.${k}: not valid base64`);
      }
      values[k] = Buffer.from(v, 'base64').toString('utf8');
    }
  }
  const stringData = d.body['stringData'];
  if (stringData !== undefined && stringData !== null) {
    if (!isObj(stringData)) throw new ConfigError(`${where}: stringData: must be a mapping`);
    for (const [k, v] of Object.entries(stringData)) {
      if (typeof v !== 'string') throw new ConfigError(`${where}: stringData.${k}: must be a string`);
      values[k] = v; // stringData wins over data, as in Kubernetes
    }
  }
  return values;
}
