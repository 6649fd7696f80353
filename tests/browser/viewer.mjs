// Headless-browser test of the civicmap viewer, against a running server:
//
//   node tests/browser/viewer.mjs http://127.0.0.1:8080
//
// Starts nothing but Debian's Chromium (a fresh profile, deleted afterwards). The server must serve
// MapLibre itself (`--maplibre-dir`): every request leaving the base URL is aborted and fails the
// test. Its reports must include anomalies and contributions, all inside the served area, and an open
// campaign with contributions answering it (tests/viewer.rs posts such a set). Exits 0 when every check
// passes, 1 on a failed check, 2 on a usage error or timeout.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CIVICMAP_CHROMIUM ?? '/usr/bin/chromium';
// WebGL without a GPU: ANGLE on SwiftShader (software Vulkan), allowed explicitly since Chromium 137.
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
];
const VIEWPORT = { width: 1280, height: 800 };
/** Whole run, in milliseconds: past it the browser is closed and the test fails. */
const DEADLINE_MS = 180_000;
/** One wait for the map to settle, in milliseconds. */
const SETTLE_MS = 45_000;
/** A zoom at which the whole served area (Paris) is inside the viewport, and hexagons are drawn. */
const CITY_ZOOM = 11;
/** A zoom at which reports are single points. */
const POINT_ZOOM = 17;

const base = (process.argv[2] ?? '').replace(/\/$/, '');
if (!/^https?:\/\/[^/]+$/.test(base)) {
  console.error('usage: node viewer.mjs http://HOST:PORT');
  process.exit(2);
}

const started = Date.now();
const failures = [];
// Console errors, page errors, failed requests and HTTP errors seen by the page.
const problems = [];
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s]`, ...a);
function check(ok, what, detail = '') {
  log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ` (${detail})` : ''}`);
  if (!ok) failures.push(what);
  return ok;
}

async function api(path) {
  const r = await fetch(base + path);
  if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

const profile = mkdtempSync(join(tmpdir(), 'civicmap-chromium-'));
const timer = setTimeout(() => {
  console.error(`timeout: the browser test took more than ${DEADLINE_MS / 1000} s`);
  rmSync(profile, { recursive: true, force: true });
  process.exit(2);
}, DEADLINE_MS);

const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: ARGS,
  viewport: VIEWPORT,
  serviceWorkers: 'block',
});

try {
  await run(context);
} catch (e) {
  check(false, 'the test ran to its end', e.stack ?? String(e));
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(timer);
}
const SHOWN_PROBLEMS = 8;
check(problems.length === 0, 'no console error, page error or failed request',
  problems.length ? `${problems.length}: ${problems.slice(0, SHOWN_PROBLEMS).join('; ')}${problems.length > SHOWN_PROBLEMS ? '; …' : ''}` : '');
log(failures.length === 0 ? 'all checks passed' : `${failures.length} check(s) failed: ${failures.join('; ')}`);
process.exit(failures.length === 0 ? 0 : 1);

