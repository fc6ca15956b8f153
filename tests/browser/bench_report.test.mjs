// Headless Chromium check of frugal bench's HTML report (rendered from fixtures/bench-results.json by
// `frugal bench --report FILE --html OUT`). Called by bench_report.sh:
//   node bench_report.test.mjs REPORT.html SCREENSHOT_PATH
// Prints "ok NAME" / "FAIL NAME" lines and, last, "RESULT <passed> <failed>"; exits 1 on failures.
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [file, shot] = process.argv.slice(2);
const exe = process.env.CHROMIUM || "/usr/bin/chromium";
let pass = 0, fail = 0;
const ok = (name) => { pass++; console.log(`ok   ${name}`); };
const bad = (name, why) => { fail++; console.log(`FAIL ${name}`); if (why) console.log(`     ${why}`); };
const check = (name, cond, why) => (cond ? ok(name) : bad(name, why));
const BAD_TEXT = /NaN|\binf\b|Infinity|undefined|\bnull\b|\[object/i;

const browser = await chromium.launch({ executablePath: exe, headless: true, args: ["--no-sandbox"] });
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const url = pathToFileURL(file).href;
  const consoleErrors = [], pageErrors = [], failed = [], others = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("requestfailed", (r) => failed.push(`${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on("request", (r) => { if (r.url() !== url) others.push(r.url()); });

  const resp = await page.goto(url, { waitUntil: "load" });
  check("report opens", resp !== null && resp.ok(), resp && String(resp.status()));
  check("title names the model", (await page.title()) === "frugal bench: digits_mlp", await page.title());

  // header
  const meta = (await page.locator("#meta").innerText()) || "";
  check("header: target, model, mode, date, client CPU",
        /http:\/\/127\.0\.0\.1:8000/.test(meta) && /digits_mlp/.test(meta) && /open loop/.test(meta) &&
        /2026-11-29T01:02:03Z/.test(meta) && /31\.0% of 4 CPUs/.test(meta), meta.replace(/\s+/g, " "));
  check("header: overall result FAILED (one threshold failed)", /Result\s+FAILED/.test(meta));

  // tables: one row per stage
  const stageRows = await page.locator("#stages tr.stage").count();
  check("stage table has 3 rows", stageRows === 3, `rows ${stageRows}`);
  const names = await page.locator("#stages tr.stage td:nth-child(2)").allInnerTexts();
  check("stage names in order", names.join("|") === "step 500/s|step 1000/s|step 2000/s", names.join("|"));
  check("latency table has 3 rows", (await page.locator("#latency tr.stage").count()) === 3);
  check("server table has 3 rows", (await page.locator("#server tr.stage").count()) === 3);
  const p99 = await page.locator('#latency tr.stage[data-stage="2"] td:nth-child(6)').innerText();
  check("stage 2 corrected p99 shown with its unit", /^1\.90\sms$/.test(p99), p99);
  const cost = await page.locator('#server tr.stage[data-stage="0"] td:last-child').innerText();
  check("cost per 1k in $ without an exponent", /^\$0\.0000[0-9]+$/.test(cost), cost);

  // thresholds
  const thr = page.locator("#thresholds tr.threshold");
  check("thresholds: 3 rows", (await thr.count()) === 3, String(await thr.count()));
  const verdicts = await page.locator("#thresholds tr.threshold td:last-child").allInnerTexts();
  check("thresholds: pass, FAIL, pass", verdicts.join(",") === "pass,FAIL,pass", verdicts.join(","));
  check("thresholds: expressions shown", /p99<20ms/.test(await page.locator("#thresholds").innerText()));

  // charts: every one has data and is laid out
  const charts = await page.locator("svg.chart").evaluateAll((cs) => cs.map((c) => ({
    kind: c.dataset.kind, points: +c.dataset.points, title: (c.querySelector("title") || {}).textContent,
    w: c.getBoundingClientRect().width, h: c.getBoundingClientRect().height,
    marks: c.querySelectorAll("polyline, rect.bar, rect.col").length,
  })));
  check("5 charts", charts.length === 5, charts.map((c) => c.title).join(" | "));
  for (const c of charts)
    check(`chart "${c.title}" has data-points > 0 and is drawn`, c.points > 0 && c.marks > 0 && c.w > 100 && c.h > 50,
          JSON.stringify(c));
  const byTitle = (re) => charts.find((c) => re.test(c.title || "")) || { points: 0 };
  check("latency vs load: 3 stages x 4 percentiles", byTitle(/vs load/).points === 12, String(byTitle(/vs load/).points));
  check("p99 over time: 30 s x 3 series", byTitle(/p99 latency over time/).points === 90);
  check("batch sizes: 5 buckets", byTitle(/Batch sizes/).points === 5);
  check("cache hit ratio: 3 stages", byTitle(/Cache hit/).points === 3);
  const lines = await page.locator("svg.chart polyline").evaluateAll((ps) => ps.map((p) => p.points.numberOfItems));
  check("every line has points", lines.length > 0 && lines.every((n) => n > 0), lines.join(","));
  check("no 'no data' notes", (await page.locator(".nodata").count()) === 0);

  const text = await page.locator("body").innerText();
  check("no NaN/inf/undefined/null on the page", !BAD_TEXT.test(text), (text.match(BAD_TEXT) || [""])[0]);
  check("no scripts", (await page.locator("script").count()) === 0);

  await page.screenshot({ path: shot, fullPage: true });
  ok(`screenshot ${shot}`);

  check("no page errors", pageErrors.length === 0, pageErrors.join(" | "));
  check("no console errors", consoleErrors.length === 0, consoleErrors.join(" | "));
  check("no failed requests", failed.length === 0, failed.join(" | "));
  check("no requests beyond the file itself", others.length === 0, others.join(" | "));
} catch (e) {
  bad("browser test ran", String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(`RESULT ${pass} ${fail}`);
process.exit(fail ? 1 : 0);
