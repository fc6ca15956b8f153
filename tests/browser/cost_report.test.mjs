// Headless Chromium check of a `frugal cost --html` report. Called by cost_report.sh:
//   node cost_report.test.mjs REPORT_FILE SCREENSHOT_PATH
// Prints "ok NAME" / "FAIL NAME" lines and, last, "RESULT <passed> <failed>"; exits 1 on failures.
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [file, shot] = process.argv.slice(2);
const exe = process.env.CHROMIUM || "/usr/bin/chromium";
let pass = 0, fail = 0;
const ok = (name) => { pass++; console.log(`ok   ${name}`); };
const bad = (name, why) => { fail++; console.log(`FAIL ${name}`); if (why) console.log(`     ${why}`); };
const check = (name, cond, why) => (cond ? ok(name) : bad(name, why));

const browser = await chromium.launch({ executablePath: exe, headless: true, args: ["--no-sandbox"] });
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const consoleErrors = [], requests = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("request", (r) => { if (!r.url().startsWith("file:")) requests.push(r.url()); });
  await page.goto(pathToFileURL(file).href, { waitUntil: "load" });

  check("title", (await page.title()) === "frugal cost report", await page.title());
  const charts = await page.locator("svg.chart").evaluateAll((cs) => cs.map((c) => ({
    kind: c.dataset.kind, points: +c.dataset.points,
    marks: c.querySelectorAll("rect.bar, rect.col, polyline.series").length,
    w: c.getBoundingClientRect().width, h: c.getBoundingClientRect().height,
  })));
  check("three charts (drivers, buckets, cost over time)", charts.length === 3, JSON.stringify(charts));
  check("every chart has data points and visible marks",
        charts.length > 0 && charts.every((c) => c.points > 0 && c.marks > 0 && c.w > 100 && c.h > 50),
        JSON.stringify(charts));
  const days = charts.find((c) => c.kind === "columns");
  check("cost over time has one column per day (30)", days && days.points === 30, JSON.stringify(days));
  // the widest bar of the drivers chart is the first (largest) driver
  const bars = await page.locator("svg.chart[data-kind=bars] >> nth=0").locator("rect.bar").evaluateAll(
    (rs) => rs.map((r) => +r.getAttribute("width")));
  check("largest driver drawn longest", bars.length >= 3 && bars[0] === Math.max(...bars), JSON.stringify(bars));
  const recs = await page.locator("tr.rec").count();
  check("seven recommendation rows (every kind)", recs === 7, `rows ${recs}`);
  const text = await page.locator("body").innerText();
  check("no NaN / inf / undefined in the text", !/NaN|\binf\b|undefined/.test(text));
  check("cost per 1k section", /Cost per 1k requests/.test(text));
  check("no console errors", consoleErrors.length === 0, consoleErrors.join(" | "));
  check("nothing loaded from outside the file", requests.length === 0, requests.join(" "));
  await page.screenshot({ path: shot, fullPage: true });
  ok(`screenshot ${shot}`);
} catch (e) {
  bad("report opens", String(e).split("\n")[0]);
} finally {
  await browser.close();
}
console.log(`RESULT ${pass} ${fail}`);
process.exit(fail ? 1 : 0);