async function run(context) {
  // Nothing may leave the server under test.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base + '/') || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    problems.push(`request outside the server: ${url}`);
    return route.abort('blockedbyclient');
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });

  const tileRequests = [];
  page.on('request', (r) => { if (r.url().includes('/tiles/')) tileRequests.push(r.url()); });

  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => window.civicmap?.ready, null, { timeout: SETTLE_MS });
  await page.evaluate(() => window.civicmap.ready);
  log('map idle after loading');
  const gl = await page.evaluate(() => {
    const c = window.civicmap.map.painter.context.gl;
    const info = c.getExtension('WEBGL_debug_renderer_info');
    return info ? c.getParameter(info.UNMASKED_RENDERER_WEBGL) : c.getParameter(c.RENDERER);
  });
  log(`WebGL renderer: ${gl}`);

  const categories = await page.$$eval('#filter-category option', (os) => os.map((o) => o.value).filter(Boolean));
  check(categories.length > 0, 'the category filter lists the categories of /api/v1/categories', `${categories.length}`);
  const legend = await page.$$eval('#legend-body .legend-row', (rows) => rows.length);
  check(legend >= 5, 'the legend has a row per layer', `${legend} rows`);
  const attribution = await page.textContent('.maplibregl-ctrl-attrib');
  check(/Ville de Paris/.test(attribution) && /ODbL/.test(attribution) && /INSEE/.test(attribution)
    && /Base Adresse Nationale/.test(attribution) && /Licence Ouverte/.test(attribution),
  'the data are attributed (Ville de Paris ODbL, INSEE, BAN, Licence Ouverte)', attribution.trim());
  check(tileRequests.length > 0 && tileRequests.every((u) => u.startsWith(base + '/tiles/')),
    'tiles are requested from the server the page came from', `${tileRequests.length} requests`);

  // --- the whole city: hexagons, projects, districts, working-class districts -----------------
  await moveTo(page, { center: [2.35, 48.86], zoom: CITY_ZOOM });
  const all = await hexagons(page);
  const api0 = await api('/api/v1/reports?limit=1');
  check(all.size > 0, 'reports_h3: hexagons are drawn at a low zoom', `${all.size} cells`);
  check(all.size > 0 && sum(all, 'total') === api0.total, 'the hexagon totals add up to the reports of the API', `${sum(all, 'total')} vs ${api0.total}`);
  check(all.size > 0 && [...all.values()].every((c) => c.total === c.anomalies + c.contributions),
    'each hexagon total is its anomalies plus its contributions');

  const projects = await rendered(page, 'projects');
  check(projects.length > 0, 'projects are drawn', `${projects.length}`);
  check(projects.length > 0 && projects.every((f) => Number.isInteger(f.id) && (f.title === undefined || typeof f.title === 'string') && typeof f.budget_eur === 'number'),
    'project features carry id, title and budget_eur');
  const districts = await rendered(page, 'district-outlines');
  const codes = new Set(districts.map((f) => f.code));
  check(codes.size === 20 && districts.every((f) => f.layer === 'arrondissement'),
    'the 20 arrondissement outlines are drawn', `${codes.size} codes`);
  await selectAndSettle(page, '#district-layer', 'quartier', '/tiles/districts/', 'layer=quartier');
  const quartiers = await rendered(page, 'district-outlines');
  check(new Set(quartiers.map((f) => f.code)).size === 80 && quartiers.every((f) => f.layer === 'quartier'),
    'the outline selector switches to the 80 quartiers', `${new Set(quartiers.map((f) => f.code)).size} codes`);
  await selectAndSettle(page, '#district-layer', 'arrondissement', '/tiles/districts/', 'layer=arrondissement');
  const working = await rendered(page, 'working-class-fill');
  check(working.length > 0 && working.every((f) => f.layer === 'working_class'),
    'working-class districts are filled', `${new Set(working.map((f) => f.code)).size} districts`);

  // --- the kind filter changes the hexagon counts, exactly ------------------------------------
  const anomalies = sum(all, 'anomalies');
  const contributions = sum(all, 'contributions');
  check(anomalies > 0 && contributions > 0, 'the data have anomalies and contributions', `${anomalies} + ${contributions}`);
  for (const kind of ['anomaly', 'contribution']) {
    const field = kind === 'anomaly' ? 'anomalies' : 'contributions';
    await setFilter(page, '#filter-kind', kind, `kind=${kind}`);
    const filtered = await hexagons(page);
    const expected = new Map([...all].filter(([, c]) => c[field] > 0).map(([h3, c]) => [h3, c[field]]));
    const wrong = [...expected].filter(([h3, n]) => filtered.get(h3)?.total !== n)
      .concat([...filtered.keys()].filter((h3) => !expected.has(h3)).map((h3) => [h3, 0]));
    check(wrong.length === 0 && filtered.size === expected.size,
      `with kind=${kind}, each hexagon counts its ${field} only`,
      wrong.length ? `${wrong.length} cells differ, e.g. ${JSON.stringify(wrong[0])}` : `${sum(filtered, 'total')} reports`);
    check(sum(filtered, 'total') !== sum(all, 'total'), `the kind=${kind} filter changes the rendered totals`);
    const status = await page.textContent('#filter-status');
    check(status.includes(String(sum(filtered, 'total'))) || status.includes(sum(filtered, 'total').toLocaleString('en')),
      'the panel shows the number of matching reports', status.trim());
  }
  await setFilter(page, '#filter-kind', '', null);
  const category = await busiestCategory(categories);
  await setFilter(page, '#filter-category', category.code, `category=${category.code}`);
  const byCategory = await hexagons(page);
  check(sum(byCategory, 'total') === category.total, `with category=${category.code}, the hexagons count its reports`,
    `${sum(byCategory, 'total')} vs ${category.total} from the API`);
  await setFilter(page, '#filter-category', '', null);
  const reset = await hexagons(page);
  check(sum(reset, 'total') === sum(all, 'total'), 'clearing the filters restores the totals');

  // --- the campaign selector keeps the contributions answering one campaign -------------------
  const campaigns = (await api('/api/v1/campaigns')).items;
  const offered = await page.$$eval('#filter-campaign option', (os) => os.map((o) => o.value).filter(Boolean));
  check(campaigns.length > 0 && offered.length === campaigns.length && campaigns.every((c) => offered.includes(c.slug)),
    'the campaign selector lists the open campaigns of /api/v1/campaigns', offered.join(', '));
  if (campaigns.length > 0) {
    const slug = campaigns[0].slug;
    const { total } = await api(`/api/v1/reports?limit=1&campaign=${encodeURIComponent(slug)}`);
    await setFilter(page, '#filter-campaign', slug, `campaign=${slug}`);
    const byCampaign = await hexagons(page);
    check(total > 0 && sum(byCampaign, 'total') === total && sum(byCampaign, 'anomalies') === 0,
      `with campaign=${slug}, the hexagons count its contributions only`, `${sum(byCampaign, 'total')} vs ${total} from the API`);
    await setFilter(page, '#filter-campaign', '', null);
    check(sum(await hexagons(page), 'total') === sum(all, 'total'), 'the campaign "all" restores the totals');
  }

  // --- single reports at a high zoom, and a click on one --------------------------------------
  const candidates = (await api('/api/v1/reports?limit=50')).items;
  let clicked = false;
  let first = true;
  for (const r of candidates) {
    await moveTo(page, { center: [r.lon, r.lat], zoom: POINT_ZOOM });
    const here = await page.evaluate(({ lon, lat }) => {
      const map = window.civicmap.map;
      const p = map.project([lon, lat]);
      const near = map.queryRenderedFeatures([[p.x - 12, p.y - 12], [p.x + 12, p.y + 12]], { layers: ['reports-points', 'projects'] });
      // A report's id is its tile feature's id (`feature.id`), not a property.
      return { x: p.x, y: p.y, ids: near.map((f) => f.layer.id === 'projects' ? `project ${f.properties.id}` : f.id),
        all: map.queryRenderedFeatures({ layers: ['reports-points'] }).map((f) => ({ id: f.id, ...f.properties })) };
    }, r);
    if (first) {
      first = false;
      check(here.all.length > 0, 'reports: points are drawn at a high zoom', `${here.all.length} at zoom ${POINT_ZOOM}`);
      const p = here.all.find((f) => f.id === r.id);
      check(p !== undefined && p.kind === r.kind && p.category === r.category && p.status === r.status
        && typeof p.created === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(p.created),
      'a report point carries id, kind, category, status and created', JSON.stringify(p));
      check(here.all.every((f) => !Object.prototype.hasOwnProperty.call(f, 'id') || Number.isInteger(f.id)),
        'report points carry their id as the feature id');
      check(here.all.every((f) => !('contact' in f) && !('email' in f) && !('phone' in f) && !('description' in f)),
        'report points carry no contact data nor free text');
    }
    if (here.ids.length !== 1 || here.ids[0] !== r.id) continue; // another feature too close: try the next report
    const box = await page.locator('#map').boundingBox();
    await page.mouse.click(box.x + here.x, box.y + here.y);
    const popup = page.locator('.maplibregl-popup-content');
    await popup.waitFor({ timeout: 10_000 });
    const text = await popup.textContent();
    check(text.includes(`Report #${r.id}`) && text.includes(r.category), 'a click on a report shows its properties', text.slice(0, 120));
    clicked = true;
    break;
  }
  check(clicked, 'an isolated report could be clicked');

}

