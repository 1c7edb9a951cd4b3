/**
 * Pure translation between cluster objects and the proxy: Connector + Secret objects → the
 * connector model (or why not), the status the product writes back, and the proxy Service of a
 * Connector. No I/O here.
 */
import type { Connector } from '../../connectors/model.ts';
import { CONNECTOR_API_VERSION, ConfigError, connectorFromObject, secretRefsOf } from '../../connectors/parse.ts';
import { type Condition, type Observed, readyOf, stamp } from '../../health/conditions.ts';

export const CONNECTOR_GROUP = 'connectors.alauda.io';
export const CONNECTOR_VERSION = 'v1alpha1';
export const CONNECTOR_PLURAL = 'connectors';
export const MANAGED_BY = 'oci-connector-proxy';

export interface KubeMeta {
  namespace?: string;
  name?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
}
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export const keyOf = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export function isOciConnector(o: KubeObject): boolean {
  return o.spec?.['connectorClassName'] === 'oci';
}

/** What became of one Connector object. */
export type Translation =
  | { key: string; object: KubeObject; connector: Connector; secret: Observed }
  | { key: string; object: KubeObject; connector: undefined; secret: Observed; problem: Observed | undefined };

/**
 * A Connector object with the Secret lookup: served (the model), or not served with the
 * condition that says why (SecretNotFound, or the spec problem). A missing Secret never falls
 * back to anonymous access or to stale credentials.
 */
export interface TranslateOptions {
  /**
   * Let a Connector use a Secret in another namespace (`secretRef.namespace`). Off by default:
   * whoever may create a Connector could otherwise send any namespace's registry password to a
   * host of their choosing.
   */
  allowCrossNamespaceSecrets?: boolean;
  /**
   * Honour `spec.params[hosts]` (extra host names that pick the connector). Off by default in a
   * cluster: any Connector author could claim a name other workloads use.
   */
  allowHosts?: boolean;
}

export function translate(object: KubeObject, secretOf: (namespace: string, name: string) => KubeObject | undefined, options: TranslateOptions = {}): Translation {
  const key = keyOf(object);
  const namespace = object.metadata?.namespace ?? 'default';
  const refs = secretRefsOf(object as Record<string, unknown>, namespace);
  const auth = refs.find((r) => r.field === 'spec.auth.secretRef');
  const secret: Observed = auth
    ? { type: 'SecretReady', status: 'True', reason: '', message: '' }
    : { type: 'SecretReady', status: 'True', reason: 'SecretOptional', message: 'the connector has no secret; the registry is used anonymously' };
  const notServed = (s: Observed): Translation => ({ key, object, connector: undefined, secret: s, problem: undefined });
  if (auth && auth.namespace !== namespace && !options.allowCrossNamespaceSecrets) {
    return notServed({
      type: 'SecretReady',
      status: 'False',
      reason: 'SecretNotAllowed',
      message: `secret ${auth.namespace}/${auth.name} is in another namespace; the proxy refuses cross-namespace secrets (--allow-cross-namespace-secrets)`,
    });
  }
  const missing = refs.find((r) => !secretOf(r.namespace, r.name));
  if (missing) {
    const named = missing.field === 'spec.auth.secretRef' ? '' : ` (${missing.field})`;
    return notServed({ type: 'SecretReady', status: 'False', reason: 'SecretNotFound', message: `secrets "${missing.name}" not found${named}` });
  }
  try {
    const connector = connectorFromObject(object as Record<string, unknown>, (ns, name) => secretOf(ns, name) as Record<string, unknown> | undefined, `Connector ${key}`);
    if (!options.allowHosts && connector.params['hosts'] !== undefined) {
      const { hosts: _ignored, ...params } = connector.params;
      return { key, object, connector: { ...connector, params }, secret };
    }
    return { key, object, connector, secret };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const message = err.message;
    const secretProblem = refs.some((r) => message.includes(`Secret ${r.namespace}/${r.name}`));
    return {
      key,
      object,
      connector: undefined,
      secret: secretProblem ? { type: 'SecretReady', status: 'False', reason: 'SecretInvalid', message } : secret,
      problem: secretProblem ? undefined : { type: 'Ready', status: 'False', reason: 'InvalidSpec', message },
    };
  }
}

