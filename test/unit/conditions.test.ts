/** Status conditions: the Ready aggregate and transition-time stamping. */
import { describe, expect, it } from 'vitest';
import { type Condition, condition, type Observed, readyOf, stamp } from '../../src/health/conditions.ts';

const T1 = '2025-06-01T12:00:00Z';
const T2 = '2025-06-01T12:05:00Z';

const ok = (type: Observed['type']): Observed => ({ type, status: 'True', reason: '', message: '' });
const bad = (type: Observed['type'], reason: string, message: string): Observed => ({ type, status: 'False', reason, message });
const unknown = (type: Observed['type'], reason: string, message: string): Observed => ({ type, status: 'Unknown', reason, message });

describe('readyOf', () => {
  const cases: [what: string, conditions: Observed[], expected: Observed][] = [
    ['all True', [ok('SecretReady'), ok('LivenessReady'), ok('AuthReady')], { type: 'Ready', status: 'True', reason: '', message: '' }],
    ['no conditions', [], { type: 'Ready', status: 'True', reason: '', message: '' }],
    [
      'True conditions with reasons still give a plain True',
      [{ type: 'SecretReady', status: 'True', reason: 'Found', message: 'ok' }],
      { type: 'Ready', status: 'True', reason: '', message: '' },
    ],
    [
      'one False',
      [ok('SecretReady'), bad('LivenessReady', 'Unreachable', 'connect ECONNREFUSED'), ok('AuthReady')],
      { type: 'Ready', status: 'False', reason: 'Unreachable', message: 'connect ECONNREFUSED' },
    ],
    [
      'the first False wins',
      [ok('SecretReady'), bad('LivenessReady', 'Unreachable', 'first'), bad('AuthReady', 'AuthFailed', 'second')],
      { type: 'Ready', status: 'False', reason: 'Unreachable', message: 'first' },
    ],
    [
      'False wins over an earlier Unknown',
      [unknown('SecretReady', 'Pending', 'not yet'), bad('AuthReady', 'AuthFailed', '401 from the token service')],
      { type: 'Ready', status: 'False', reason: 'AuthFailed', message: '401 from the token service' },
    ],
    [
      'Unknown when none is False',
      [ok('SecretReady'), unknown('LivenessReady', 'Checking', 'first check pending'), unknown('AuthReady', 'Later', 'second')],
      { type: 'Ready', status: 'Unknown', reason: 'Checking', message: 'first check pending' },
    ],
  ];
  it.each(cases)('%s', (_what, conditions, expected) => {
    expect(readyOf(conditions)).toEqual(expected);
  });
});

describe('stamp', () => {
  const previous: Condition[] = [
    { type: 'SecretReady', status: 'True', reason: '', message: '', lastTransitionTime: T1 },
    { type: 'LivenessReady', status: 'False', reason: 'Unreachable', message: 'timeout', lastTransitionTime: T1 },
  ];

  const cases: [what: string, before: Condition[], observed: Observed[], expected: Condition[]][] = [
    [
      'keeps lastTransitionTime when the status is unchanged, even if reason and message changed',
      previous,
      [ok('SecretReady'), bad('LivenessReady', 'BadStatus', 'HTTP 500')],
      [
        { type: 'SecretReady', status: 'True', reason: '', message: '', lastTransitionTime: T1 },
        { type: 'LivenessReady', status: 'False', reason: 'BadStatus', message: 'HTTP 500', lastTransitionTime: T1 },
      ],
    ],
    [
      'a changed status gets the new time',
      previous,
      [unknown('SecretReady', 'Pending', 'reloading'), ok('LivenessReady')],
      [
        { type: 'SecretReady', status: 'Unknown', reason: 'Pending', message: 'reloading', lastTransitionTime: T2 },
        { type: 'LivenessReady', status: 'True', reason: '', message: '', lastTransitionTime: T2 },
      ],
    ],
    [
      'a new condition type gets the new time; ones no longer observed are dropped',
      previous,
      [ok('SecretReady'), ok('AuthReady')],
      [
        { type: 'SecretReady', status: 'True', reason: '', message: '', lastTransitionTime: T1 },
        { type: 'AuthReady', status: 'True', reason: '', message: '', lastTransitionTime: T2 },
      ],
    ],
    [
      'with no previous conditions every one gets the new time, in observed order',
      [],
      [bad('AuthReady', 'AuthFailed', 'x'), ok('Ready')],
      [
        { type: 'AuthReady', status: 'False', reason: 'AuthFailed', message: 'x', lastTransitionTime: T2 },
        { type: 'Ready', status: 'True', reason: '', message: '', lastTransitionTime: T2 },
      ],
    ],
  ];
  it.each(cases)('%s', (_what, before, observed, expected) => {
    expect(stamp(before, observed, T2)).toEqual(expected);
  });

  it('does not modify its inputs', () => {
    const before = structuredClone(previous);
    const observed: Observed[] = [ok('LivenessReady')];
    stamp(previous, observed, T2);
    expect(previous).toEqual(before);
    expect(observed).toEqual([ok('LivenessReady')]);
  });
});

describe('condition', () => {
  it('finds a condition by type', () => {
    const list: Condition[] = [
      { type: 'SecretReady', status: 'True', reason: '', message: '', lastTransitionTime: T1 },
      { type: 'Ready', status: 'False', reason: 'R', message: 'm', lastTransitionTime: T2 },
    ];
    expect(condition(list, 'Ready')).toEqual({ type: 'Ready', status: 'False', reason: 'R', message: 'm', lastTransitionTime: T2 });
    expect(condition(list, 'AuthReady')).toBeUndefined();
  });
});
