/** The example files the README points at parse, and hold what the README says they hold. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hashToken, tokenAllows } from '../../src/access/control.ts';
import { parseConfig } from '../../src/sources/file.ts';

const read = (name: string): string => readFileSync(new URL(`../../fixtures/${name}`, import.meta.url), 'utf8');

describe('fixtures/connectors.example.yaml', () => {
  const cfg = parseConfig(read('connectors.example.yaml'), 'connectors.example.yaml');
  it('has two connectors, one with a Secret and one anonymous Docker Hub', () => {
    expect(cfg.connectors.map((c) => `${c.namespace}/${c.name}`)).toEqual(['default/harbor', 'default/dockerhub']);
    expect(cfg.connectors[0]!.credentials?.username).toBe('robot$ci');
    expect(cfg.connectors[1]!.credentials).toBeUndefined();
    expect(cfg.connectors[1]!.dockerHub).toBe(true);
  });
  it('has one access token allowed on both connectors', () => {
    expect(cfg.accessTokens).toHaveLength(1);
    expect(cfg.accessTokens[0]!.sha256).toEqual(hashToken('replace-with-openssl-rand-hex-24'));
    for (const c of cfg.connectors) expect(tokenAllows(cfg.accessTokens[0]!.connectors, c)).toBe(true);
  });
});

describe('fixtures/compose-connectors.yaml', () => {
  it('parses', () => {
    expect(parseConfig(read('compose-connectors.yaml'), 'compose-connectors.yaml').connectors.length).toBeGreaterThan(0);
  });
});
