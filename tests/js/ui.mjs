// The web pages in a real browser (Debian's chromium, driven by playwright-core): one
// sub-command per scenario of ../ui.rs. Each prints one JSON object on stdout (what it saw;
// the Rust test asserts it) and its progress on stderr. Every wait is bounded.
//
//   node ui.mjs together --url http://127.0.0.1:PORT --token-a T1 --token-b T2 --doc ID [--shots DIR]
//   node ui.mjs offline-edit --local http://127.0.0.1:PORT --doc ID --text TEXT
//   node ui.mjs wait-text --url URL --token T --doc ID --text TEXT
//   node ui.mjs programme --url URL --token T [--shots DIR]
//   node ui.mjs public --url URL --token T --doc ID [--shots DIR]
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const WAIT_MS = 20_000;
const started = Date.now();
const log = (...args) => console.error(`[${Date.now() - started} ms]`, ...args);

function options(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) out[argv[i].slice(2)] = argv[i + 1], i++;
  }
  return out;
}

// Playwright starts chromium on a fresh, empty profile directory of its own each time (it
// refuses --user-data-dir); the other flags are those this machine's closed network needs.
async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

async function signIn(browser, url, token) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (error) => log("page error:", error.message));
  await page.goto(url + "/");
  await page.fill('input[name="token"]', token);
  await Promise.all([page.waitForURL(url + "/"), page.click('form.sign-in button[type="submit"]')]);
  await page.waitForSelector("#documents");
  return page;
}

const minutes = (page) => page.locator('textarea[data-field$=".minutes"]').first();

async function waitFor(what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) { log("gave up waiting for", what); return false; }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function together(o) {
  const browser = await launch();
  const shots = o.shots;
  if (shots) mkdirSync(shots, { recursive: true });
  try {
    const a = await signIn(browser, o.url, o["token-a"]);
    const b = await signIn(browser, o.url, o["token-b"]);
    if (shots) await a.screenshot({ path: join(shots, "dashboard.png"), fullPage: true });
    // A conflict (two people set the status offline) is resolved with one click.
    const conflictsBefore = await a.locator("li.conflict").count();
    if (conflictsBefore > 0) await a.locator('li.conflict button.resolve[data-value="confirmed"]').first().click();
    const conflictResolved = await waitFor("the conflict is gone from the dashboard", async () =>
      (await a.locator("li.conflict").count()) === 0);
    log("conflicts before:", conflictsBefore, "resolved:", conflictResolved);
    const docUrl = `${o.url}/doc/${o.doc}`;
    await a.goto(docUrl);
    await b.goto(docUrl);
    log("both on the mission page");

    // A adds an agenda item; B sees it without reloading.
    await a.fill('form[data-insert="agenda"] input[name="title"]', "Visite de la régie");
    await a.fill('form[data-insert="agenda"] input[name="place"]', "Oujda");
    await a.click('form[data-insert="agenda"] button');
    const bSawAgenda = await waitFor("B sees A's agenda item", async () =>
      (await b.locator('input[data-field^="agenda["][data-field$=".title"]').count()) > 0);
    log("B saw the agenda item:", bSawAgenda);

    // B adds a meeting; A sees it.
    await b.fill('form[data-insert="meetings"] input[name="title"]', "Réunion à la régie");
    await b.click('form[data-insert="meetings"] button');
    const aSawMeeting = await waitFor("A sees B's meeting", async () => (await minutes(a).count()) > 0);
    await waitFor("B sees its meeting", async () => (await minutes(b).count()) > 0);
    log("A saw the meeting:", aSawMeeting);

    // Both type in the same minutes at once, from the same version of the page.
    await Promise.all([
      minutes(a).fill("Claire : budget validé."),
      minutes(b).fill("Youssef : visite du chantier."),
    ]);
    log("both typed");
    const both = (text) => text.includes("Claire : budget validé.") && text.includes("Youssef : visite du chantier.");
    const aBoth = await waitFor("A sees both", async () => both(await minutes(a).inputValue()));
    const bBoth = await waitFor("B sees both", async () => both(await minutes(b).inputValue()));
    await a.locator("body").click({ position: { x: 5, y: 5 } });
    if (shots) await a.screenshot({ path: join(shots, "mission.png"), fullPage: true });

    // B switches to Arabic: the page is laid out right to left.
    await b.click('a[lang="ar"]');
    await waitFor("B's page in Arabic", async () => {
      try {
        return await b.evaluate(() => document.documentElement.lang === "ar" && !!document.querySelector("#agenda h2"));
      } catch (_) {
        return false; // navigating
      }
    });
    const arabic = await b.evaluate(() => ({
      dir: document.documentElement.dir,
      lang: document.documentElement.lang,
      direction: getComputedStyle(document.querySelector("main")).direction,
      agendaHeading: document.querySelector("#agenda h2").textContent,
    }));
    if (shots) await b.screenshot({ path: join(shots, "mission-ar.png"), fullPage: true });
    // English too, then back to French for the sign-in screenshot.
    if (shots) {
      const fresh = await browser.newContext({ viewport: { width: 1100, height: 600 } });
      const p = await fresh.newPage();
      await p.goto(o.url + "/");
      await p.screenshot({ path: join(shots, "sign-in.png") });
      await fresh.close();
    }

    return {
      conflictsBefore, conflictResolved, bSawAgenda, aSawMeeting, aBoth, bBoth,
      minutesA: await minutes(a).inputValue(),
      minutesB: await minutes(b).inputValue(),
      syncBadge: await a.locator("#sync-state").textContent(),
      arabic,
    };
  } finally {
    await browser.close();
  }
}

