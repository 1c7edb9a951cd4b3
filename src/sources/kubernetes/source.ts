/**
 * The Kubernetes source: informers (list + watch with resourceVersion, re-list on 410 Gone,
 * back-off on errors) over `Connector` objects and the registry Secrets they reference, in all
 * namespaces or a configured list. Every change is translated into a whole new connector set
 * (debounced) and handed on; a connector whose Secret is missing is not served at all.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, ListWatch, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Connector } from '../../connectors/model.ts';
import { SECRET_TYPE } from '../../connectors/parse.ts';
import { CONNECTOR_GROUP, CONNECTOR_PLURAL, CONNECTOR_VERSION, isOciConnector, type KubeObject, keyOf, translate, type Translation } from './translate.ts';

export interface KubernetesSourceOptions {
  kubeConfig: KubeConfig;
  /** Namespaces to watch; empty: all. */
  namespaces: readonly string[];
  log: Logger;
  /** Called (debounced) with every new set of served connectors and all translations. */
  onChange: (connectors: Connector[], translations: Translation[]) => void;
  debounceMs?: number;
  /** Longest back-off between failed list/watch attempts: default 30 s. */
  maxBackoffMs?: number;
}

type Informer = ListWatch<KubeObject>;

export class KubernetesSource {
  private readonly o: KubernetesSourceOptions;
  private readonly connectorInformers: Informer[] = [];
  private readonly secretInformers: Informer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastFingerprint: string | undefined;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  translations: Translation[] = [];

  constructor(options: KubernetesSourceOptions) {
    this.o = options;
    const kc = options.kubeConfig;
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    const watch = new Watch(kc);
    const secretSelector = `type=${SECRET_TYPE}`;
    const base = `/apis/${CONNECTOR_GROUP}/${CONNECTOR_VERSION}`;
    const group = { group: CONNECTOR_GROUP, version: CONNECTOR_VERSION, plural: CONNECTOR_PLURAL };
    const scopes = options.namespaces.length ? options.namespaces : [undefined];
    for (const ns of scopes) {
      const connectors = ns
        ? new ListWatch<KubeObject>(`${base}/namespaces/${ns}/${CONNECTOR_PLURAL}`, watch, () => custom.listNamespacedCustomObject({ ...group, namespace: ns }) as Promise<KubernetesListObject<KubeObject>>, false)
        : new ListWatch<KubeObject>(`${base}/${CONNECTOR_PLURAL}`, watch, () => custom.listClusterCustomObject(group) as Promise<KubernetesListObject<KubeObject>>, false);
      const secrets = ns
        ? new ListWatch<KubeObject>(`/api/v1/namespaces/${ns}/secrets`, watch, () => core.listNamespacedSecret({ namespace: ns, fieldSelector: secretSelector }) as Promise<KubernetesListObject<KubeObject>>, false, undefined, secretSelector)
        : new ListWatch<KubeObject>('/api/v1/secrets', watch, () => core.listSecretForAllNamespaces({ fieldSelector: secretSelector }) as Promise<KubernetesListObject<KubeObject>>, false, undefined, secretSelector);
      this.connectorInformers.push(connectors);
      this.secretInformers.push(secrets);
    }
  }

  /** Starts every informer; resolves once each has listed once. */
  async start(): Promise<void> {
    const all = [...this.connectorInformers, ...this.secretInformers];
    for (const inf of all) {
      let backoff = 0;
      const what = inf === undefined ? '' : (inf as unknown as { path: string }).path;
      inf.on('add', () => this.changed());
      inf.on('update', () => this.changed());
      inf.on('delete', () => this.changed());
      inf.on('connect', () => {
        backoff = 0;
      });
      inf.on('error', (err: unknown) => {
        if (this.stopped) return;
        backoff = Math.min(backoff ? backoff * 2 : 500, this.o.maxBackoffMs ?? 30_000);
        const e = err as { statusCode?: number; code?: number; message?: string };
        this.o.log.warn({ resource: what, status: e?.statusCode ?? e?.code, err: e?.message, retryInMs: backoff }, 'kubernetes list/watch failed; retrying');
        const t = setTimeout(() => {
          this.retryTimers.delete(t);
          if (!this.stopped) void inf.start().catch(() => {});
        }, backoff);
        t.unref();
        this.retryTimers.add(t);
      });
    }
    await Promise.all(all.map((inf) => inf.start()));
    this.rebuild();
  }

  /** Connector objects of class oci. */
  connectorObjects(): KubeObject[] {
    return this.connectorInformers.flatMap((i) => i.list()).filter(isOciConnector);
  }

  private secret(namespace: string, name: string): KubeObject | undefined {
    for (const i of this.secretInformers) {
      const s = i.get(name, namespace);
      if (s) return s;
    }
    return undefined;
  }

  private changed(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.rebuild(), this.o.debounceMs ?? 100);
    this.timer.unref();
  }

  /** Translates the cached objects into a connector set; hands it on when it changed (or the translations did). */
  rebuild(): void {
    const objects = this.connectorObjects().sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    const translations = objects.map((o) => translate(o, (ns, n) => this.secret(ns, n)));
    this.translations = translations;
    const connectors = translations.flatMap((t) => (t.connector ? [t.connector] : []));
    const fingerprint = JSON.stringify([connectors, translations.map((t) => [t.key, t.object.metadata?.generation, t.secret, 'problem' in t ? t.problem : null])]);
    if (fingerprint === this.lastFingerprint) return;
    this.lastFingerprint = fingerprint;
    this.o.onChange(connectors, translations);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const t of this.retryTimers) clearTimeout(t);
    await Promise.all([...this.connectorInformers, ...this.secretInformers].map((i) => i.stop()));
  }
}
