// test/browser/dashboard.test.mjs HTML EXPECTED_JSON SCREENSHOT
//
// Opens the dashboard carbonmkt-dashboard wrote in Debian's headless Chromium (through
// playwright-core, which downloads no browser: CHROMIUM names the binary, default
// /usr/bin/chromium) and checks, printing TAP lines:
//   - no console error, no uncaught exception, no request to anything but the file itself;
//   - every chart the page lists (window.dashboardCharts) and every chart container in the
//     page rendered: an ECharts instance with data points and a canvas with painted pixels;
//   - the figures on the page equal those the test queried by SQL (EXPECTED_JSON): the
//     national completion rate by tonnes and by units, one province's rate, the last close.
// Then saves a full-page screenshot at a laptop's width (1440 px) to SCREENSHOT.
// Exits 1 if any check failed.
import { chromium } from 'playwright-core';
import path from 'node:path';

const [htmlFile, expectedJson, screenshot] = process.argv.slice(2);
if (!htmlFile || !expectedJson || !screenshot) {
  console.error('usage: dashboard.test.mjs HTML EXPECTED_JSON SCREENSHOT');
  process.exit(2);
}
const expected = JSON.parse(expectedJson);
let count = 0;
let failed = 0;
function ok(cond, what, detail) {
  count++;
  if (cond) {
    console.log(`ok ${count} - ${what}`);
  } else {
    failed++;
    console.log(`not ok ${count} - ${what}${detail === undefined ? '' : ': ' + detail}`);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--font-render-hinting=none'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const errors = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
  page.on('pageerror', (e) => errors.push('exception: ' + e.message));
  page.on('requestfailed', (r) => errors.push('request failed: ' + r.url()));
  page.on('request', (r) => requests.push(r.url()));
  const url = 'file://' + path.resolve(htmlFile);
  await page.goto(url, { waitUntil: 'load' });
  const ready = await page.waitForFunction(() => window.dashboardReady === true, null, { timeout: 30000 })
    .then(() => true, () => false);
  ok(ready, 'the page drew its charts (window.dashboardReady)');
  ok(errors.length === 0, 'no console error, exception or failed request', errors.join(' | '));
  const foreign = requests.filter((u) => u !== url && !u.startsWith('data:'));
  ok(foreign.length === 0, 'nothing loaded but the file itself (works offline)', foreign.join(', '));

  // every chart: listed by the page and present as a container
  const charts = await page.evaluate(() => {
    const ids = Array.from(document.querySelectorAll('div.chart')).map((el) => el.id);
    return {
      listed: window.dashboardCharts || [],
      containers: ids,
      info: ids.map((id) => {
        const el = document.getElementById(id);
        const inst = window.echarts && window.echarts.getInstanceByDom(el);
        const canvas = el.querySelector('canvas');
        let painted = 0;
        if (canvas && canvas.width > 0 && canvas.height > 0) {
          const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
        }
        const series = inst ? inst.getOption().series : [];
        const points = series.reduce((s, x) => s + (Array.isArray(x.data) ? x.data.filter((v) => v !== null && v !== undefined).length : 0), 0);
        return { id, instance: !!inst, width: canvas ? canvas.width : 0, height: canvas ? canvas.height : 0, painted, points, series: series.length };
      }),
    };
  });
  ok(charts.containers.length >= 8 && charts.listed.slice().sort().join() === charts.containers.slice().sort().join(),
     `the page lists every chart container (${charts.containers.length})`, `listed ${charts.listed} / containers ${charts.containers}`);
  for (const c of charts.info) {
    ok(c.instance && c.series > 0 && c.points > 0 && c.width > 200 && c.height > 200 && c.painted > 0.02 * c.width * c.height,
       `chart ${c.id} rendered (${c.series} series, ${c.points} data points, ${c.painted} painted pixels of ${c.width}x${c.height})`,
       JSON.stringify(c));
  }

  // the figures on the page equal the SQL ones
  const text = (sel) => page.locator(sel).first().textContent().then((t) => (t || '').trim(), () => null);
  const period = await text('#period');
  ok(period !== null && period.startsWith(expected.period_name), `the period shown is ${expected.period_name}`, period);
  const rate = await text('#kpi-completion-rate');
  ok(rate === expected.completion_rate, `national completion rate by tonnes ${expected.completion_rate}`, rate);
  const unitRate = await text('#kpi-unit-completion-rate');
  ok(unitRate === expected.unit_completion_rate, `national completion rate by units ${expected.unit_completion_rate}`, unitRate);
  const provRate = await text(`#table-province tr[data-province="${expected.province}"] td.rate`);
  ok(provRate === expected.province_rate, `completion rate of ${expected.province_name} (${expected.province}) ${expected.province_rate}`, provRate);
  const provRows = await page.locator('#table-province tbody tr').count();
  ok(provRows === expected.provinces, `one row per province with units (${expected.provinces})`, provRows);
  const close = await text('#kpi-last-close');
  ok(close === expected.last_close, `last close of ${expected.product} ${expected.last_close} CNY/t`, close);
  const closeSub = await text('#kpi-last-close-sub');
  ok(closeSub !== null && closeSub.includes(expected.product) && closeSub.includes(expected.last_close_date),
     `the last close is dated ${expected.last_close_date}`, closeSub);
  const asOf = await text('#as-of');
  ok(asOf !== null && asOf.startsWith(expected.as_of), `data as of ${expected.as_of}`, asOf);

  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`# screenshot: ${screenshot}`);
} finally {
  await browser.close();
}
console.log(`# browser: ${count - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
