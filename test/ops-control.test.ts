/**
 * CONTROL (xenstore-control) with C xenstored 4.17's command set and output
 * formats (checked against the real daemon), GET_QUOTA/SET_QUOTA (Xen 4.22),
 * and the read-only socket.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Op } from "../src/protocol/messages.js";
import type { ControlHooks } from "../src/server/services.js";
import { harness, type Probe } from "./helpers/inproc.js";

function control(p: Probe, ...args: string[]): string {
  return p.req(Op.CONTROL, args);
}

/** Control hooks that record what they were asked to do. */
function recordingHooks(memReportResult = true): { hooks: ControlHooks; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    hooks: {
      logOn: () => void calls.push("logOn"),
      logOff: () => void calls.push("logOff"),
      setLogFile: (f) => void calls.push(`setLogFile ${f}`),
      memReport: (f) => {
        calls.push(`memReport ${f}`);
        return memReportResult;
      },
    },
  };
}

const HELP =
  "check\t\n" +
  "log\ton|off\n" +
  "live-update\t[-c <cmdline>] [-F] [-t <timeout>] <file>\n    Default timeout is 60 seconds.\n" +
  "logfile\t<file>\n" +
  "memreport\t[<file>]\n" +
  "print\t<string>\n" +
  "quota\t[set <name> <val>|<domid>]\n" +
  "quota-soft\t[set <name> <val>]\n" +
  "help\t\n";

function quotaText(nodes = 1000, permissions = 5): string {
  return (
    "Quota settings:\n" +
    `nodes            : ${String(nodes).padStart(8)} Nodes per domain\n` +
    "watches          :      128 Watches per domain\n" +
    "transactions     :       10 Transactions per domain\n" +
    "outstanding      :       20 Outstanding requests per domain\n" +
    "transaction-nodes:     1024 Max. number of accessed nodes per transaction\n" +
    "memory           :  2621440 Total Xenstore memory per domain (error level)\n" +
    "node-size        :     2048 Max. size of a node\n" +
    "path-max         :     2048 Max. length of a node path\n" +
    `permissions      : ${String(permissions).padStart(8)} Max. number of permissions per node\n`
  );
}

function domainText(domid: number, nodes: number, memory: number, watches = 0, transactions = 0): string {
  return (
    `Domain ${domid}:\n` +
    `nodes           : ${String(nodes).padStart(8)}\n` +
    `watches         : ${String(watches).padStart(8)}\n` +
    `transactions    : ${String(transactions).padStart(8)}\n` +
    "outstanding     :        0\n" +
    `memory          : ${String(memory).padStart(8)}\n`
  );
}

// ---------------------------------------------------------------- CONTROL

test("CONTROL help lists the 4.17 commands in cx's format", () => {
  const c = harness().socket();
  assert.equal(control(c, "help"), `CONTROL ${HELP}\0`);
  assert.equal(control(c, "help", "x"), "ERROR EINVAL\0");
});

test("CONTROL check answers OK; with an argument EINVAL", () => {
  const c = harness().socket();
  assert.equal(control(c, "check"), "CONTROL OK\0");
  assert.equal(control(c, "check", "x"), "ERROR EINVAL\0");
});

test("CONTROL check repairs ownership tallies that disagree with the tree, including ones for absent domains", () => {
  const h = harness();
  const c = h.socket();
  c.write("/owned", "x");
  c.setPerms("/owned", ["n5"]);
  const { owned, refs, bytes } = h.x.store.tallies;
  const good = { owned: new Map(owned), refs: new Map(refs), bytes: new Map(bytes) };
  assert.equal(h.x.store.ownedBy(5), 1);
  for (const corrupt of [new Map([...good.owned, [7, 1]]), new Map([...good.owned, [5, 2]]), new Map([...good.owned].filter(([d]) => d !== 5))]) {
    h.x.store.tallies.reset({ ...good, owned: corrupt });
    assert.equal(h.x.store.tallies.check(h.x.store.root), false);
    assert.deepEqual(new Map(h.x.store.tallies.owned), good.owned, "repaired");
    assert.equal(h.x.store.tallies.check(h.x.store.root), true);
  }
  h.x.store.tallies.reset({ ...good, refs: new Map([[9, 1]]) });
  assert.equal(h.x.store.tallies.check(h.x.store.root), false, "a reference tally for a domain no ACL names");
  h.x.store.tallies.reset({ ...good, bytes: new Map([...good.bytes, [5, 1]]) });
  assert.equal(h.x.store.tallies.check(h.x.store.root), false, "a memory tally off by one byte");
  assert.deepEqual(new Map(h.x.store.tallies.bytes), good.bytes, "repaired");
  assert.equal(control(c, "check"), "CONTROL OK\0");
});

