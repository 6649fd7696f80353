// civicmap viewer: loads the style served at /viewer/style.json, points its
// sources at this server, and adds the filter controls, the legend and the
// feature popups. Plain script (no build step); needs the global `maplibregl`.
//
// The page exposes `window.civicmap = { map, ready, reportQuery() }` for the
// browser test and for debugging from the console.
'use strict';

(function () {
  // Layers a click can pick, topmost first.
  const CLICKABLE = ['reports-points', 'projects', 'reports-hexagons', 'working-class-fill', 'districts-fill'];
  // The report filters, as the query parameters of the reports tile URL (and of GET /api/v1/reports).
  // `campaign` keeps the contributions answering one campaign (its slug); "all" (empty) drops the parameter.
  const REPORT_FILTERS = {
    kind: 'filter-kind', category: 'filter-category', campaign: 'filter-campaign', from: 'filter-from', to: 'filter-to',
  };

  const $ = (id) => document.getElementById(id);

  // Replaces `{origin}` in every source URL of the style with this page's origin.
  function localise(style, origin) {
    for (const source of Object.values(style.sources)) {
      if (Array.isArray(source.tiles)) {
        source.tiles = source.tiles.map((t) => t.replaceAll('{origin}', origin));
      }
      if (typeof source.url === 'string') {
        source.url = source.url.replaceAll('{origin}', origin);
      }
    }
    return style;
  }

  // Appends a query string to a tile URL template that may already have one.
  function withQuery(template, query) {
    if (!query) return template;
    return template + (template.includes('?') ? '&' : '?') + query;
  }

  // Replaces one query parameter of a tile URL template.
  function withParam(template, name, value) {
    const [path, query = ''] = template.split('?');
    const params = new URLSearchParams(query);
    params.set(name, value);
    // URLSearchParams would encode the braces of {z}/{x}/{y}: they are only in the path.
    return path + '?' + params.toString();
  }

  function reportQuery() {
    const params = new URLSearchParams();
    for (const [name, id] of Object.entries(REPORT_FILTERS)) {
      const value = $(id).value;
      if (value) params.set(name, value);
    }
    return params.toString();
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'style') e.style.cssText = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }

  // --- popups ---------------------------------------------------------------

  const TITLES = {
    'reports-points': (p) => `Report #${p.id}`,
    'projects': (p) => `Project #${p.id}`,
    'reports-hexagons': (p) => `${p.total} report${p.total === 1 ? '' : 's'} in this hexagon`,
    'working-class-fill': (p) => `Working-class district ${p.name ?? p.code ?? ''}`,
    'districts-fill': (p) => `${p.name ?? ''} (${p.layer ?? 'district'} ${p.code ?? ''})`,
  };

  function popupContent(feature) {
    // A report's id travels as the tile feature's own id, not as a property.
    const p = feature.layer.id === 'reports-points'
      ? { id: feature.id, ...feature.properties }
      : feature.properties;
    const box = el('div', { class: 'feature' });
    box.append(el('h3', {}, TITLES[feature.layer.id](p)));
    const table = el('table', {});
    for (const [k, v] of Object.entries(p)) {
      table.append(el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, String(v))));
    }
    box.append(table);
    if (feature.layer.id === 'reports-points') {
      box.append(el('a', { href: `/api/v1/reports/${encodeURIComponent(p.id)}`, target: '_blank' }, 'details (JSON)'));
    } else if (feature.layer.id === 'projects') {
      box.append(el('a', { href: `/api/v1/projects/${encodeURIComponent(p.id)}`, target: '_blank' }, 'details (JSON)'));
    }
    return box;
  }

  // --- legend ---------------------------------------------------------------

  // A legend entry: a checkbox that shows or hides its layers, the label, and the swatch
  // (beside the label, or under it for a colour scale).
  function legendRow(swatch, label, layerIds, map, under = false) {
    const box = el('input', { type: 'checkbox', 'data-layers': layerIds.join(' ') });
    box.checked = true;
    box.addEventListener('change', () => {
      for (const id of layerIds) map.setLayoutProperty(id, 'visibility', box.checked ? 'visible' : 'none');
    });
    const text = under ? el('span', {}, label, el('br', {}), swatch) : el('span', {}, swatch, ' ', label);
    return el('label', { class: 'legend-row' }, box, text);
  }

  function buildLegend(map, style) {
    const body = $('legend-body');
    const layer = (id) => style.layers.find((l) => l.id === id);

    // Hexagons: one swatch per step of the fill colour.
    const hex = layer('reports-hexagons');
    const step = hex.paint['fill-color'];
    const colours = [step[2]];
    const limits = [1];
    for (let i = 3; i < step.length; i += 2) {
      limits.push(step[i]);
      colours.push(step[i + 1]);
    }
    const scale = el('span', { class: 'scale' });
    colours.forEach((c, i) => {
      const to = i + 1 < limits.length ? `–${limits[i + 1] - 1}` : '+';
      scale.append(el('span', { class: 'step', style: `background:${c}` }, `${limits[i]}${to}`));
    });
    body.append(legendRow(scale, hex.metadata['civicmap:legend'] + ' (zoom < 14)',
      ['reports-hexagons', 'reports-hexagons-outline'], map, true));

    // Points: one swatch per kind.
    const points = layer('reports-points');
    const match = points.paint['circle-color'];
    const kinds = el('span', { class: 'kinds' });
    for (let i = 2; i + 1 < match.length; i += 2) {
      kinds.append(el('span', { class: 'dot', style: `background:${match[i + 1]}` }), ` ${match[i]} `);
    }
    body.append(legendRow(kinds, 'Report (zoom ≥ 14)', ['reports-points'], map, true));

    const projects = layer('projects');
    body.append(legendRow(
      el('span', { class: 'dot big', style: `background:${projects.paint['circle-color']}` }),
      projects.metadata['civicmap:legend'] + '; orange ring: in a working-class district',
      ['projects'], map));

    const wc = layer('working-class-fill');
    body.append(legendRow(
      el('span', { class: 'area', style: `background:${wc.paint['fill-color']}` }),
      wc.metadata['civicmap:legend'], ['working-class-fill', 'working-class-outline'], map));

    const d = layer('district-outlines');
    body.append(legendRow(
      el('span', { class: 'line', style: `border-color:${d.paint['line-color']}` }),
      d.metadata['civicmap:legend'], ['district-outlines', 'districts-fill'], map));
  }

  // --- filters --------------------------------------------------------------

  async function loadCategories() {
    const select = $('filter-category');
    const response = await fetch('/api/v1/categories');
    if (!response.ok) throw new Error(`GET /api/v1/categories: ${response.status}`);
    for (const c of await response.json()) {
      select.append(el('option', { value: c.code }, c.label));
    }
  }

  // The open campaigns, by slug (what the tiles' `campaign` parameter takes), titled.
  async function loadCampaigns() {
    const select = $('filter-campaign');
    const response = await fetch('/api/v1/campaigns');
    if (!response.ok) throw new Error(`GET /api/v1/campaigns: ${response.status}`);
    const { items } = await response.json();
    for (const c of items) {
      select.append(el('option', { value: c.slug }, c.title));
    }
  }

  // Shows how many reports match the filters (city-wide), or why the filters are refused.
  async function showMatching(query) {
    const status = $('filter-status');
    const response = await fetch(`/api/v1/reports?limit=1${query ? '&' + query : ''}`);
    const body = await response.json();
    status.textContent = response.ok
      ? `${body.total.toLocaleString('en')} matching report${body.total === 1 ? '' : 's'}`
      : body.message;
    status.classList.toggle('error', !response.ok);
  }

  async function main() {
    if (typeof maplibregl === 'undefined') {
      throw new Error('MapLibre GL JS did not load (offline? see the server options --maplibre-url and --maplibre-dir)');
    }
    const origin = window.location.origin;
    const response = await fetch('/viewer/style.json');
    if (!response.ok) throw new Error(`GET /viewer/style.json: ${response.status}`);
    const style = localise(await response.json(), origin);
    const reportTiles = style.sources.reports.tiles[0];
    const districtTiles = style.sources.districts.tiles[0];

    const map = new maplibregl.Map({
      container: 'map',
      style,
      center: [2.35, 48.86],
      zoom: 12,
      maxZoom: 20,
      hash: true,
      attributionControl: { compact: false },
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'top-left');

    const ready = new Promise((resolve) => map.once('idle', resolve));
    window.civicmap = { map, ready, reportQuery };

    buildLegend(map, style);

    // Filters change the report source's tile URL: the server aggregates the
    // hexagons of the matching reports only, so their counts stay exact.
    const applyFilters = () => {
      const from = $('filter-from').value;
      const to = $('filter-to').value;
      if (from && to && from > to) {
        $('filter-status').textContent = '"From" is after "To".';
        $('filter-status').classList.add('error');
        return;
      }
      const query = reportQuery();
      map.getSource('reports').setTiles([withQuery(reportTiles, query)]);
      showMatching(query).catch((e) => console.warn('report count:', e));
    };
    for (const id of Object.values(REPORT_FILTERS)) $(id).addEventListener('change', applyFilters);
    $('district-layer').addEventListener('change', (e) => {
      map.getSource('districts').setTiles([withParam(districtTiles, 'layer', e.target.value)]);
    });
    $('filters').addEventListener('submit', (e) => e.preventDefault());

    loadCategories().catch((e) => {
      $('filter-status').textContent = `Categories unavailable (${e.message}).`;
    });
    loadCampaigns().catch((e) => {
      $('filter-status').textContent = `Campaigns unavailable (${e.message}).`;
    });
    showMatching('').catch((e) => console.warn('report count:', e));

    const popup = new maplibregl.Popup({ maxWidth: '340px' });
    map.on('click', (e) => {
      const visible = CLICKABLE.filter((id) => map.getLayer(id)
        && map.getLayoutProperty(id, 'visibility') !== 'none');
      const [feature] = map.queryRenderedFeatures(e.point, { layers: visible });
      if (!feature) {
        popup.remove();
        return;
      }
      popup.setLngLat(e.lngLat).setDOMContent(popupContent(feature)).addTo(map);
    });
    map.on('mousemove', (e) => {
      const hit = map.queryRenderedFeatures(e.point, { layers: CLICKABLE.slice(0, 3) }).length > 0;
      map.getCanvas().style.cursor = hit ? 'pointer' : '';
    });
  }

  main().catch((e) => {
    console.error('civicmap viewer:', e);
    const status = $('filter-status');
    if (status) {
      status.textContent = `The map could not start: ${e.message}`;
      status.classList.add('error');
    }
  });
})();
