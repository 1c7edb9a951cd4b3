/**
 * Knative-style status conditions, with the product's types and reasons (pure):
 * SecretReady, LivenessReady, AuthReady and their aggregate Ready.
 */

export type ConditionStatus = 'True' | 'False' | 'Unknown';
export type ConditionType = 'SecretReady' | 'LivenessReady' | 'AuthReady' | 'ProxyServiceReady' | 'Ready';

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  /** Empty for a plain True; one of the product's reasons otherwise. */
  reason: string;
  message: string;
  /** RFC 3339; changes only when `status` changes. */
  lastTransitionTime: string;
}

/** A condition before it is stamped with a transition time. */
export type Observed = Omit<Condition, 'lastTransitionTime'>;

/** The aggregate: True when every other condition is True; else the first False one, else Unknown. */
export function readyOf(conditions: readonly Observed[]): Observed {
  const failing = conditions.find((c) => c.status === 'False');
  if (failing) return { type: 'Ready', status: 'False', reason: failing.reason, message: failing.message };
  const unknown = conditions.find((c) => c.status === 'Unknown');
  if (unknown) return { type: 'Ready', status: 'Unknown', reason: unknown.reason, message: unknown.message };
  return { type: 'Ready', status: 'True', reason: '', message: '' };
}

/**
 * Stamps observed conditions with transition times: a condition whose status did not change
 * keeps its previous lastTransitionTime.
 */
export function stamp(previous: readonly Condition[], observed: readonly Observed[], now: string): Condition[] {
  return observed.map((o) => {
    const before = previous.find((p) => p.type === o.type);
    return { ...o, lastTransitionTime: before && before.status === o.status ? before.lastTransitionTime : now };
  });
}

export function condition(conditions: readonly Condition[], type: ConditionType): Condition | undefined {
  return conditions.find((c) => c.type === type);
}
