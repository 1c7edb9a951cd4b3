/**
 * What the proxy writes back to the cluster (only while it leads, see lease.ts):
 * each Connector's status through the status subresource, only when something changed, and
 * each Connector's proxy Service `c-<name>`, owned by the Connector so it is garbage-collected.
 */
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions, type V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Observed } from '../../health/conditions.ts';
import { CONNECTOR_GROUP, CONNECTOR_PLURAL, CONNECTOR_VERSION, type ConnectorStatus, type KubeObject, keyOf, MANAGED_BY, proxyService, serviceMatches } from './translate.ts';

export const statusCode = (err: unknown): number | undefined =>
  err instanceof ApiException ? err.code : typeof (err as { code?: unknown })?.code === 'number' ? (err as { code: number }).code : undefined;

/** Retries a write on conflicts, throttling and server errors, a few times with back-off. */
export async function withRetries<T>(what: () => Promise<T>, attempts = 4, delayMs = 200): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await what();
    } catch (err) {
      const code = statusCode(err);
      const retriable = code === 409 || code === 429 || (code !== undefined && code >= 500);
      if (!retriable || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, delayMs * 2 ** (i - 1)));
    }
  }
}

/** A Connector object's identity: a Connector deleted and created again under the same name is another one. */
export const identityOf = (o: KubeObject): string => `${keyOf(o)}#${o.metadata?.uid ?? ''}`;

export class StatusWriter {
  private readonly custom: CustomObjectsApi;
  private readonly log: Logger;
  /**
   * Last status written per Connector. Only the leader writes status, so this is newer than (or
   * the same as) what the watch has shown yet: statuses are computed against it, or a second
   * sync before the watch catches up would write again with new transition times.
   */
  private readonly written = new Map<string, { body: string; status: ConnectorStatus }>();

  constructor(kc: KubeConfig, log: Logger) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.log = log;
  }

  /** Patches the object's status to `next` (a JSON merge patch of `status`). */
  async write(object: KubeObject, next: ConnectorStatus): Promise<void> {
    const key = keyOf(object);
    const id = identityOf(object);
    const body = JSON.stringify(next);
    if (this.written.get(id)?.body === body) return;
    const m = object.metadata ?? {};
    await withRetries(() =>
      this.custom.patchNamespacedCustomObjectStatus(
        { group: CONNECTOR_GROUP, version: CONNECTOR_VERSION, plural: CONNECTOR_PLURAL, namespace: m.namespace ?? 'default', name: m.name ?? '', body: { status: next } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    this.written.set(id, { body, status: next });
    const ready = next.conditions.find((c) => c.type === 'Ready');
    this.log.info({ connector: key, ready: ready?.status, reason: ready?.reason || undefined }, 'connector status written');
  }

  /** The status this replica last wrote for this Connector object (same uid), if any. */
  lastWritten(object: KubeObject): ConnectorStatus | undefined {
    return this.written.get(identityOf(object))?.status;
  }

  /** Forgets Connectors that are gone. */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.written.keys()) if (!keys.has(k)) this.written.delete(k);
  }

  reset(): void {
    this.written.clear();
  }
}

export class ServiceWriter {
  private readonly core: CoreV1Api;
  private readonly log: Logger;
  /** Services known to match, by connector key → uid + wanted spec. */
  private readonly ensured = new Map<string, string>();

  constructor(kc: KubeConfig, log: Logger) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.log = log;
  }

  /** Creates or corrects the Connector's proxy Service; the condition saying how that went. */
  async ensure(connector: KubeObject, proxyServiceHost: string, port: number): Promise<Observed> {
    const key = keyOf(connector);
    const wanted = proxyService(connector, proxyServiceHost, port);
    const fingerprint = JSON.stringify([connector.metadata?.uid, wanted.spec]);
    if (this.ensured.get(key) === fingerprint) return { type: 'ProxyServiceReady', status: 'True', reason: '', message: '' };
    const namespace = wanted.metadata!.namespace!;
    const name = wanted.metadata!.name!;
    try {
      await withRetries(async () => {
        let existing: V1Service | undefined;
        try {
          existing = await this.core.readNamespacedService({ namespace, name });
        } catch (err) {
          if (statusCode(err) !== 404) throw err;
        }
        if (!existing) {
          await this.core.createNamespacedService({ namespace, body: wanted as V1Service });
          this.log.info({ connector: key, service: `${namespace}/${name}` }, 'proxy service created');
          return;
        }
        if (serviceMatches(existing as KubeObject, wanted)) return;
        // Only Services this proxy made are changed: never someone else's that happens to be called c-<name>.
        if (existing.metadata?.labels?.['app.kubernetes.io/managed-by'] !== MANAGED_BY) {
          throw new Error(`service ${namespace}/${name} exists and is not managed by ${MANAGED_BY}`);
        }
        const body = { ...(wanted as V1Service), metadata: { ...wanted.metadata, resourceVersion: existing.metadata?.resourceVersion } } as V1Service;
        await this.core.replaceNamespacedService({ namespace, name, body });
        this.log.info({ connector: key, service: `${namespace}/${name}` }, 'proxy service updated');
      });
    } catch (err) {
      this.ensured.delete(key);
      const message = err instanceof ApiException ? `services "${name}": status code ${err.code}` : (err as Error).message;
      this.log.warn({ connector: key, err: message }, 'proxy service not ready');
      return { type: 'ProxyServiceReady', status: 'False', reason: 'ProxyServiceNotFound', message };
    }
    this.ensured.set(key, fingerprint);
    return { type: 'ProxyServiceReady', status: 'True', reason: '', message: '' };
  }

  /** Forgets Connectors that are gone (their Services go with them: garbage collection). */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.ensured.keys()) if (!keys.has(k)) this.ensured.delete(k);
  }

  /** Forget everything, so the next ensure() reads the cluster again (periodic resync, leadership gained). */
  reset(): void {
    this.ensured.clear();
  }
}
