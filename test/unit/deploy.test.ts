/**
 * The manifests in deploy/ parse, and hold what the Kubernetes adapter relies on: the CRD's
 * names, status subresource, printer columns and schema fields; RBAC for every call the
 * adapter makes; a Deployment that is safe to run; an example Connector the adapter serves.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CONNECTOR_GROUP, CONNECTOR_PLURAL, CONNECTOR_VERSION, type KubeObject, translate } from '../../src/sources/kubernetes/translate.ts';

type Obj = Record<string, any>; // free-form manifests

const dir = new URL('../../deploy/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
const objects: (Obj & { file: string })[] = files.flatMap((f) =>
  parseAllDocuments(readFileSync(new URL(f, dir), 'utf8')).map((d) => {
    expect(d.errors, f).toEqual([]);
    return { ...(d.toJS() as Obj), file: f };
  }),
);
const find = (kind: string, name?: string): Obj[] => objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
const one = (kind: string, name?: string): Obj => {
  const found = find(kind, name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};

describe('deploy/', () => {
  it('every document has apiVersion, kind and metadata.name', () => {
    expect(files.sort()).toEqual(['crd.yaml', 'example-connector.yaml', 'proxy.yaml', 'rbac.yaml']);
    for (const o of objects) {
      expect(typeof o.apiVersion, o.file).toBe('string');
      expect(typeof o.kind, o.file).toBe('string');
      expect(typeof o.metadata?.name, `${o.file} ${o.kind}`).toBe('string');
    }
  });

  it('the CRD: group, version, plural, status subresource, printer columns, schema fields', () => {
    const crd = one('CustomResourceDefinition');
    expect(crd.metadata.name).toBe(`${CONNECTOR_PLURAL}.${CONNECTOR_GROUP}`);
    expect(crd.spec.group).toBe(CONNECTOR_GROUP);
    expect(crd.spec.names).toMatchObject({ kind: 'Connector', plural: CONNECTOR_PLURAL });
    expect(crd.spec.scope).toBe('Namespaced');
    const v = crd.spec.versions.find((x: Obj) => x.name === CONNECTOR_VERSION);
    expect(v).toMatchObject({ served: true, storage: true, subresources: { status: {} } });
    expect(v.additionalPrinterColumns.map((c: Obj) => c.name.toUpperCase())).toEqual(['CLASS', 'ADDRESS', 'READY', 'REASON', 'AGE']);
    const props = v.schema.openAPIV3Schema.properties;
    const spec = props.spec.properties;
    for (const f of ['connectorClassName', 'address', 'auth', 'params']) expect(spec[f], `spec.${f}`).toBeDefined();
    expect(Object.keys(spec.auth.properties.secretRef.properties).sort()).toEqual(['name', 'namespace']);
    expect(spec.auth.properties.params.items.properties).toMatchObject({ name: { type: 'string' }, value: { type: 'string' } });
    const status = props.status.properties;
    expect(Object.keys(status.conditions.items.properties).sort()).toEqual(['lastTransitionTime', 'message', 'reason', 'status', 'type']);
    expect(status.observedGeneration.type).toBe('integer');
    expect(status.proxy.properties.httpAddress.properties.url.type).toBe('string');
  });

  it('RBAC allows every call the adapter makes, and no more than it needs', () => {
    const sa = one('ServiceAccount');
    const rules: Obj[] = [...one('ClusterRole').rules, ...one('Role', 'oci-connector-proxy-leader').rules];
    const allows = (group: string, resource: string, verb: string): boolean =>
      rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    const needed: [string, string, string][] = [
      [CONNECTOR_GROUP, 'connectors', 'list'],
      [CONNECTOR_GROUP, 'connectors', 'watch'],
      [CONNECTOR_GROUP, 'connectors/status', 'patch'],
      ['', 'secrets', 'list'],
      ['', 'secrets', 'watch'],
      ['', 'services', 'get'],
      ['', 'services', 'create'],
      ['', 'services', 'update'],
      ['authentication.k8s.io', 'tokenreviews', 'create'],
      ['authorization.k8s.io', 'subjectaccessreviews', 'create'],
      ['coordination.k8s.io', 'leases', 'get'],
      ['coordination.k8s.io', 'leases', 'create'],
      ['coordination.k8s.io', 'leases', 'update'],
    ];
    for (const [g, r, v] of needed) expect(allows(g, r, v), `${v} ${g}/${r}`).toBe(true);
    for (const r of rules) expect(r.verbs, JSON.stringify(r)).not.toContain('*');
    expect(allows('', 'secrets', 'update') || allows('', 'secrets', 'create') || allows('', 'services', 'delete')).toBe(false);
    // Leases only in the proxy's own namespace.
    expect(one('ClusterRole').rules.some((r: Obj) => r.resources.includes('leases'))).toBe(false);
    for (const b of [one('ClusterRoleBinding'), one('RoleBinding', 'oci-connector-proxy-leader')]) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    }
  });

  it('the Deployment: 2 replicas, probes, requests, non-root, read-only root filesystem, the kubernetes source', () => {
    const d = one('Deployment');
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(d.spec.replicas).toBe(2);
    expect(pod.serviceAccountName).toBe(one('ServiceAccount').metadata.name);
    expect(c.livenessProbe.httpGet.path).toBe('/healthz');
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.args).toEqual(expect.arrayContaining(['--source=kubernetes', '--access=kubernetes']));
    expect(c.env.map((e: Obj) => e.name).sort()).toEqual(['POD_NAME', 'POD_NAMESPACE']);
    const svc = one('Service', 'oci-connector-proxy');
    expect(svc.spec.selector).toEqual(d.spec.template.metadata.labels);
    expect(svc.spec.ports[0].targetPort).toBe(c.ports[0].name);
    const proxyService = c.args.find((a: string) => a.startsWith('--proxy-service='))!.split('=')[1];
    expect(proxyService).toBe(`${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`);
  });

  it('the Deployment turns the cache on, on an emptyDir whose sizeLimit is above --cache-max-bytes', () => {
    const pod = one('Deployment').spec.template.spec;
    const c = pod.containers[0];
    const arg = (name: string): string | undefined => c.args.find((a: string) => a.startsWith(`--${name}=`))?.split('=')[1];
    const dir = arg('cache-dir');
    const mount = c.volumeMounts.find((m: Obj) => m.mountPath === dir);
    expect(mount, 'a volume mounted at --cache-dir').toBeDefined();
    const volume = pod.volumes.find((v: Obj) => v.name === mount.name);
    const limit = /^(\d+)Gi$/.exec(volume.emptyDir.sizeLimit);
    expect(Number(limit![1]) * 1024 ** 3).toBeGreaterThan(Number(arg('cache-max-bytes')));
  });

  it('the example Connector is served by the adapter with its Secret', () => {
    const connector = one('Connector') as KubeObject;
    const secret = one('Secret') as KubeObject;
    const t = translate(connector, (ns, name) => (ns === secret.metadata?.namespace && name === secret.metadata?.name ? secret : undefined));
    expect(t.connector?.credentials?.username).toBe('robot$ci');
    expect(t.connector?.healthRepository).toBe('library/ubuntu');
    expect(t.secret.status).toBe('True');
  });
});
