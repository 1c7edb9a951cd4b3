/**
 * Leader election with a coordination.k8s.io/v1 Lease, so that with several replicas only one
 * writes statuses and Services (every replica serves traffic). The holder renews every
 * `renewMs`; another replica takes over once `leaseDurationSeconds` pass without a renewal.
 * Writes carry the Lease's resourceVersion, so two replicas cannot both win a round.
 */
import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { statusCode } from './writers.ts';

export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds?: number;
  /** How often the holder renews and others retry: default 5000 ms. */
  renewMs?: number;
  log: Logger;
  now?: () => number;
}

/** A Lease call that takes longer than a round is a failed round. */
function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no answer in ${ms} ms`), { name: 'TimeoutError' })), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly o: Required<Omit<LeaderElectionOptions, 'kubeConfig' | 'log' | 'now'>> & { log: Logger; now: () => number };
  private leading = false;
  private lastRenewed = 0;
  /**
   * The holder's last renewal as this replica saw it happen, by its own clock (as client-go
   * does): comparing another replica's renewTime with our clock would let clock skew hand
   * the lease to two replicas.
   */
  private observed: { holder: string | undefined; renewTime: string | undefined; at: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly listeners: ((leading: boolean) => void)[] = [];

  constructor(options: LeaderElectionOptions) {
    this.api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.o = {
      namespace: options.namespace,
      name: options.name,
      identity: options.identity,
      leaseDurationSeconds: options.leaseDurationSeconds ?? 15,
      renewMs: options.renewMs ?? 5_000,
      log: options.log,
      now: options.now ?? Date.now,
    };
  }

  isLeader(): boolean {
    return this.leading;
  }

  onChange(listener: (leading: boolean) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    const loop = async (): Promise<void> => {
      if (this.stopped) return;
      await this.tryOnce();
      if (this.stopped) return;
      this.timer = setTimeout(() => void loop(), this.o.renewMs);
      this.timer.unref();
    };
    void loop();
  }

  /** One round: acquire, renew or observe. Exposed for tests. */
  async tryOnce(): Promise<void> {
    const { namespace, name, identity } = this.o;
    const now = this.o.now();
    try {
      let lease: V1Lease | undefined;
      try {
        lease = await bounded(this.api.readNamespacedLease({ namespace, name }), this.o.renewMs);
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
      }
      const stamp = new V1MicroTime(now);
      if (!lease) {
        await bounded(
          this.api.createNamespacedLease({
            namespace,
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { namespace, name },
              spec: { holderIdentity: identity, leaseDurationSeconds: this.o.leaseDurationSeconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
            },
          }),
          this.o.renewMs,
        );
        this.set(true, now);
        return;
      }
      const spec = lease.spec ?? {};
      const renewTime = spec.renewTime ? new Date(spec.renewTime).toISOString() : undefined;
      if (!this.observed || this.observed.holder !== spec.holderIdentity || this.observed.renewTime !== renewTime) {
        this.observed = { holder: spec.holderIdentity, renewTime, at: now };
      }
      const duration = (spec.leaseDurationSeconds ?? this.o.leaseDurationSeconds) * 1000;
      const mine = spec.holderIdentity === identity;
      const free = !spec.holderIdentity || this.observed.at + duration < now;
      if (!mine && !free) {
        this.set(false, now);
        return;
      }
      const next: V1Lease = {
        ...lease,
        spec: {
          ...spec,
          holderIdentity: identity,
          leaseDurationSeconds: this.o.leaseDurationSeconds,
          renewTime: stamp,
          ...(mine ? {} : { acquireTime: stamp, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
        },
      };
      await bounded(this.api.replaceNamespacedLease({ namespace, name, body: next }), this.o.renewMs);
      this.set(true, now);
    } catch (err) {
      const code = statusCode(err);
      // A conflict means another replica wrote first: not ours this round.
      if (code !== 409) this.o.log.warn({ lease: `${namespace}/${name}`, status: code, err: (err as Error).message }, 'leader election round failed');
      if (this.leading && code === 409) this.set(false, now);
    } finally {
      // Stop leading before the lease can expire for the others (a renew deadline of 2/3 of it).
      if (this.leading && this.o.now() - this.lastRenewed > (this.o.leaseDurationSeconds * 1000 * 2) / 3) this.set(false, this.o.now());
    }
  }

  private set(leading: boolean, now: number): void {
    if (leading) this.lastRenewed = now;
    if (leading === this.leading) return;
    this.leading = leading;
    this.o.log.info({ lease: `${this.o.namespace}/${this.o.name}`, identity: this.o.identity, leading }, leading ? 'became the leader' : 'not the leader');
    for (const l of this.listeners) l(leading);
  }

  /** Stops renewing and, when leading, releases the Lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    try {
      const lease = await this.api.readNamespacedLease({ namespace: this.o.namespace, name: this.o.name });
      if (lease.spec?.holderIdentity === this.o.identity) {
        await this.api.replaceNamespacedLease({
          namespace: this.o.namespace,
          name: this.o.name,
          body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, renewTime: undefined } },
        });
      }
    } catch {
      // the lease expires on its own
    }
    this.set(false, this.o.now());
  }
}