test("CONTROL quota shows the hard quotas in cx's format", () => {
  const c = harness().socket();
  assert.equal(control(c, "quota"), `CONTROL ${quotaText()}\0`);
});

test("CONTROL quota-soft shows the soft quotas (memory only)", () => {
  const c = harness().socket();
  assert.equal(control(c, "quota-soft"), "CONTROL Quota settings:\nmemory           :  2097152 Total Xenstore memory per domain (warning level)\n\0");
  assert.equal(control(c, "quota-soft", "x"), "ERROR EINVAL\0");
});

test("CONTROL quota set <name> <val> changes a hard quota; the value is parsed with atoi", () => {
  const c = harness().socket();
  assert.equal(control(c, "quota", "set", "nodes", "50"), "CONTROL OK\0");
  assert.equal(control(c, "quota"), `CONTROL ${quotaText(50)}\0`);
  assert.equal(control(c, "quota", "set", "nodes", "7abc"), "CONTROL OK\0");
  assert.equal(control(c, "quota"), `CONTROL ${quotaText(7)}\0`);
  assert.equal(c.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 7\0");
});

test("CONTROL quota set uses cx 4.17's names: 'permissions', not 'node-permissions'", () => {
  const c = harness().socket();
  assert.equal(control(c, "quota", "set", "permissions", "7"), "CONTROL OK\0");
  assert.equal(control(c, "quota"), `CONTROL ${quotaText(1000, 7)}\0`);
  assert.equal(control(c, "quota", "set", "node-permissions", "7"), "ERROR EINVAL\0");
});

test("CONTROL quota set errors: value below 1, unknown name, wrong argument count", () => {
  const c = harness().socket();
  for (const args of [
    ["set", "nodes", "0"],
    ["set", "nodes", "-5"],
    ["set", "nodes", "abc"],
    ["set", "bogus", "5"],
    ["set", "nodes"],
    ["set"],
    ["set", "nodes", "5", "x"],
  ]) {
    assert.equal(control(c, "quota", ...args), "ERROR EINVAL\0", JSON.stringify(args));
  }
  assert.equal(control(c, "quota"), `CONTROL ${quotaText()}\0`, "unchanged");
});

test("CONTROL quota-soft set changes the soft memory quota; other names EINVAL", () => {
  const c = harness().socket();
  assert.equal(control(c, "quota-soft", "set", "memory", "100"), "CONTROL OK\0");
  assert.equal(control(c, "quota-soft"), "CONTROL Quota settings:\nmemory           :      100 Total Xenstore memory per domain (warning level)\n\0");
  assert.equal(control(c, "quota-soft", "set", "nodes", "100"), "ERROR EINVAL\0");
  assert.equal(control(c, "quota-soft", "set", "memory"), "ERROR EINVAL\0");
  assert.equal(control(c, "quota-soft", "set"), "ERROR EINVAL\0");
  assert.equal(c.req(Op.GET_QUOTA, ["soft-memory"]), "GET_QUOTA 100\0");
});

test("CONTROL quota <domid> shows a domain's usage in cx's format (dom0 of a fresh store)", () => {
  const c = harness().socket();
  // 3 nodes; memory = records (24 + 8 per perm + value + child list) + path lengths.
  assert.equal(control(c, "quota", "0"), `CONTROL ${domainText(0, 3, 132)}\0`);
  c.write("/a", "hello");
  assert.equal(control(c, "quota", "0"), `CONTROL ${domainText(0, 4, 173)}\0`);
  c.write("/a/bb/c", "");
  assert.equal(control(c, "quota", "0"), `CONTROL ${domainText(0, 6, 254)}\0`);
  c.setPerms("/a", ["n0", "r5"]);
  assert.equal(control(c, "quota", "0"), `CONTROL ${domainText(0, 6, 262)}\0`);
  // A socket client's watch is charged to dom0's memory (path + token), not counted as a domain watch.
  c.req(Op.WATCH, ["/a", "tok"]);
  assert.equal(control(c, "quota", "0"), `CONTROL ${domainText(0, 6, 267)}\0`);
});

test("CONTROL quota <domid> of an introduced guest and of a domain owning nodes", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  c.req(Op.INTRODUCE, ["5", "0", "1"]);
  assert.equal(control(c, "quota", "5"), `CONTROL ${domainText(5, 0, 0)}\0`);
  c.write("/local/domain/5/x", "hello");
  c.setPerms("/local/domain/5/x", ["n5"]);
  // 24 + 8 + 5 bytes of record, 17 of path.
  assert.equal(control(c, "quota", "5"), `CONTROL ${domainText(5, 1, 54)}\0`);
  c.write("/p", "v");
  c.setPerms("/p", ["n9"]);
  assert.equal(control(c, "quota", "9"), `CONTROL ${domainText(9, 1, 35)}\0`);
});

