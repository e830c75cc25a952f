/**
 * The inspector page in a real browser: Debian's Chromium, headless,
 * driven by playwright-core, against the real daemon started with
 * --inspect. Each view shows the expected data: the tree (expand, select,
 * value and ACL), the domains table (an introduced domain), the live feed
 * (a write and the watch event it fired), the history (a commit's diff).
 *
 * Skipped, saying why, where /usr/bin/chromium is not installed (CI
 * installs it). TSXS_SCREENSHOTS=1 also saves each view to
 * docs/inspector/*.png (the README shows them):
 *
 *   npm run build && TSXS_SCREENSHOTS=1 node scripts/run-tests.mjs inspect-browser
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { XenStoreClient } from "../src/client/index.js";
import { ROOT } from "./helpers/daemon.js";
import { FeedReader, startInspected } from "./helpers/inspect.js";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = process.env.TSXS_SCREENSHOTS ? join(ROOT, "docs/inspector") : null;
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium): the inspector page is not checked in a browser`;

const UUID = "6f1c2a9e-3b7d-4c55-9e0a-1d2b3c4d5e6f";

/** What a toolstack writes for a guest with one network card and one disk (as libxl lays it out). */
async function populate(xs: XenStoreClient): Promise<void> {
  await xs.introduce(3, 1234, 5);
  const home = "/local/domain/3";
  const vif = `${home}/device/vif/0`;
  const backend = "/local/domain/0/backend/vif/3/0";
  await xs.transaction(async (tx) => {
    const w = (p: string, v: string): Promise<void> => tx.write(p, v);
    await w(`/vm/${UUID}/name`, "web-01");
    await w(`/vm/${UUID}/uuid`, UUID);
    await w(`/vm/${UUID}/image/ostype`, "linux");
    await w(`${home}/name`, "web-01");
    await w(`${home}/domid`, "3");
    await w(`${home}/vm`, `/vm/${UUID}`);
    await w(`${home}/memory/target`, "524288");
    await w(`${home}/control/shutdown`, "");
    await w(`${vif}/backend`, backend);
    await w(`${vif}/backend-id`, "0");
    await w(`${vif}/mac`, "00:16:3e:5a:10:03");
    await w(`${vif}/state`, "4");
    await w(`${backend}/frontend`, vif);
    await w(`${backend}/frontend-id`, "3");
    await w(`${backend}/mac`, "00:16:3e:5a:10:03");
    await w(`${backend}/state`, "4");
  });
  await xs.setPerms(home, ["n0", "r3"]);
  await xs.setPerms(`${home}/name`, ["n0", "r3"]);
  // Two more guests, smaller.
  for (const [domid, name] of [
    [4, "db-01"],
    [5, "build-07"],
  ] as const) {
    await xs.introduce(domid, 2000 + domid, 5);
    for (const [p, v] of [
      [`/local/domain/${domid}/name`, name],
      [`/local/domain/${domid}/data/ready`, "1"],
    ]) {
      await xs.write(p, v);
      await xs.setPerms(p, [`n${domid}`, "r0"]);
    }
  }
  for (const p of [`${home}/device`, `${home}/device/vif`, vif, `${vif}/backend`, `${vif}/backend-id`, `${vif}/mac`, `${vif}/state`, `${home}/control/shutdown`]) {
    await xs.setPerms(p, ["n3", "r0"]);
  }
}

const squash = (s: string | null): string => (s ?? "").replace(/\s+/g, " ").trim();

/** Each row's cells' text, whitespace squashed. */
async function rows(page: Page, selector: string): Promise<string[][]> {
  const cells = await page.$$eval(selector, (trs) => trs.map((tr) => [...tr.querySelectorAll("th, td")].map((c) => c.textContent ?? "")));
  return cells.map((r) => r.map(squash));
}

/** The diff panel's entries: kind, path, before, after. */
async function diffEntries(page: Page): Promise<string[][]> {
  const entries = await page.$$eval("[data-testid=diff-panel] li.diff", (lis) =>
    lis.map((li) => [".badge", ".path", ".before", ".after"].map((sel) => li.querySelector(sel)?.textContent ?? "")),
  );
  return entries.map((e) => e.map(squash));
}

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

