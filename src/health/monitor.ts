/**
 * Keeps every connector's conditions current: checks at start-up, on every configuration
 * change, and every `intervalMs`; never more than one check at a time per connector (a request
 * that arrives while one runs is folded into one more run after it); each bounded by `timeoutMs`.
 */
import type { Logger } from 'pino';
import type { Connectors, UpstreamClient } from '../upstream/client.ts';
import { type Condition, type Observed, readyOf, stamp } from './conditions.ts';
import { probe, secretCondition } from './probe.ts';

export interface HealthOptions {
  /** ms between periodic checks; 0 checks only at start-up and on changes. */
  intervalMs: number;
  /** ms one check may take. */
  timeoutMs: number;
}

export interface ConnectorHealth {
  conditions: Condition[];
  /** When the last check finished (RFC 3339), if one has. */
  checkedAt: string | undefined;
  /** False while the results are from before the connector last changed. */
  fresh: boolean;
}

interface Entry {
  client: UpstreamClient;
  /** The client the current results were measured with. */
  checked: UpstreamClient | undefined;
  conditions: Condition[];
  checkedAt: string | undefined;
  running: Promise<void> | undefined;
  again: boolean;
}

export class HealthMonitor {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly listeners: ((key: string) => void)[] = [];

  private readonly options: HealthOptions;
  private readonly log: Logger;
  private readonly now: () => Date;

  constructor(options: HealthOptions, log: Logger, now: () => Date = () => new Date()) {
    this.options = options;
    this.log = log;
    this.now = now;
  }

  /** Takes a new connector set: drops removed connectors, checks new and changed ones now. */
  update(set: Connectors): Promise<void> {
    for (const key of this.entries.keys()) if (!set.clients.has(key)) this.entries.delete(key);
    const checks: Promise<void>[] = [];
    for (const [key, client] of set.clients) {
      let e = this.entries.get(key);
      if (!e) {
        const checking: Observed[] = [
          secretCondition(client),
          { type: 'LivenessReady', status: 'Unknown', reason: 'Checking', message: 'the first check has not finished' },
          { type: 'AuthReady', status: 'Unknown', reason: 'Checking', message: 'the first check has not finished' },
        ];
        e = {
          client,
          checked: undefined,
          conditions: stamp([], [...checking, readyOf(checking)], this.now().toISOString()),
          checkedAt: undefined,
          running: undefined,
          again: false,
        };
        this.entries.set(key, e);
      }
      // Only new and changed connectors are checked now (an unchanged one keeps its client and
      // its results). A changed one keeps its previous results until the new check is done (no
      // flapping to Unknown); `fresh` says whether they are about the current one.
      if (e.client === client && e.checked === client) continue;
      e.client = client;
      checks.push(this.check(key));
    }
    if (this.options.intervalMs > 0 && !this.timer && !this.closed) {
      this.timer = setInterval(() => void this.checkAll(), this.options.intervalMs);
      this.timer.unref();
    }
    return Promise.all(checks).then(() => undefined);
  }

  checkAll(): Promise<void> {
    return Promise.all([...this.entries.keys()].map((k) => this.check(k))).then(() => undefined);
  }

  /** Checks one connector; resolves when a check that started after this call has finished. */
  check(key: string): Promise<void> {
    const e = this.entries.get(key);
    if (!e || this.closed) return Promise.resolve();
    if (e.running) {
      // The running loop goes round once more, so its promise covers this request too.
      e.again = true;
      return e.running;
    }
    const run = async (): Promise<void> => {
      do {
        e.again = false;
        const client = e.client;
        const observed = await probe(client, this.options.timeoutMs);
        // A check against a connector that has since been replaced is stale: run again.
        if (client !== e.client) {
          e.again = true;
          continue;
        }
        const next = stamp(e.conditions, [...observed, readyOf(observed)], this.now().toISOString());
        this.logTransitions(key, e.conditions, next);
        const changed = JSON.stringify(next) !== JSON.stringify(e.conditions) || e.checked !== client;
        e.conditions = next;
        e.checked = client;
        if (changed) for (const l of this.listeners) l(key);
        e.checkedAt = this.now().toISOString();
      } while (e.again && !this.closed && this.entries.get(key) === e);
    };
    e.running = run().finally(() => {
      e.running = undefined;
    });
    return e.running;
  }

  /** Calls `listener` with a connector's key whenever its conditions change, or become fresh again. */
  onChange(listener: (key: string) => void): void {
    this.listeners.push(listener);
  }

  status(key: string): ConnectorHealth | undefined {
    const e = this.entries.get(key);
    return e && { conditions: e.conditions, checkedAt: e.checkedAt, fresh: e.checkedAt === undefined || e.checked === e.client };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  private logTransitions(key: string, before: Condition[], after: Condition[]): void {
    const ready = after.find((c) => c.type === 'Ready')!;
    const was = before.find((c) => c.type === 'Ready');
    if (was?.status === ready.status && was.reason === ready.reason) return;
    const line = { connector: key, ready: ready.status, reason: ready.reason || undefined, message: ready.message || undefined };
    if (ready.status === 'False') this.log.warn(line, 'connector not ready');
    else this.log.info(line, 'connector health');
  }
}
