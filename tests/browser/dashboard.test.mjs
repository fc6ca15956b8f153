// Headless Chromium check of frugal serve's /dashboard page. Called by run.sh:
//   node dashboard.test.mjs BASE_URL SCREENSHOT_PATH
// Prints "ok NAME" / "FAIL NAME" lines and, last, "RESULT <passed> <failed>"; exits 1 on failures.
import { chromium } from "playwright-core";

const [base, shot] = process.argv.slice(2);
const exe = process.env.CHROMIUM || "/usr/bin/chromium";
let pass = 0, fail = 0;
const ok = (name) => { pass++; console.log(`ok   ${name}`); };
const bad = (name, why) => { fail++; console.log(`FAIL ${name}`); if (why) console.log(`     ${why}`); };
const check = (name, cond, why) => (cond ? ok(name) : bad(name, why));
const BAD_TEXT = /NaN|Infinity|undefined|null|\[object/;

const zeroKpi = {
  window_s: 1, requests: 0, errors: 0, error_ratio: 0, throughput_rps: 0, p50_s: 0, p95_s: 0, p99_s: 0,
  mean_queue_s: 0, mean_compute_s: 0, batches: 0, batch_items: 0, batch_capacity_items: 0, batch_efficiency: 0,
  mean_batch_items: 0, busy_s: 0, busy_share: 0, idle_share: 1, cost_usd: 0, cost_per_1k_usd: 0,
  cache_hits: 0, cache_lookups: 0, cache_hit_ratio: 0,
};

const browser = await chromium.launch({ executablePath: exe, headless: true, args: ["--no-sandbox"] });
try {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await ctx.newPage();
  const consoleErrors = [], pageErrors = [];
  let expectFailedLoads = false;
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (expectFailedLoads && /Failed to load resource/.test(m.text())) return;
    consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));

  // 1. GET / redirects to /dashboard, which loads
  const resp = await page.goto(base + "/", { waitUntil: "load" });
  check("GET / lands on /dashboard", new URL(page.url()).pathname === "/dashboard", `url ${page.url()}`);
  check("dashboard answers 200 text/html", resp && resp.status() === 200 &&
        /^text\/html/.test(resp.headers()["content-type"] || ""), resp && `${resp.status()} ${resp.headers()["content-type"]}`);
  check("title", (await page.title()) === "frugal dashboard", await page.title());

  // 2. live data: the digits_mlp row's charts get lines of at least 2 points
  const row = '.model[data-model="digits_mlp"]';
  try {
    await page.waitForFunction((sel) => {
      const cs = [...document.querySelectorAll(sel + " .chart")];
      return document.body.dataset.ready === "1" && cs.some((c) => +c.dataset.points >= 2);
    }, row, { timeout: 15000, polling: 200 });
    ok("charts show live data (polyline with >= 2 points)");
  } catch (e) {
    bad("charts show live data (polyline with >= 2 points)", String(e).split("\n")[0]);
  }
  check("model row for digits_mlp", (await page.locator(row).count()) === 1);
  const variant = await page.locator(row + ' [data-fact="variant"]').textContent().catch(() => "");
  check("variant shows the version", variant === "v1", `variant '${variant}'`);
  const latPts = await page.locator(row + ' polyline[data-series="p99"]').evaluateAll(
    (ps) => Math.max(0, ...ps.map((p) => p.points.numberOfItems)));
  check("p99 latency line has >= 2 points", latPts >= 2, `max points ${latPts}`);

  // 3. the numbers are formatted and never NaN/Infinity/undefined
  const kpi = async (id) => (await page.locator("#" + id).textContent()) || "";
  const rps = await kpi("k-rps"), p99 = await kpi("k-p99"), cost = await kpi("k-cost"),
        idle = await kpi("k-idle"), cache = await kpi("k-cache");
  console.log(`     header: throughput ${rps} | p99 ${p99} | cost/1k ${cost} | idle ${idle} | cache ${cache}`);
  check("throughput in req/s", /^[0-9.,]+ req\/s$/.test(rps), rps);
  check("p99 in µs/ms/s", /^[0-9.]+ (µs|ms|s)$/.test(p99), p99);
  check("cost per 1k in $", /^\$[0-9.]+$/.test(cost), cost);
  check("idle share in %", /^[0-9.]+%$/.test(idle), idle);
  const err = await kpi("k-err");
  check("errors 0%", err === "0%", err);
  check("cache hit ratio in % (repeated requests hit)", /^[0-9.]+%$/.test(cache) && parseFloat(cache) > 0, cache);
  const text = await page.locator("body").innerText();
  check("no NaN/Infinity/undefined on the page", !BAD_TEXT.test(text), (text.match(BAD_TEXT) || [""])[0]);
  check("footer: window, price, /metrics link", /About these numbers/.test(text) &&
        /last 60 s/.test(text) && (await page.locator('footer a[href="/metrics"]').count()) === 1);

  // a few more seconds of history, so that the screenshot shows lines rather than dots
  await page.waitForFunction((sel) => +(document.querySelector(sel + " .chart") || {dataset: {}}).dataset.points >= 8,
                             row, { timeout: 12000, polling: 250 }).catch(() => {});
  await page.screenshot({ path: shot, fullPage: true });
  ok(`screenshot ${shot}`);

  // 4. /stats failing: banner, last data kept; recovers when /stats answers again
  expectFailedLoads = true;
  await page.route("**/stats", (r) => r.abort("connectionrefused"));
  try {
    await page.waitForSelector("#banner.on", { timeout: 5000 });
    const b = await page.locator("#banner").textContent();
    check("unreachable banner", /Server unreachable/.test(b) && /last data/.test(b), b);
  } catch (e) { bad("unreachable banner", String(e).split("\n")[0]); }
  check("last data kept while unreachable", (await page.locator(row).count()) === 1 &&
        (await kpi("k-rps")) !== "–");
  await page.unroute("**/stats");
  try {
    await page.waitForSelector("#banner:not(.on)", { state: "attached", timeout: 5000 });
    ok("banner clears when /stats answers again");
  } catch (e) { bad("banner clears when /stats answers again", String(e).split("\n")[0]); }
  expectFailedLoads = false;

  // 5. no models and zero traffic (a fresh page fed synthetic /stats): "–", never NaN
  const p2 = await ctx.newPage();
  p2.on("pageerror", (e) => pageErrors.push(String(e)));
  p2.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  let body = { window_s: 60, price_per_hour_usd: 0.5, server: zeroKpi, models: [] };
  await p2.route("**/stats", (r) => r.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(body) }));
  await p2.goto(base + "/dashboard");
  await p2.waitForFunction(() => /No models are loaded/.test(document.getElementById("models").textContent),
                           null, { timeout: 5000 }).then(() => ok("no models: says so"),
                           (e) => bad("no models: says so", String(e).split("\n")[0]));
  const t2 = await p2.locator("body").innerText();
  check("zero traffic: p99 and cost show –", (await p2.locator("#k-p99").textContent()) === "–" &&
        (await p2.locator("#k-cost").textContent()) === "–", t2.slice(0, 200));
  check("zero traffic: no NaN/Infinity/undefined", !BAD_TEXT.test(t2), (t2.match(BAD_TEXT) || [""])[0]);
  body = { window_s: 60, price_per_hour_usd: 0.5,
           server: { ...zeroKpi, requests: 3, throughput_rps: "x", p50_s: 4.2e-4, p95_s: 0.0123, p99_s: 1.5,
                     cost_per_1k_usd: 1.234e-5 },
           models: [{ name: "idle", version: "3", instances: 1, max_batch_size: 0, queue_depth: 0, inflight: 0,
                      kpi: zeroKpi }] };
  await p2.waitForSelector('.model[data-model="idle"]', { timeout: 5000 }).then(
    () => ok("idle model row appears"), (e) => bad("idle model row appears", String(e).split("\n")[0]));
  const t3 = await p2.locator("body").innerText();
  check("idle model: no NaN/Infinity/undefined", !BAD_TEXT.test(t3), (t3.match(BAD_TEXT) || [""])[0]);
  check("non-numeric value shows –", (await p2.locator("#k-rps").textContent()) === "–");
  const f = [await p2.locator("#k-cost").textContent(), await p2.locator("#k-p99").textContent(),
             await p2.locator("#k-p50").textContent()].join(" | ");
  check("formatting: tiny $, s, ms, µs", f === "$0.0000123 | 1.50 s | p50 420 µs · p95 12.3 ms", f);
  await p2.close();

  check("no page errors", pageErrors.length === 0, pageErrors.join(" | "));
  check("no console errors", consoleErrors.length === 0, consoleErrors.join(" | "));
} catch (e) {
  bad("browser test ran", String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(`RESULT ${pass} ${fail}`);
process.exit(fail ? 1 : 0);