export interface StatusInputs {
  translation: Translation;
  /** Health conditions of a served connector (LivenessReady, AuthReady; SecretReady is ours). */
  health: readonly Condition[] | undefined;
  /** The proxy Service: True, or why not. */
  service: Observed;
  url: string | undefined;
  now: string;
}

export interface ConnectorStatus {
  conditions: Condition[];
  observedGeneration: number | undefined;
  proxy?: { httpAddress: { url: string } };
}

const unknown = (type: 'LivenessReady' | 'AuthReady', message: string): Observed => ({ type, status: 'Unknown', reason: 'NotServed', message });

/** The status the product writes for a Connector; transition times kept from its current status. */
export function desiredStatus(i: StatusInputs): ConnectorStatus {
  const t = i.translation;
  const health = (type: 'LivenessReady' | 'AuthReady'): Observed => {
    const h = i.health?.find((c) => c.type === type);
    if (t.connector === undefined) return unknown(type, 'the connector is not served: see SecretReady and Ready');
    return h ? { type, status: h.status, reason: h.reason, message: h.message } : { type, status: 'Unknown', reason: 'Checking', message: 'the first check has not finished' };
  };
  const observed: Observed[] = [t.secret, health('LivenessReady'), health('AuthReady'), i.service];
  const ready = t.connector === undefined && 'problem' in t && t.problem ? t.problem : readyOf(observed);
  const current = Array.isArray(t.object.status?.['conditions']) ? (t.object.status['conditions'] as Condition[]) : [];
  const status: ConnectorStatus = { conditions: stamp(current, [...observed, ready], i.now), observedGeneration: t.object.metadata?.generation };
  if (i.url !== undefined) status.proxy = { httpAddress: { url: i.url } };
  return status;
}

/** True when writing `next` would change nothing in the object's status. */
export function sameStatus(object: KubeObject, next: ConnectorStatus): boolean {
  const s = object.status ?? {};
  const norm = (v: unknown): string => JSON.stringify(v ?? null);
  return norm(s['conditions']) === norm(next.conditions) && s['observedGeneration'] === next.observedGeneration && norm(s['proxy']) === norm(next.proxy);
}

/** The Service `c-<name>` that sends `c-<name>.<ns>.svc.cluster.local` to the proxy; owned by the Connector. */
export function proxyService(connector: KubeObject, proxyServiceHost: string, port: number): KubeObject & { spec: Record<string, unknown> } {
  const m = connector.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      namespace: m.namespace,
      name: `c-${m.name}`,
      labels: { 'app.kubernetes.io/managed-by': MANAGED_BY, 'connectors.alauda.io/connector': m.name ?? '' },
      ownerReferences: [{ apiVersion: CONNECTOR_API_VERSION, kind: 'Connector', name: m.name ?? '', uid: m.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: { type: 'ExternalName', externalName: proxyServiceHost, ports: [{ name: 'http', port, protocol: 'TCP', targetPort: port }] },
  };
}

/** Whether an existing Service already is the one `proxyService` describes (the fields we own). */
export function serviceMatches(existing: KubeObject, wanted: KubeObject & { spec: Record<string, unknown> }): boolean {
  const e = existing.spec ?? {};
  const owner = existing.metadata?.ownerReferences?.find((r) => r.kind === 'Connector' && r.controller);
  const w = wanted.metadata!.ownerReferences![0]!;
  const ports = (e['ports'] as { port?: number }[] | undefined)?.map((p) => p.port);
  return (
    e['type'] === 'ExternalName' &&
    e['externalName'] === wanted.spec['externalName'] &&
    JSON.stringify(ports) === JSON.stringify((wanted.spec['ports'] as { port: number }[]).map((p) => p.port)) &&
    owner?.uid === w.uid
  );
}
