/**
 * The status page in a real browser: headless Chromium (Debian's, driven by playwright-core)
 * against a proxy with a healthy connector and one pointing at a closed port; then the same page
 * under --access static. And its JSON data endpoint like the other management endpoints: shape,
 * access, no secrets. The screenshot goes to test-output/status-page.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessControl, hashToken } from '../../src/access/control.ts';
import { connectorFor } from '../helpers/connectors.ts';
import { basic, http } from '../helpers/http.ts';
import { makeImage, pushImage } from '../helpers/oci.ts';
import { ROOT, type RunningProxy, startProxy } from '../helpers/proxy.ts';
import { type Registry, startRegistry } from '../helpers/registry.ts';

const PASSWORD = 'status-upstream-Pa55word-never-shown';
const TOKEN = 'status-page-token-0123456789abcdef';
const OUTPUT = join(ROOT, 'test-output');
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
let registry: Registry;
let open: RunningProxy; // access none
let guarded: RunningProxy; // access static: the token may use default/healthy only
let browser: Browser;

beforeAll(async () => {
  registry = await startRegistry();
  const connectors = [
    connectorFor(registry.url, { name: 'healthy', credentials: { username: 'robot', password: PASSWORD } }),
    connectorFor('http://127.0.0.1:1', { name: 'broken' }),
  ];
  const health = { intervalMs: 0, timeoutMs: 2_000 };
  open = await startProxy(connectors, { health, statusIntervalMs: 500 });
  guarded = await startProxy(connectors, {
    health,
    statusIntervalMs: 500,
    access: new AccessControl({ mode: 'static', tokens: [{ id: 'ci/status', sha256: hashToken(TOKEN), connectors: ['default/healthy'] }] }),
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  mkdirSync(OUTPUT, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await open?.stop();
  await guarded?.stop();
  await registry?.stop();
});

describe('the status page in Chromium', () => {
  it('lists the broken connector first, marked and with its message; charts traffic; copies hosts.toml; keeps a strict CSP', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 1400 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: open.url });
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content[- ]Security[- ]Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    const res = await page.goto(`${open.url}/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);

    const cards = page.locator('main article');
    await expect.poll(() => cards.count(), { timeout: 10_000 }).toBe(2);
    await expect.poll(() => cards.first().getAttribute('data-ready'), { timeout: 10_000 }).toBe('False');
    const broken = cards.first();
    expect(await broken.locator('h2').innerText()).toMatch(/default\/broken\s*✖ Failing/);
    expect(await broken.locator('table').innerText()).toContain('connect ECONNREFUSED 127.0.0.1:1');
    expect(await cards.nth(1).locator('h2').innerText()).toMatch(/default\/healthy\s*✔ Ready/);

    // Traffic through the healthy connector shows in its chart within a sampling interval or two.
    // The caption is the latest sample's rate, so the traffic goes on while the test waits: a
    // burst that ended before the page's next refresh would read 0 again.
    await pushImage(open.url, 'namespaces/default/connectors/healthy/team/app', 'v1', makeImage('amd64', [10_000]));
    const traffic = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++)
        await http(`${open.url}/v2/namespaces/default/connectors/healthy/team/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    };
    await traffic(20);
    const healthy = page.locator('#connector-default-healthy');
    const caption2xx = async (): Promise<number> => Number(/2xx ([\d.]+)/.exec((await healthy.locator('figcaption').first().innerText()) ?? '')?.[1] ?? 0);
    await expect
      .poll(
        async () => {
          await traffic(5);
          return caption2xx();
        },
        { timeout: 10_000 },
      )
      .toBeGreaterThan(0);
    expect(await healthy.locator('svg.chart polyline').count()).toBeGreaterThan(0);

    // The copy button puts the rendered hosts.toml on the clipboard.
    await healthy.locator('summary', { hasText: 'Client files' }).click();
    await healthy.getByRole('button', { name: 'Copy hosts.toml' }).click();
    const rendered = await http(`${open.url}/connectors/default/healthy/configurations/hosts.toml`);
    const clipboard = (): Promise<string> =>
      page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText());
    await expect.poll(clipboard, { timeout: 5_000 }).toBe(rendered.body.toString());

    await page.screenshot({ path: join(OUTPUT, 'status-page.png'), fullPage: true });

    // Narrow: nothing wider than the screen; status still in words.
    await page.setViewportSize({ width: 360, height: 800 });
    await page.screenshot({ path: join(OUTPUT, 'status-page-narrow.png'), fullPage: true });
    const widest = await page.evaluate(() => {
      const d = globalThis as unknown as {
        document: {
          documentElement: { scrollWidth: number };
          querySelectorAll(s: string): Iterable<{ tagName: string; className: string; scrollWidth: number; getBoundingClientRect(): { right: number } }>;
        };
        innerWidth: number;
      };
      const over = [...d.document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > d.innerWidth + 1).map((e) => `${e.tagName}.${e.className}`);
      return { scroll: d.document.documentElement.scrollWidth, width: d.innerWidth, over: over.slice(0, 5) };
    });
    expect(widest.scroll, JSON.stringify(widest)).toBeLessThanOrEqual(widest.width + 1);
    expect(violations).toEqual([]);
    expect(await page.content()).not.toContain(PASSWORD);
    await context.close();
  }, 60_000);

  it('under --access static the browser is asked for credentials, and then sees only its own connectors', async () => {
    // Headless Chromium has no prompt to show: it fails the navigation with ERR_INVALID_AUTH_CREDENTIALS. What it was asked is the page's answer.
    const anonymous = await browser.newContext();
    await expect(anonymous.newPage().then((p) => p.goto(`${guarded.url}/`))).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    const refused = await anonymous.request.get(`${guarded.url}/`, { headers: { accept: 'text/html' } });
    expect(refused.status()).toBe(401);
    expect(refused.headers()['www-authenticate']).toMatch(/^Basic realm=/);
    await anonymous.close();

    const context = await browser.newContext({ httpCredentials: { username: 'ci', password: TOKEN } });
    const page = await context.newPage();
    expect((await page.goto(`${guarded.url}/`))?.status()).toBe(200);
    const cards = page.locator('main article');
    await expect.poll(() => cards.count(), { timeout: 10_000 }).toBe(1);
    expect(await cards.first().getAttribute('id')).toBe('connector-default-healthy');
    expect(await page.content()).not.toContain(TOKEN);
    await context.close();
  }, 30_000);
});

describe('GET /status/data', () => {
  it('the connectors with routing, conditions (failing first), files and commands; no credential anywhere', async () => {
    const res = await http(`${open.url}/status/data`);
    expect(res.status).toBe(200);
    expect(res.headers['content-security-policy']).toBeDefined();
    expect(res.headers['cache-control']).toBe('no-store');
    const data = JSON.parse(res.body.toString()) as {
      intervalMs: number;
      connectors: {
        name: string;
        ready: string;
        routing: { pathPrefix: string; hosts: string[] };
        conditions: { status: string }[];
        files: { name: string }[];
        commands: string[];
      }[];
    };
    expect(data.intervalMs).toBe(500);
    expect(data.connectors.map((c) => [c.name, c.ready])).toEqual([
      ['broken', 'False'],
      ['healthy', 'True'],
    ]);
    const [broken, healthy] = data.connectors;
    expect(broken!.conditions[0]!.status).toBe('False');
    expect(healthy!.routing.pathPrefix).toBe('/v2/namespaces/default/connectors/healthy/');
    expect(healthy!.routing.hosts).toContain('c-healthy.default.svc.cluster.local');
    expect(healthy!.files.map((f) => f.name)).toEqual(
      expect.arrayContaining(['config.json', 'daemon.json', 'buildkitd.toml', 'hosts.toml', 'registries.conf', 'mirror-hosts.toml']),
    );
    expect(healthy!.commands.some((c) => c.startsWith('docker pull '))).toBe(true);
    expect(res.body.toString()).not.toContain(PASSWORD);
  });

  it('behind access control: 401 with a Basic challenge without a token, only the allowed connector with one, and no token in the answer', async () => {
    const none = await http(`${guarded.url}/status/data`);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm=/);
    const wrong = await http(`${guarded.url}/status/data`, { headers: { authorization: basic('ci', 'not-the-token') } });
    expect(wrong.status).toBe(401);
    const mine = await http(`${guarded.url}/status/data`, { headers: { authorization: basic('ci', TOKEN) } });
    expect(mine.status).toBe(200);
    const data = JSON.parse(mine.body.toString()) as { connectors: { name: string; files: { name: string; text: string }[] }[] };
    expect(data.connectors.map((c) => c.name)).toEqual(['healthy']);
    expect(mine.body.toString()).not.toContain(TOKEN);
    expect(mine.body.toString()).not.toContain(Buffer.from(`ci:${TOKEN}`).toString('base64'));
    expect(mine.body.toString()).not.toContain(PASSWORD);
  });

  it('API clients asking for / keep the registry error they always got', async () => {
    const res = await http(`${open.url}/`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe('UNSUPPORTED');
  });
});