test("CONTROL quota <domid> of a domain only named in an ACL shows zero usage; after RELEASE it is ENOENT", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  c.write("/p", "v");
  c.setPerms("/p", ["n0", "r6"]);
  assert.equal(control(c, "quota", "6"), `CONTROL ${domainText(6, 0, 0)}\0`);
  c.req(Op.INTRODUCE, ["5", "0", "1"]);
  c.write("/local/domain/5/x", "hello");
  c.setPerms("/local/domain/5/x", ["n5"]);
  assert.equal(c.req(Op.RELEASE, ["5"]), "RELEASE OK\0");
  assert.equal(control(c, "quota", "5"), "ERROR ENOENT\0");
});

test("CONTROL quota <domid> of an unknown domain is ENOENT; the domid is parsed with atoi", () => {
  const c = harness({ domains: "0-1023" }).socket();
  assert.equal(control(c, "quota", "5"), "ERROR ENOENT\0");
  assert.equal(control(c, "quota", "500"), "ERROR ENOENT\0");
  assert.equal(control(c, "quota", "-1"), "ERROR ENOENT\0");
  assert.equal(control(c, "quota", "abc"), `CONTROL ${domainText(0, 3, 132)}\0`);
  assert.equal(control(c, "quota", "0x"), `CONTROL ${domainText(0, 3, 132)}\0`);
  assert.equal(control(c, "quota", "005"), "ERROR ENOENT\0");
  assert.equal(control(c, "quota", "0", "1"), "ERROR EINVAL\0");
});

test("CONTROL log on|off switches tracing through the daemon's hooks", () => {
  const { hooks, calls } = recordingHooks();
  const c = harness({ control: hooks }).socket();
  assert.equal(control(c, "log", "on"), "CONTROL OK\0");
  assert.equal(control(c, "log", "off"), "CONTROL OK\0");
  assert.deepEqual(calls, ["logOn", "logOff"]);
  for (const args of [["maybe"], [], ["+io"], ["on", "x"]]) assert.equal(control(c, "log", ...args), "ERROR EINVAL\0", JSON.stringify(args));
  assert.deepEqual(calls, ["logOn", "logOff"]);
});

test("CONTROL logfile <file> sets the trace file; no or two arguments EINVAL", () => {
  const { hooks, calls } = recordingHooks();
  const c = harness({ control: hooks }).socket();
  assert.equal(control(c, "logfile", "/tmp/trace.log"), "CONTROL OK\0");
  assert.deepEqual(calls, ["setLogFile /tmp/trace.log"]);
  assert.equal(control(c, "logfile"), "ERROR EINVAL\0");
  assert.equal(control(c, "logfile", "a", "b"), "ERROR EINVAL\0");
  assert.deepEqual(calls, ["setLogFile /tmp/trace.log"]);
});

test("CONTROL memreport [<file>] writes a report through the hooks", () => {
  const { hooks, calls } = recordingHooks();
  const c = harness({ control: hooks }).socket();
  assert.equal(control(c, "memreport"), "CONTROL OK\0");
  assert.equal(control(c, "memreport", "/tmp/mem.txt"), "CONTROL OK\0");
  assert.deepEqual(calls, ["memReport null", "memReport /tmp/mem.txt"]);
  assert.equal(control(c, "memreport", "a", "b"), "ERROR EINVAL\0");
});

test("CONTROL memreport with nowhere to write (no trace file) is EINVAL (cx EBADF)", () => {
  const c = harness().socket();
  assert.equal(control(c, "memreport"), "ERROR EINVAL\0");
  const { hooks } = recordingHooks(false);
  const d = harness({ control: hooks }).socket();
  assert.equal(control(d, "memreport", "/nonexistent-dir/x"), "ERROR EINVAL\0");
});

