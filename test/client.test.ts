import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { XenStoreClient, XsError } from "../src/client/index.js";
import { startTsxenstored, type RunningDaemon } from "./helpers/daemon.js";

let daemon: RunningDaemon;
before(async () => {
  daemon = await startTsxenstored();
});
after(async () => {
  await daemon.stop();
});

test("read, write, mkdir, rm, list, permissions", async () => {
  const xs = await XenStoreClient.connect(daemon.socket);
  try {
    await xs.write("/c/a", "hello");
    await xs.write("/c/bin", Buffer.from([0, 1, 2, 255]));
    await xs.mkdir("/c/dir");
    assert.equal(await xs.readString("/c/a"), "hello");
    assert.deepEqual([...(await xs.read("/c/bin"))], [0, 1, 2, 255]);
    assert.deepEqual(await xs.list("/c"), ["a", "bin", "dir"]);
    assert.equal(await xs.exists("/c/dir"), true);
    assert.equal(await xs.tryRead("/c/none"), null);
    await xs.setPerms("/c/a", [
      { domid: 0, read: false, write: false },
      { domid: 5, read: true, write: false },
    ]);
    assert.deepEqual(await xs.getPerms("/c/a"), [
      { domid: 0, read: false, write: false },
      { domid: 5, read: true, write: false },
    ]);
    await xs.rm("/c");
    assert.equal(await xs.exists("/c"), false);
    await assert.rejects(xs.read("/c/a"), (e) => e instanceof XsError && e.errno === "ENOENT");
    await assert.rejects(xs.write("/bad//path", "x"), (e) => e instanceof XsError && e.errno === "EINVAL");
    assert.equal(await xs.getDomainPath(7), "/local/domain/7");
    assert.match(await xs.control("help"), /^check/);
  } finally {
    xs.close();
  }
});

test("pipelined requests are matched to their replies by req_id", async () => {
  const xs = await XenStoreClient.connect(daemon.socket);
  try {
    await Promise.all(Array.from({ length: 500 }, (_, i) => xs.write(`/pipe/k${i}`, String(i))));
    const values = await Promise.all(Array.from({ length: 500 }, (_, i) => xs.readString(`/pipe/k${i}`)));
    assert.deepEqual(values, Array.from({ length: 500 }, (_, i) => String(i)));
  } finally {
    xs.close();
  }
});

test("transactions retry on EAGAIN until they commit; counts stay exact", async () => {
  const clients = await Promise.all(Array.from({ length: 6 }, () => XenStoreClient.connect(daemon.socket)));
  try {
    await clients[0]!.write("/counter", "0");
    let attempts = 0;
    await Promise.all(
      clients.map(async (xs) => {
        for (let i = 0; i < 30; i++) {
          await xs.transaction(async (tx) => {
            attempts++;
            const n = Number(await tx.readString("/counter"));
            await tx.write("/counter", String(n + 1));
          });
        }
      }),
    );
    assert.equal(await clients[0]!.readString("/counter"), "180");
    assert.ok(attempts >= 180);
  } finally {
    for (const c of clients) c.close();
  }
});

test("an exception inside a transaction aborts it", async () => {
  const xs = await XenStoreClient.connect(daemon.socket);
  try {
    await assert.rejects(
      xs.transaction(async (tx) => {
        await tx.write("/aborted/x", "1");
        throw new Error("changed my mind");
      }),
      /changed my mind/,
    );
    assert.equal(await xs.exists("/aborted/x"), false);
  } finally {
    xs.close();
  }
});

test("watches are async iterators: the first event at once, then one per change; close unwatches", async () => {
  const xs = await XenStoreClient.connect(daemon.socket);
  const writer = await XenStoreClient.connect(daemon.socket);
  try {
    const w = await xs.watch("/watched");
    assert.deepEqual(await w.next(), { path: "/watched", token: w.token });
    await writer.write("/watched/a", "1");
    await writer.write("/elsewhere", "1");
    await writer.write("/watched/b", "1");
    const seen: string[] = [];
    for await (const ev of w) {
      seen.push(ev.path);
      if (seen.length === 2) break;
    }
    assert.deepEqual(seen, ["/watched/a", "/watched/b"]);
    await w.close();
    await writer.write("/watched/c", "1");
    await xs.readString("/watched/c");
    assert.deepEqual(xs.unclaimedEvents, [], "no events after the watch is closed");
    const depth = await xs.watch("/watched", { depth: 0 });
    assert.equal((await depth.next()).path, "/watched");
    await writer.write("/watched/deeper", "x");
    await writer.write("/watched", "v");
    assert.equal((await depth.next()).path, "/watched", "depth 0: only the node itself");
    await depth.close();
  } finally {
    xs.close();
    writer.close();
  }
});

test("a closed connection rejects pending and later requests", async () => {
  const xs = await XenStoreClient.connect(daemon.socket);
  xs.close();
  await assert.rejects(xs.readString("/"), /closed/);
});