// Moves the map and waits until every tile is loaded and drawn.
async function moveTo(page, camera) {
  await page.evaluate(async (camera) => {
    const map = window.civicmap.map;
    const idle = new Promise((resolve) => map.once('idle', resolve));
    map.jumpTo(camera);
    map.triggerRepaint();
    await idle;
  }, camera);
}

// Chooses an option as a person would, and waits until the tiles it asks for are drawn.
async function selectAndSettle(page, selector, value, tilePath, expectInUrl) {
  const idle = page.evaluate(() => new Promise((resolve) => window.civicmap.map.once('idle', resolve)));
  const tile = expectInUrl
    ? page.waitForResponse((r) => r.url().includes(tilePath) && r.url().includes(expectInUrl), { timeout: SETTLE_MS })
    : null;
  await page.selectOption(selector, value);
  if (tile) await tile;
  // 'idle' may never come when nothing is left to redraw (the tiles asked for were all at hand): then the map
  // is settled once it reports every tile loaded. Both are bounded by SETTLE_MS.
  const loaded = page.waitForFunction(() => {
    const map = window.civicmap.map;
    return map.loaded() && map.areTilesLoaded() && !map.isMoving();
  }, null, { timeout: SETTLE_MS, polling: 100 });
  await Promise.race([idle, loaded]);
  loaded.catch(() => {});
}

