/** The streamed tag-list name rewriter: the top-level "name" only, split anywhere, nothing else changed, bounded. */
import { describe, expect, it } from 'vitest';
import { TagListNameRewriter } from '../../src/proxy/taglist.ts';

const NAME = 'namespaces/ns/connectors/c/team/app';

/** The rewriter's output when `body` arrives split at `cut`, and whether it settled before the end. */
function rewrite(body: string, cut: number[]): { out: string; settled: boolean; delta: number } {
  const r = new TagListNameRewriter(NAME);
  const b = Buffer.from(body);
  const parts: Buffer[] = [];
  let from = 0;
  for (const c of [...cut, b.length]) {
    parts.push(r.push(b.subarray(from, c)));
    from = c;
  }
  const settled = r.settled;
  parts.push(r.end());
  return { out: Buffer.concat(parts).toString(), settled, delta: r.delta };
}

const cases: [what: string, body: string, expected: string][] = [
  ['name first', '{"name":"team/app","tags":["a","b"]}', `{"name":"${NAME}","tags":["a","b"]}`],
  ['name last, spaces', '{ "tags" : ["a"] , "name" : "team/app" }', `{ "tags" : ["a"] , "name" : "${NAME}" }`],
  [
    'a "name" inside tags and nested objects is left alone',
    '{"tags":["name",{"name":"x"}],"x":{"name":"y"},"name":"team/app"}',
    `{"tags":["name",{"name":"x"}],"x":{"name":"y"},"name":"${NAME}"}`,
  ],
  ['a value that looks like a key', '{"a":"name","name":"team/app"}', `{"a":"name","name":"${NAME}"}`],
  ['escapes in strings', '{"tags":["a\\"b\\\\"],"name":"te\\"am"}', `{"tags":["a\\"b\\\\"],"name":"${NAME}"}`],
  ['an escaped key', '{"n\\u0061me":"team/app"}', `{"n\\u0061me":"${NAME}"}`],
  ['no name at all', '{"tags":["a"]}', '{"tags":["a"]}'],
  ['not an object', '["name","team/app"]', '["name","team/app"]'],
  ['a name that is not a string', '{"name":7,"tags":[]}', '{"name":7,"tags":[]}'],
];

describe('TagListNameRewriter', () => {
  it.each(cases)('%s, split at every position', (_what, body, expected) => {
    for (let i = 0; i <= body.length; i++) {
      for (const cut of [[i], [Math.floor(i / 2), i]]) expect([cut, rewrite(body, cut).out]).toEqual([cut, expected]);
    }
  });

  it('settles as soon as the name is replaced, and says by how much the length changed', () => {
    const r = rewrite('{"name":"team/app","tags":["' + 'x'.repeat(100_000) + '"]}', [40]);
    expect(r.settled).toBe(true);
    expect(r.delta).toBe(NAME.length - 'team/app'.length);
  });

  it('a "name" value longer than a repository name can be is passed as it came, without holding it', () => {
    const long = 'n'.repeat(10_000);
    const body = `{"name":"${long}","tags":[]}`;
    const r = new TagListNameRewriter(NAME);
    const first = r.push(Buffer.from(body.slice(0, 6000)));
    expect(r.settled).toBe(true); // gave up at the bound, and sent what it held
    expect(first.toString()).toBe(body.slice(0, 6000));
    expect(r.push(Buffer.from(body.slice(6000))).toString()).toBe(body.slice(6000));
  });
});
