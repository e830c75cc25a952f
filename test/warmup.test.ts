/**
 * The warm-up before serving (src/daemon/warmup.ts): it runs the request
 * path on a scratch daemon of its own, which the served store never sees.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { XenStoreClient } from "../src/client/index.js";
import { warmUp } from "../src/daemon/warmup.js";
import { startTsxenstored } from "./helpers/daemon.js";
import { waitUntil } from "./helpers/proc.js";

test("warmUp: every guest's creation, negotiation and destruction goes through the scratch daemon", () => {
  const r = warmUp(45);
  assert.equal(r.guests, 45);
  // Per guest, from the toolstack: the transaction's start and end, 5
  // directories x (MKDIR, SET_PERMS), 6 writes, INTRODUCE; from the backend:
  // WATCH, 2 writes, UNWATCH; from the guest: WATCH, READ, DIRECTORY, 2
  // writes, GET_PERMS, UNWATCH. 40 guests live at once: from the 41st on,
  // each new guest's toolstack also reads and writes the oldest one's home
  // (packed by then) and destroys it: RM x 2, RELEASE.
  assert.equal(r.requests, 45 * (2 + 10 + 6 + 1 + 4 + 7) + 5 * (2 + 2 + 1));
  assert.ok(r.ms >= 0);
});

test("warmUp: stops at its time budget", () => {
  const r = warmUp(1_000_000, 30);
  assert.ok(r.guests < 1_000_000);
  assert.ok(r.ms < 5_000, `${r.ms} ms`);
});

test("--warm-up N: the daemon warms up before its sockets accept, and serves an untouched store", async () => {
  const d = await startTsxenstored(["--warm-up", "20", "-V"]);
  try {
    await waitUntil(() => /warmed up: 20 guests, 600 requests on a scratch store in \d+ ms\n(.*\n)*.*ready: socket/.test(d.output()), "the warm-up line, then the ready line");
    // The line comes before the sockets accept.
    const out = d.output();
    assert.ok(out.indexOf("warmed up") < out.indexOf("ready: socket"), out);
    const xs = await XenStoreClient.connect(d.socket);
    try {
      // As a daemon that did not warm up: /tool only, no domain, nothing written yet.
      assert.deepEqual(await xs.list("/"), ["tool"]);
      assert.equal(await xs.exists("/local"), false);
      assert.match(await xs.control("history", "info"), /^retained r0..r0: 0 commits /);
    } finally {
      xs.close();
    }
  } finally {
    await d.stop();
  }
});