// The local UI (`passerelle ui`): types in the mission's purpose while the server is away.
async function offlineEdit(o) {
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    page.on("pageerror", (error) => log("page error:", error.message));
    await page.goto(`${o.local}/doc/${o.doc}`);
    const purpose = page.locator('textarea[data-field="purpose"]');
    await purpose.fill(o.text);
    await purpose.blur();
    const saved = await waitFor("the edit is saved locally", async () =>
      (await page.locator("#status").textContent()) === (await page.locator("body").getAttribute("data-saved")));
    const badge = await waitFor("the badge counts the change", async () =>
      Number(await page.locator("#sync-state").getAttribute("data-unsynced")) > 0);
    if (o.shots) await page.screenshot({ path: join(o.shots, "local-offline.png"), fullPage: true });
    return {
      saved,
      badgeCounts: badge,
      state: await page.locator("#sync-state").getAttribute("data-state"),
      badge: await page.locator("#sync-state").textContent(),
    };
  } finally {
    await browser.close();
  }
}

// A page of the server shows `text` in the mission's purpose, live (no reload).
async function waitText(o) {
  const browser = await launch();
  try {
    const page = await signIn(browser, o.url, o.token);
    await page.goto(`${o.url}/doc/${o.doc}`);
    const purpose = page.locator('textarea[data-field="purpose"]');
    const seen = await waitFor("the server page shows the text", async () =>
      (await purpose.inputValue()).includes(o.text));
    return { seen, purpose: await purpose.inputValue() };
  } finally {
    await browser.close();
  }
}