test("the inspector page in Chromium: tree, domains, live feed and history views show the daemon's state", { skip, timeout: 120_000 }, async () => {
  const { daemon, url, where } = await startInspected("127.0.0.1:0");
  const xs = await XenStoreClient.connect(daemon.socket);
  const toolstack = await XenStoreClient.connect(daemon.socket);
  let browser: Browser | null = null;
  try {
    await populate(xs);
    const watch = await toolstack.watch("/local/domain/3/device", { token: "vif-watch" });
    await watch.next();

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);
    await page.getByTestId("status").filter({ hasText: "live" }).waitFor();

    // Tree: expand down to the guest's home, select its name.
    for (const p of ["/local", "/local/domain", "/local/domain/3", "/local/domain/3/device", "/local/domain/3/device/vif", "/local/domain/3/device/vif/0"]) {
      await page.getByRole("button", { name: `expand ${p}`, exact: true }).click();
    }
    await page.locator('li[data-path="/local/domain/3/name"] > .row > button.name').click();
    await page.getByTestId("node-panel").locator("h2", { hasText: "/local/domain/3/name" }).waitFor();
    await page.getByTestId("node-value").filter({ hasText: "web-01" }).waitFor();
    assert.equal(squash(await page.getByTestId("node-value").textContent()), "web-01 6 bytes");
    assert.deepEqual(await rows(page, "[data-testid=node-perms] tr"), [
      ["owner", "domain 0"],
      ["others", "none"],
      ["domain 3", "read"],
    ]);
    const listed = await page.$$eval('li[data-path="/local/domain/3/device/vif/0"] > ul > li', (lis) => lis.map((li) => li.getAttribute("data-path")));
    assert.deepEqual(listed, ["/local/domain/3/device/vif/0/backend", "/local/domain/3/device/vif/0/backend-id", "/local/domain/3/device/vif/0/mac", "/local/domain/3/device/vif/0/state"]);
    await shot(page, "tree");

    // Domains: the introduced guest with its usage against its quotas.
    await page.getByRole("tab", { name: "Domains" }).click();
    await page.locator('tr[data-domid="3"]').waitFor();
    const quota = await xs.control("quota", "3");
    const memory = Number(/^memory +: +(\d+)$/m.exec(quota)![1]);
    assert.ok(memory < 1024);
    assert.deepEqual(await rows(page, 'tr[data-domid="3"]'), [["3", "introduced", "8 / 1000", "0 / 128", "0 / 10", "0 / 20", `${memory} B / 2.5 MiB`, "0"]]);
    assert.deepEqual((await rows(page, "[data-testid=domains-table] tbody tr")).map((r) => r[0]), ["0", "3", "4", "5"]);
    assert.deepEqual((await rows(page, 'tr[data-domid="0"]'))[0]!.slice(0, 2), ["0", "introduced, control"]);
    await shot(page, "domains");

    // Live feed: a write appears with the watch event it fired, as the feed sent them.
    await page.getByRole("tab", { name: "Live feed" }).click();
    const feed = await FeedReader.open(where);
    await feed.take(1);
    await xs.write("/local/domain/3/device/vif/0/state", "5");
    const [commit, event] = await feed.take(2);
    feed.close();
    const c = commit!.data as { revision: number; conn: number };
    const w = event!.data as { conn: number };
    const feedRows = page.locator("[data-testid=feed-table] tbody tr");
    await feedRows.nth(1).waitFor();
    const [watchRow, commitRow] = await rows(page, "[data-testid=feed-table] tbody tr");
    assert.deepEqual(commitRow!.slice(1), [`r${c.revision} WRITE`, `domain 0, conn ${c.conn}`, "/local/domain/3/device/vif/0/state"]);
    assert.deepEqual(watchRow!.slice(1), ["watch event", `conn ${w.conn} (socket of domain 0)`, "/local/domain/3/device/vif/0/state token vif-watch"]);
    // A few more changes for the picture.
    await xs.write("/local/domain/0/backend/vif/3/0/state", "5");
    await xs.write("/local/domain/3/device/vif/0/state", "6");
    await xs.write("/local/domain/0/backend/vif/3/0/state", "6");
    await feedRows.nth(5).waitFor();
    await shot(page, "feed");

    // History: the commit's diff.
    await page.getByRole("tab", { name: "History" }).click();
    await page.locator(`button[data-revision="${c.revision}"]`).click();
    const diff = page.getByTestId("diff-panel");
    await diff.locator("h2", { hasText: `r${c.revision - 1} → r${c.revision}` }).waitFor();
    await diff.locator("li.diff").first().waitFor();
    assert.deepEqual(await diffEntries(page), [["changed", "/local/domain/3/device/vif/0/state", "−4 n3 r0", "+5 n3 r0"]]);
    // Any two revisions compared.
    await page.getByLabel("from r").fill(String(c.revision - 1));
    await page.getByLabel("to r").fill(String(c.revision + 3));
    await page.getByRole("button", { name: "Compare" }).click();
    await diff.locator("h2", { hasText: `r${c.revision - 1} → r${c.revision + 3}` }).waitFor();
    await diff.locator("li.diff").nth(1).waitFor();
    assert.deepEqual(await diffEntries(page), [
      ["changed", "/local/domain/0/backend/vif/3/0/state", "−4 n0", "+6 n0"],
      ["changed", "/local/domain/3/device/vif/0/state", "−4 n3 r0", "+6 n3 r0"],
    ]);
    await shot(page, "history");
    assert.deepEqual(errors, []);
    await watch.close();
  } finally {
    await browser?.close();
    toolstack.close();
    xs.close();
    await daemon.stop();
  }
});