test("CONTROL print <string> logs the string; no or two arguments EINVAL", () => {
  const lines: string[] = [];
  const c = harness({ log: (l: string) => void lines.push(l) }).socket();
  assert.equal(control(c, "print", "hello"), "CONTROL OK\0");
  assert.ok(lines.some((l) => l.includes("hello")), `logged: ${JSON.stringify(lines)}`);
  assert.equal(control(c, "print"), "ERROR EINVAL\0");
  assert.equal(control(c, "print", "a", "b"), "ERROR EINVAL\0");
});

test("CONTROL with an unknown command, no command or no NUL is EINVAL", () => {
  const c = harness().socket();
  assert.equal(control(c, "nosuch"), "ERROR EINVAL\0");
  assert.equal(control(c, "HELP"), "ERROR EINVAL\0");
  assert.equal(control(c, "toString"), "ERROR EINVAL\0", "not an object property lookup");
  assert.equal(c.req(Op.CONTROL, "help"), "ERROR EINVAL\0", "no NUL");
  assert.equal(c.req(Op.CONTROL, ""), "ERROR EINVAL\0");
  assert.equal(c.req(Op.CONTROL, "\0"), "ERROR EINVAL\0");
});

// ---------------------------------------------------------------- GET_QUOTA / SET_QUOTA

test("GET_QUOTA without arguments lists the quota names, soft ones with the soft- prefix", () => {
  const c = harness().socket();
  assert.equal(
    c.req(Op.GET_QUOTA, ""),
    "GET_QUOTA nodes watches outstanding memory soft-memory transactions transaction-nodes node-permissions path-max node-size\0",
  );
});

test("GET_QUOTA <name> answers the global value", () => {
  const c = harness().socket();
  const expected: [string, string][] = [
    ["nodes", "1000"],
    ["watches", "128"],
    ["outstanding", "20"],
    ["memory", "2621440"],
    ["soft-memory", "2097152"],
    ["transactions", "10"],
    ["transaction-nodes", "1024"],
    ["node-permissions", "5"],
    ["path-max", "2048"],
    ["node-size", "2048"],
  ];
  for (const [name, value] of expected) assert.equal(c.req(Op.GET_QUOTA, [name]), `GET_QUOTA ${value}\0`, name);
});

test("GET_QUOTA of an unknown name, or of a soft quota that does not exist, is EINVAL", () => {
  const c = harness().socket();
  for (const name of ["bogus", "soft-nodes", "permissions", "soft-", "", "NODES"]) {
    assert.equal(c.req(Op.GET_QUOTA, [name]), "ERROR EINVAL\0", JSON.stringify(name));
  }
  assert.equal(c.req(Op.GET_QUOTA, ["5", "nodes", "x"]), "ERROR EINVAL\0", "three arguments");
});

test("SET_QUOTA <name> <value> changes the global value; 0 means no limit", () => {
  const c = harness().socket();
  assert.equal(c.req(Op.SET_QUOTA, ["nodes", "500"]), "SET_QUOTA OK\0");
  assert.equal(c.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 500\0");
  assert.equal(c.req(Op.SET_QUOTA, ["soft-memory", "100"]), "SET_QUOTA OK\0");
  assert.equal(c.req(Op.GET_QUOTA, ["soft-memory"]), "GET_QUOTA 100\0");
  assert.equal(c.req(Op.SET_QUOTA, ["watches", "0"]), "SET_QUOTA OK\0");
  assert.equal(c.req(Op.GET_QUOTA, ["watches"]), "GET_QUOTA 0\0");
  assert.equal(control(c, "quota"), `CONTROL ${quotaText(500).replace("     128 Watches", "       0 Watches")}\0`);
});

test("SET_QUOTA <domid> <name> <value> changes one domain's value only", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  assert.equal(c.req(Op.SET_QUOTA, ["5", "nodes", "7"]), "SET_QUOTA OK\0");
  assert.equal(c.req(Op.GET_QUOTA, ["5", "nodes"]), "GET_QUOTA 7\0");
  assert.equal(c.req(Op.GET_QUOTA, ["6", "nodes"]), "GET_QUOTA 1000\0");
  assert.equal(c.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 1000\0");
});

test("a per-domain SET_QUOTA binds that guest", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  assert.equal(c.req(Op.SET_QUOTA, ["5", "watches", "1"]), "SET_QUOTA OK\0");
  const g5 = h.domain(5);
  const g6 = h.domain(6);
  assert.equal(g5.req(Op.WATCH, ["/a", "1"]), "WATCH OK\0");
  assert.equal(g5.req(Op.WATCH, ["/a", "2"]), "ERROR ENOSPC\0");
  assert.equal(g6.req(Op.WATCH, ["/a", "1"]), "WATCH OK\0");
  assert.equal(g6.req(Op.WATCH, ["/a", "2"]), "WATCH OK\0");
});