// The programme's pages: projects (an indicator's value changed, its progress follows), the
// journal (an entry added), the actor directory (a search that filters), calls, news.
async function programme(o) {
  const browser = await launch();
  const shots = o.shots;
  if (shots) mkdirSync(shots, { recursive: true });
  try {
    const page = await signIn(browser, o.url, o.token);
    const text = async (selector) => (await page.locator(selector).allTextContents()).map((t) => t.trim());

    // Projects: the list, then the project's page from its link.
    await page.click('header nav a[href="/projects"]');
    await page.waitForSelector("#projects, p.none");
    const projectRows = await page.locator("tr.project").count();
    await page.click("tr.project a");
    await page.waitForSelector("#logframe");
    const partners = await text("li.partner");
    const indicator = page.locator("tr.indicator").first();
    const progressBefore = (await indicator.locator(".pct").textContent()).trim();
    const noTarget = await text(".no-target");
    const headings = await text("#budget-headings tr");
    const status = (await page.locator("#project-status").textContent()).trim();
    // The indicator's current value, changed in the page: its progress follows.
    await indicator.locator('input[name="value"]').fill("30");
    await indicator.locator("button").click();
    const progressChanged = await waitFor("the progress follows the new value", async () =>
      (await page.locator("tr.indicator .pct").first().textContent()).trim() === "75 %");
    const currentAfter = (await page.locator("tr.indicator .current").first().textContent()).trim();
    const progressAfter = (await page.locator("tr.indicator .pct").first().textContent()).trim();
    if (shots) await page.screenshot({ path: join(shots, "project.png"), fullPage: true });

    // The journal: an entry added in the page appears, newest first.
    await page.click('header nav a[href="/journal"]');
    await page.waitForSelector("form.entry");
    const entriesBefore = await page.locator("li.entry").count();
    await page.fill('form.entry textarea[name="body"]', "Réunion avec la commune sur le PAED.");
    await page.fill('form.entry input[name="place"]', "Oujda");
    await page.click("form.entry button");
    const entryAdded = await waitFor("the new entry is listed", async () =>
      (await page.locator("li.entry").count()) === entriesBefore + 1);
    const firstEntry = (await page.locator("li.entry").first().locator("textarea, p.body").first()
      .evaluate((el) => (el.value !== undefined ? el.value : el.textContent))).trim();

    // The actor directory: everything, then a search (no accent, other case) that filters.
    await page.click('header nav a[href="/actors"]');
    await page.waitForSelector("#actors");
    const actorsAll = await page.locator("li.actor").count();
    await page.fill('form.search input[name="q"]', "UNIVERSITE oujda");
    await Promise.all([page.waitForURL(/\/actors\?q=/), page.press('form.search input[name="q"]', "Enter")]);
    await page.waitForSelector("#actors");
    const actorsFound = await text("li.actor a");
    if (shots) await page.screenshot({ path: join(shots, "actors-search.png"), fullPage: true });

    // Calls by deadline, closed ones apart.
    await page.click('header nav a[href="/calls"]');
    await page.waitForSelector("#open-calls");
    const openCalls = await text("#open-calls li.call");
    const closedCalls = await text("#closed-calls li.call");

    // News: the Arabic item is laid out right to left inside a French page.
    await page.click('header nav a[href="/news"]');
    await page.waitForSelector("#news");
    const news = await page.evaluate(() => [...document.querySelectorAll("li.news")].map((li) => ({
      title: li.querySelector("a.title").textContent, dir: li.getAttribute("dir"),
      direction: getComputedStyle(li).direction, link: li.querySelector("a.link").href,
    })));
    return {
      projectRows, partners, progressBefore, progressChanged, progressAfter, currentAfter, noTarget,
      headings, status, entriesBefore, entryAdded, firstEntry, actorsAll, actorsFound, openCalls,
      closedCalls, news,
    };
  } finally {
    await browser.close();
  }
}

// The public page in a signed-out browser, before and after a signed-in one ticks the
// mission's "publish" checkbox; then the mission's history page.
async function publicPage(o) {
  const browser = await launch();
  try {
    const visitor = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
    visitor.on("pageerror", (error) => log("page error:", error.message));
    await visitor.goto(`${o.url}/public`);
    const before = await visitor.locator("main").textContent();
    const signInShown = await visitor.locator('input[name="token"]').count();
    const cookiesBefore = (await visitor.context().cookies()).length;

    const page = await signIn(browser, o.url, o.token);
    await page.goto(`${o.url}/doc/${o.doc}`);
    const checkedBefore = await page.locator("#public").isChecked();
    await page.locator("#public").check();
    const saved = await waitFor("the publish checkbox is saved", async () =>
      (await page.locator("#status").getAttribute("data-kind")) === "saved");
    log("published:", saved);

    let after = "";
    const shown = await waitFor("the visitor sees the mission", async () => {
      await visitor.goto(`${o.url}/public`);
      after = await visitor.locator("main").textContent();
      return after.includes(o.title);
    });
    if (o.shots) await visitor.screenshot({ path: join(o.shots, "public.png"), fullPage: true });
    await page.goto(`${o.url}/doc/${o.doc}/history`);
    const rows = await page.locator("#history tbody tr").count();
    const firstWho = await page.locator("#history tbody tr td.who").first().textContent();
    return {
      before, after, shown, saved, checkedBefore, signInShown, cookiesBefore,
      visitorSignOut: await visitor.locator("form.sign-out").count(),
      historyRows: rows, firstWho,
    };
  } finally {
    await browser.close();
  }
}

const [command, ...rest] = process.argv.slice(2);
const o = options(rest);
const scenarios = { together, "offline-edit": offlineEdit, "wait-text": waitText, programme, public: publicPage };
if (!scenarios[command]) {
  console.error(`unknown scenario ${command}; one of ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
const timer = setTimeout(() => { log("deadline: giving up"); process.exit(3); }, 90_000);
try {
  const result = await scenarios[command](o);
  result.elapsedMs = Date.now() - started;
  console.log(JSON.stringify(result));
  clearTimeout(timer);
} catch (error) {
  log(error.stack || String(error));
  process.exit(1);
}