// Changes a report filter and waits for the new tiles and the new count in the panel.
async function setFilter(page, selector, value, expectInUrl) {
  await page.evaluate(() => { document.getElementById('filter-status').textContent = ''; });
  await selectAndSettle(page, selector, value, '/tiles/reports/', expectInUrl);
  // The count shown in the panel comes from a separate API call.
  await page.waitForFunction(() => document.getElementById('filter-status').textContent.trim() !== '', null, { timeout: SETTLE_MS });
  const source = await page.evaluate(() => window.civicmap.map.getSource('reports').tiles[0]);
  check(expectInUrl ? source.includes(expectInUrl) : !/[?&](kind|category|campaign)=/.test(source),
    `the ${selector} control sets the reports tile URL`, source);
}

async function rendered(page, layer) {
  return page.evaluate((layer) => window.civicmap.map.queryRenderedFeatures({ layers: [layer] })
    .map((f) => f.properties), layer);
}

// Rendered hexagons, one per cell (a cell cut by tile edges comes once per tile).
async function hexagons(page) {
  const cells = new Map();
  for (const p of await rendered(page, 'reports-hexagons')) cells.set(p.h3, p);
  return cells;
}

function sum(cells, field) {
  let n = 0;
  for (const c of cells.values()) n += c[field];
  return n;
}

// The category with the most reports (and how many), according to the API.
async function busiestCategory(codes) {
  let best = { code: codes[0], total: -1 };
  for (const code of codes) {
    const { total } = await api(`/api/v1/reports?limit=1&category=${encodeURIComponent(code)}`);
    if (total > best.total) best = { code, total };
  }
  return best;
}