test("SET_QUOTA errors: wrong argument count, unknown name, value -1 (UINT_MAX, 'disabled')", () => {
  const c = harness({ domains: "0-1023" }).socket();
  for (const args of [["nodes"], [], ["5", "nodes", "1", "x"], ["bogus", "5"], ["soft-nodes", "5"], ["nodes", "-1"], ["5", "nodes", "-1"]]) {
    assert.equal(c.req(Op.SET_QUOTA, args), "ERROR EINVAL\0", JSON.stringify(args));
  }
  assert.equal(c.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 1000\0", "unchanged");
});

test("GET_QUOTA/SET_QUOTA domids follow parse_domid: decimal, nothing after, at most 65535; unknown domain ENOENT", () => {
  const c = harness({ domains: "0-1023" }).socket();
  for (const bad of ["abc", "5x", "-1", "65536", "0x5"]) {
    assert.equal(c.req(Op.GET_QUOTA, [bad, "nodes"]), "ERROR EINVAL\0", bad);
    assert.equal(c.req(Op.SET_QUOTA, [bad, "nodes", "5"]), "ERROR EINVAL\0", bad);
  }
  assert.equal(c.req(Op.GET_QUOTA, ["2000", "nodes"]), "ERROR ENOENT\0");
  assert.equal(c.req(Op.SET_QUOTA, ["2000", "nodes", "5"]), "ERROR ENOENT\0");
  assert.equal(c.req(Op.GET_QUOTA, ["0", "nodes"]), "GET_QUOTA 1000\0");
  assert.equal(c.req(Op.GET_QUOTA, ["", "nodes"]), "GET_QUOTA 1000\0", "empty string is domid 0 for strtoul");
  assert.equal(c.req(Op.GET_QUOTA, ["007", "nodes"]), "GET_QUOTA 1000\0", "decimal, leading zeros");
});

// ---------------------------------------------------------------- read-only socket

test("the read-only socket may read: READ, DIRECTORY, DIRECTORY_PART, GET_PERMS, GET_DOMAIN_PATH", () => {
  const h = harness();
  const rw = h.socket();
  const ro = h.socket(true);
  rw.write("/r/a", "v");
  assert.equal(ro.read("/r/a"), "READ v");
  assert.equal(ro.dir("/r"), "DIRECTORY a\0");
  assert.match(ro.req(Op.DIRECTORY_PART, ["/r", "0"]), /^DIRECTORY_PART \d+\0a\0\0$/);
  assert.equal(ro.perms("/r/a"), "GET_PERMS n0\0");
  assert.equal(ro.req(Op.GET_DOMAIN_PATH, ["3"]), "GET_DOMAIN_PATH /local/domain/3\0");
  assert.equal(ro.read("/nope"), "ERROR ENOENT\0");
});

test("the read-only socket may watch: WATCH, events, UNWATCH, RESET_WATCHES", () => {
  const h = harness();
  const rw = h.socket();
  const ro = h.socket(true);
  assert.equal(ro.watch("/w", "t"), "WATCH OK\0");
  assert.deepEqual(ro.events(), [{ path: "/w", token: "t" }]);
  rw.write("/w/x", "v");
  assert.deepEqual(ro.events(), [{ path: "/w/x", token: "t" }]);
  assert.equal(ro.unwatch("/w", "t"), "UNWATCH OK\0");
  assert.equal(ro.watch("/w", "t2"), "WATCH OK\0");
  assert.equal(ro.req(Op.RESET_WATCHES, ""), "RESET_WATCHES OK\0");
  ro.events();
  rw.write("/w/y", "v");
  assert.deepEqual(ro.events(), []);
});

test("the read-only socket may use transactions for reading", () => {
  const h = harness();
  const rw = h.socket();
  const ro = h.socket(true);
  rw.write("/t", "v");
  const tx = ro.start();
  assert.equal(ro.read("/t", tx), "READ v");
  assert.equal(ro.write("/t", "x", tx), "ERROR EACCES\0");
  assert.equal(ro.end(tx), "TRANSACTION_END OK\0");
  assert.equal(rw.read("/t"), "READ v");
});

test("the read-only socket may ask privileged questions that change nothing", () => {
  const h = harness({ domains: "0-1023" });
  const ro = h.socket(true);
  assert.equal(ro.req(Op.IS_DOMAIN_INTRODUCED, ["0"]), "IS_DOMAIN_INTRODUCED T\0");
  assert.equal(ro.req(Op.GET_FEATURE, ""), "GET_FEATURE 15\0");
  assert.equal(ro.req(Op.GET_FEATURE, ["5"]), "GET_FEATURE 15\0");
  assert.equal(ro.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 1000\0");
  assert.equal(control(ro, "check"), "CONTROL OK\0");
  assert.equal(control(ro, "help"), `CONTROL ${HELP}\0`);
  assert.equal(control(ro, "quota"), `CONTROL ${quotaText()}\0`);
  assert.equal(control(ro, "quota-soft").startsWith("CONTROL Quota settings:\n"), true);
  assert.equal(control(ro, "quota", "0"), `CONTROL ${domainText(0, 3, 132)}\0`);
});

test("the read-only socket gets EACCES for every modifying request, and nothing changes", () => {
  const h = harness({ domains: "0-1023" });
  const rw = h.socket();
  const ro = h.socket(true);
  const w = h.socket();
  rw.write("/x", "v");
  rw.req(Op.INTRODUCE, ["7", "0", "1"]);
  w.watch("/", "all");
  w.watch("@introduceDomain", "i");
  w.watch("@releaseDomain", "r");
  w.events();
  const cases: [Op, string[] | string][] = [
    [Op.WRITE, "/x\0new"],
    [Op.WRITE, "/y\0new"],
    [Op.WRITE, "garbage"],
    [Op.MKDIR, ["/m"]],
    [Op.RM, ["/x"]],
    [Op.SET_PERMS, ["/x", "n0", "r5"]],
    [Op.INTRODUCE, ["5", "0", "1"]],
    [Op.RELEASE, ["7"]],
    [Op.RESUME, ["7"]],
    [Op.SET_TARGET, ["7", "0"]],
    [Op.SET_FEATURE, ["5", "4"]],
    [Op.SET_QUOTA, ["nodes", "5"]],
    [Op.SET_QUOTA, ["5", "nodes", "5"]],
  ];
  for (const [op, args] of cases) assert.equal(ro.req(op, args), "ERROR EACCES\0", `${Op[op]} ${JSON.stringify(args)}`);
  assert.equal(rw.read("/x"), "READ v");
  assert.equal(rw.read("/y"), "ERROR ENOENT\0");
  assert.equal(rw.read("/m"), "ERROR ENOENT\0");
  assert.equal(rw.perms("/x"), "GET_PERMS n0\0");
  assert.equal(rw.req(Op.IS_DOMAIN_INTRODUCED, ["5"]), "IS_DOMAIN_INTRODUCED F\0");
  assert.equal(rw.req(Op.IS_DOMAIN_INTRODUCED, ["7"]), "IS_DOMAIN_INTRODUCED T\0");
  assert.equal(rw.req(Op.GET_FEATURE, ["5"]), "GET_FEATURE 15\0");
  assert.equal(rw.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 1000\0");
  assert.equal(rw.req(Op.GET_QUOTA, ["5", "nodes"]), "GET_QUOTA 1000\0");
  assert.deepEqual(w.events(), []);
});

test("the read-only socket gets EACCES for CONTROL commands that change the daemon", () => {
  const { hooks, calls } = recordingHooks();
  const lines: string[] = [];
  const h = harness({ control: hooks, log: (l: string) => void lines.push(l) });
  const ro = h.socket(true);
  for (const args of [["log", "on"], ["logfile", "/tmp/x"], ["memreport"], ["print", "hi"], ["quota", "set", "nodes", "5"], ["quota-soft", "set", "memory", "5"]]) {
    assert.equal(control(ro, ...args), "ERROR EACCES\0", JSON.stringify(args));
  }
  assert.deepEqual(calls, []);
  assert.equal(lines.some((l) => l.includes("hi")), false);
  assert.equal(control(ro, "quota"), `CONTROL ${quotaText()}\0`);
});
