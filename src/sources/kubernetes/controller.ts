/**
 * The Kubernetes adapter, wired: the source feeds the server's connector set; while this
 * replica leads, each Connector gets its proxy Service and its status (conditions,
 * observedGeneration, proxy address) written back whenever something in it changed. No proxy
 * logic lives here.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { type AddressMode, proxyAddress } from '../../configurations/render.ts';
import type { Observed } from '../../health/conditions.ts';
import type { Connector } from '../../connectors/model.ts';
import type { HealthMonitor } from '../../health/monitor.ts';
import type { LeaderElector } from './lease.ts';
import { KubernetesSource } from './source.ts';
import { desiredStatus, keyOf, sameStatus, type TranslateOptions, type Translation } from './translate.ts';
import { identityOf, ServiceWriter, StatusWriter } from './writers.ts';

/** What the controller drives: the connector set it feeds, and the health it reports. */
export interface ControlledProxy {
  setConnectors(connectors: readonly Connector[]): unknown;
  health: Pick<HealthMonitor, 'onChange' | 'status'> | undefined;
}

export interface KubernetesControllerOptions {
  kubeConfig: KubeConfig;
  namespaces: readonly string[];
  log: Logger;
  server: ControlledProxy;
  addressMode: AddressMode;
  /** Host the proxy Services point at (the proxy's own Service), e.g. oci-connector-proxy.infra.svc.cluster.local. */
  proxyServiceHost: string;
  /** Port clients use on the connector Services (the proxy Service's port). */
  servicePort: number;
  /** Host[:port] for path-mode addresses. */
  proxyHost: string;
  /** The proxy listens with HTTPS: status addresses say https. */
  tls?: boolean;
  /** Undefined: this replica always writes (a single replica). */
  leader: LeaderElector | undefined;
  /** Full re-check of Services and statuses: default 5 minutes. */
  resyncMs?: number;
  debounceMs?: number;
  translate?: TranslateOptions;
}

export class KubernetesController {
  readonly source: KubernetesSource;
  readonly statuses: StatusWriter;
  readonly services: ServiceWriter;
  private readonly o: KubernetesControllerOptions;
  private syncing: Promise<void> | undefined;
  private again = false;
  private resync: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: KubernetesControllerOptions) {
    this.o = options;
    this.statuses = new StatusWriter(options.kubeConfig, options.log);
    this.services = new ServiceWriter(options.kubeConfig, options.log);
    this.source = new KubernetesSource({
      kubeConfig: options.kubeConfig,
      namespaces: options.namespaces,
      log: options.log,
      debounceMs: options.debounceMs,
      translate: options.translate,
      onChange: (connectors) => {
        void options.server.setConnectors(connectors);
        this.requestSync();
      },
    });
    options.server.health?.onChange(() => this.requestSync());
    options.leader?.onChange((leading) => {
      if (leading) {
        // Another replica may have written since this one last led.
        this.services.reset();
        this.statuses.reset();
        this.requestSync();
      }
    });
  }

  /** True once every informer has listed successfully. */
  get ready(): boolean {
    return this.source.listed;
  }

  async start(): Promise<void> {
    await this.source.start();
    this.o.leader?.start();
    const every = this.o.resyncMs ?? 300_000;
    this.resync = setInterval(() => {
      this.services.reset();
      this.statuses.reset();
      this.requestSync();
    }, every);
    this.resync.unref();
    this.requestSync();
  }

  private leading(): boolean {
    return this.o.leader ? this.o.leader.isLeader() : true;
  }

  /** Runs a sync now, or once more after the running one. Resolves when the state asked for is written. */
  requestSync(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.again = false;
        try {
          await this.syncOnce();
        } catch (err) {
          this.o.log.warn({ err: (err as Error).message }, 'status sync failed; retrying at the next change or resync');
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    if (!this.leading() || !this.source.listed) return;
    const now = new Date().toISOString();
    const translations = this.source.translations;
    this.statuses.retain(new Set(translations.map((t) => identityOf(t.object))));
    this.services.retain(new Set(translations.map((t) => t.key)));
    for (const t of translations) {
      if (!this.leading() || this.stopped) return; // leadership can go mid-sync
      await this.syncOne(t, now);
    }
  }

  private async syncOne(t: Translation, now: string): Promise<void> {
    const m = t.object.metadata ?? {};
    const c = { namespace: m.namespace ?? 'default', name: m.name ?? '' };
    let service: Observed;
    try {
      service = await this.services.ensure(t.object, this.o.proxyServiceHost, this.o.servicePort);
    } catch (err) {
      service = { type: 'ProxyServiceReady', status: 'False', reason: 'ProxyServiceNotFound', message: (err as Error).message };
    }
    const url = proxyAddress(c, { mode: this.o.addressMode, proxyHost: this.o.proxyHost, servicePort: this.o.servicePort, tls: this.o.tls }).url;
    const key = keyOf(t.object);
    const health = this.o.server.health?.status(key);
    // Results from before the Connector changed would be written under its new generation:
    // wait for the check of the new spec (it triggers another sync).
    if (t.connector && health && !health.fresh) return;
    const written = this.statuses.lastWritten(t.object);
    // What we wrote last is at least as new as what the watch has shown.
    const known: Translation = written ? { ...t, object: { ...t.object, status: written as unknown as Record<string, unknown> } } : t;
    const next = desiredStatus({ translation: known, health: health?.conditions, service, url, now });
    if (sameStatus(known.object, next)) return;
    await this.statuses.write(t.object, next);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resync) clearInterval(this.resync);
    await this.o.leader?.stop();
    await this.source.stop();
  }
}
