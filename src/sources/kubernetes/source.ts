/**
 * The Kubernetes source: informers (list + watch with resourceVersion, re-list on 410 Gone,
 * back-off on errors) over `Connector` objects and the Secrets they reference, in all
 * namespaces or a configured list. Every change is translated into a whole new connector set
 * (debounced) and handed on; a connector whose Secret is missing is not served at all.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, ListWatch, Watch } from '@kubernetes/client-node';
import { statusCode } from './writers.ts';
import type { Logger } from 'pino';
import type { Connector } from '../../connectors/model.ts';
import { SECRET_TYPE } from '../../connectors/parse.ts';
import { CONNECTOR_GROUP, CONNECTOR_PLURAL, CONNECTOR_VERSION, isOciConnector, type KubeObject, keyOf, translate, type TranslateOptions, type Translation } from './translate.ts';

export interface KubernetesSourceOptions {
  kubeConfig: KubeConfig;
  /** Namespaces to watch; empty: all. */
  namespaces: readonly string[];
  log: Logger;
  /** Called (debounced) with every new set of served connectors (the translations are in `translations`). */
  onChange: (connectors: Connector[]) => void;
  debounceMs?: number;
  /** Longest back-off between failed list/watch attempts: default 30 s. */
  maxBackoffMs?: number;
  translate?: TranslateOptions;
}

type Informer = ListWatch<KubeObject>;

/**
 * The Secrets a Connector may reference, by type: registry credentials, and the CA bundles and
 * client certificates of spec.caCertSecretRef and spec.params clientCertSecret (cert-manager and
 * `kubectl create secret tls` write kubernetes.io/tls, `kubectl create secret generic` Opaque).
 */
const SECRET_SELECTORS = [`type=${SECRET_TYPE}`, 'type=kubernetes.io/tls', 'type=Opaque'];

export class KubernetesSource {
  private readonly o: KubernetesSourceOptions;
  private readonly connectorInformers: Informer[] = [];
  private readonly secretInformers: Informer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastFingerprint: string | undefined;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly listedPaths = new Set<string>();
  translations: Translation[] = [];

  constructor(options: KubernetesSourceOptions) {
    this.o = options;
    const kc = options.kubeConfig;
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    const watch = new Watch(kc);
    const base = `/apis/${CONNECTOR_GROUP}/${CONNECTOR_VERSION}`;
    const group = { group: CONNECTOR_GROUP, version: CONNECTOR_VERSION, plural: CONNECTOR_PLURAL };
    const scopes = options.namespaces.length ? options.namespaces : [undefined];
    for (const ns of scopes) {
      const connectorPath = ns ? `${base}/namespaces/${ns}/${CONNECTOR_PLURAL}` : `${base}/${CONNECTOR_PLURAL}`;
      const secretPath = ns ? `/api/v1/namespaces/${ns}/secrets` : '/api/v1/secrets';
      this.connectorInformers.push(
        this.informer(connectorPath, watch, () => (ns ? custom.listNamespacedCustomObject({ ...group, namespace: ns }) : custom.listClusterCustomObject(group)), undefined),
      );
      for (const fieldSelector of SECRET_SELECTORS) {
        this.secretInformers.push(
          this.informer(
            secretPath,
            watch,
            () => (ns ? core.listNamespacedSecret({ namespace: ns, fieldSelector }) : core.listSecretForAllNamespaces({ fieldSelector })),
            fieldSelector,
          ),
        );
      }
    }
  }

  /**
   * One informer. Its list function is ours, so a successful list is seen: it marks the informer
   * listed (readiness) and resets the back-off; a failure (the informer then stops) is retried
   * after a back-off that doubles from 0.5 s up to maxBackoffMs.
   */
  private informer(path: string, watch: Watch, list: () => Promise<unknown>, fieldSelector: string | undefined): Informer {
    let backoff = 0;
    const listed = async (): Promise<KubernetesListObject<KubeObject>> => {
      const result = (await list()) as KubernetesListObject<KubeObject>;
      backoff = 0;
      this.listedPaths.add(`${path}?${fieldSelector ?? ''}`);
      return result;
    };
    const inf = new ListWatch<KubeObject>(path, watch, listed, false, undefined, fieldSelector);
    inf.on('add', () => this.changed());
    inf.on('update', () => this.changed());
    inf.on('delete', () => this.changed());
    inf.on('error', (err: unknown) => {
      if (this.stopped) return;
      backoff = Math.min(backoff ? backoff * 2 : 500, this.o.maxBackoffMs ?? 30_000);
      this.o.log.warn({ resource: path, status: statusCode(err), retryInMs: backoff }, 'kubernetes list/watch failed; retrying');
      const t = setTimeout(() => {
        this.retryTimers.delete(t);
        if (!this.stopped) inf.start().catch(() => {});
      }, backoff);
      t.unref();
      this.retryTimers.add(t);
    });
    return inf;
  }

  /** True once every informer has listed successfully at least once. */
  get listed(): boolean {
    return this.listedPaths.size === this.connectorInformers.length + this.secretInformers.length;
  }

  /** Starts every informer (a failed first list is retried in the background). */
  async start(): Promise<void> {
    await Promise.all([...this.connectorInformers, ...this.secretInformers].map((inf) => inf.start().catch(() => {})));
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
    this.timer = setTimeout(() => {
      try {
        this.rebuild();
      } catch (err) {
        this.o.log.error({ err: (err as Error).name }, 'kubernetes source: could not rebuild the connector set; keeping the previous one');
      }
    }, this.o.debounceMs ?? 100);
    this.timer.unref();
  }

  /** Translates the cached objects into a connector set; hands it on when it changed (or the translations did). */
  rebuild(): void {
    const objects = this.connectorObjects().sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    const translations = objects.map((o) => translate(o, (ns, n) => this.secret(ns, n), this.o.translate));
    this.translations = translations;
    const connectors = translations.flatMap((t) => (t.connector ? [t.connector] : []));
    const fingerprint = JSON.stringify([connectors, translations.map((t) => [t.key, t.object.metadata?.generation, t.secret, 'problem' in t ? t.problem : null])]);
    if (fingerprint === this.lastFingerprint) return;
    this.lastFingerprint = fingerprint;
    this.o.onChange(connectors);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const t of this.retryTimers) clearTimeout(t);
    await Promise.all([...this.connectorInformers, ...this.secretInformers].map((i) => i.stop()));
  }
}
