/**
 * Connector configuration files for tests that parse them or run the CLI with them: the product's
 * YAML (Connector and Secret documents) and an atomic rewrite, the way editors and Kubernetes
 * ConfigMaps replace a file.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const CONNECTOR_API = 'connectors.alauda.io/v1alpha1';
export const REGISTRY_SECRET_TYPE = 'cpaas.io/distribution-registry-token';

export interface ConnectorSpec {
  namespace: string;
  name: string;
  address: string;
  /** spec.auth.params[repository]: the repository the health check lists the tags of. */
  repository?: string;
  /** A Secret (same namespace, same name as the connector unless given) with these credentials, via stringData. */
  secret?: { name?: string; username: string; password: string };
}

/** One Connector document, followed by its Secret when it has one. */
export function connectorYaml(c: ConnectorSpec): string {
  const lines = [
    `apiVersion: ${CONNECTOR_API}`,
    'kind: Connector',
    'metadata:',
    `  name: ${c.name}`,
    `  namespace: ${c.namespace}`,
    'spec:',
    '  connectorClassName: oci',
    `  address: ${c.address}`,
  ];
  if (c.repository !== undefined || c.secret) {
    lines.push('  auth:', '    name: tokenAuth');
    if (c.repository !== undefined) lines.push('    params:', '      - name: repository', `        value: ${c.repository}`);
    if (c.secret) lines.push('    secretRef:', `      name: ${c.secret.name ?? c.name}`);
  }
  let text = lines.join('\n') + '\n';
  if (c.secret) {
    text +=
      [
        '---',
        'apiVersion: v1',
        'kind: Secret',
        'metadata:',
        `  name: ${c.secret.name ?? c.name}`,
        `  namespace: ${c.namespace}`,
        `type: ${REGISTRY_SECRET_TYPE}`,
        'stringData:',
        `  username: ${JSON.stringify(c.secret.username)}`,
        `  password: ${JSON.stringify(c.secret.password)}`,
      ].join('\n') + '\n';
  }
  return text;
}

/**
 * A Connector document as written, for any spec, valid or not: `spec` lines (and `meta`, extra
 * metadata lines) come indented by the caller's two spaces.
 */
export function connectorDocument(name: string, spec: string, meta = ''): string {
  return `apiVersion: ${CONNECTOR_API}\nkind: Connector\nmetadata:\n  name: ${name}\n${meta}spec:\n${spec}`;
}

/** A whole configuration file: the connectors' documents separated by `---`. */
export function configYaml(connectors: readonly ConnectorSpec[]): string {
  return connectors.map(connectorYaml).join('---\n');
}

let sequence = 0;

/**
 * Replaces `path` atomically: writes a temporary file next to it, then renames it into place
 * (the file's inode changes, as with editors' save and ConfigMap updates).
 */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${sequence++}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
