/**
 * Node permissions, SET_TARGET, information hiding, XSA-115 watch-event
 * filtering, special-watch ACLs and privileged-only operations, checked
 * against C xenstored's rules (tools/xenstored/core.c `perm_for_conn`,
 * `errno_from_parents`, `construct_node`, `do_set_perms`; watch.c
 * `watch_permitted`). Guests are in-process domain connections; the C
 * source is the oracle for what an unprivileged caller sees.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { SERVER_FEATURES } from "../src/domains/domains.js";
import { Op } from "../src/protocol/messages.js";
import { harness, type Probe } from "./helpers/inproc.js";

const OK = (op: string): string => `${op} OK\0`;
const ERR = (errno: string): string => `ERROR ${errno}\0`;
const PERMS = (...entries: string[]): string => `GET_PERMS ${entries.map((e) => `${e}\0`).join("")}`;

/** dom0 creates `path` (if needed) and gives it `perms`. */
function mk(d0: Probe, path: string, perms: readonly string[], value?: string): void {
  if (value === undefined) assert.equal(d0.mkdir(path), OK("MKDIR"), `mkdir ${path}`);
  else assert.equal(d0.write(path, value), OK("WRITE"), `write ${path}`);
  assert.equal(d0.setPerms(path, perms), OK("SET_PERMS"), `set_perms ${path}`);
}

test("the owner has full access whatever the owner entry's letter", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/p", ["n5"], "v");
  const g5 = h.domain(5);
  assert.equal(g5.read("/p"), "READ v");
  assert.equal(g5.write("/p", "w"), OK("WRITE"));
  assert.equal(g5.read("/p"), "READ w");
  assert.equal(g5.dir("/p"), "DIRECTORY ");
  assert.equal(g5.perms("/p"), PERMS("n5"));
  assert.equal(g5.mkdir("/p/c"), OK("MKDIR"));
  assert.equal(g5.setPerms("/p", ["n5", "r6"]), OK("SET_PERMS"));
  assert.equal(g5.perms("/p"), PERMS("n5", "r6"));
  assert.equal(g5.rm("/p/c"), OK("RM"));
  // Someone else with no entry gets the owner letter "n": nothing.
  const g7 = h.domain(7);
  assert.equal(g7.read("/p"), ERR("EACCES"));
  assert.equal(g7.write("/p", "x"), ERR("EACCES"));
});

test("the owner entry's letter is the default for every other domain", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/n", ["n0"], "1");
  mk(d0, "/r", ["r0"], "2");
  mk(d0, "/w", ["w0"], "3");
  mk(d0, "/b", ["b0"], "4");
  const g5 = h.domain(5);
  assert.equal(g5.read("/n"), ERR("EACCES"));
  assert.equal(g5.write("/n", "x"), ERR("EACCES"));
  assert.equal(g5.read("/r"), "READ 2");
  assert.equal(g5.write("/r", "x"), ERR("EACCES"));
  assert.equal(g5.read("/w"), ERR("EACCES"));
  assert.equal(g5.write("/w", "x"), OK("WRITE"));
  assert.equal(g5.read("/b"), "READ 4");
  assert.equal(g5.write("/b", "x"), OK("WRITE"));
  assert.equal(d0.read("/w"), "READ x");
  assert.equal(d0.read("/b"), "READ x");
  // Read and write rights never include changing the ACL.
  assert.equal(g5.setPerms("/b", ["b0"]), ERR("EACCES"));
});

test("the first matching entry after the owner's wins", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/rw", ["n0", "r5", "w5"], "a");
  mk(d0, "/wr", ["n0", "w5", "r5"], "b");
  mk(d0, "/override", ["b0", "n5"], "c");
  const g5 = h.domain(5);
  const g6 = h.domain(6);
  assert.equal(g5.read("/rw"), "READ a");
  assert.equal(g5.write("/rw", "x"), ERR("EACCES"));
  assert.equal(g5.read("/wr"), ERR("EACCES"));
  assert.equal(g5.write("/wr", "x"), OK("WRITE"));
  // An explicit entry restricts a domain below the default.
  assert.equal(g5.read("/override"), ERR("EACCES"));
  assert.equal(g6.read("/override"), "READ c");
  assert.equal(g6.read("/rw"), ERR("EACCES"), "not listed: default n");
});

test("dom0 socket clients have all access to nodes they do not own", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/p", ["n5"], "v");
  assert.equal(d0.read("/p"), "READ v");
  assert.equal(d0.write("/p", "d0"), OK("WRITE"));
  assert.equal(d0.setPerms("/p", ["n6", "r5"]), OK("SET_PERMS"), "privileged callers may change the owner");
  assert.equal(d0.perms("/p"), PERMS("n6", "r5"));
  assert.equal(d0.rm("/p"), OK("RM"));
});

test("a -p privileged domain has all access; other guests do not", () => {
  const h = harness({ privDomid: 7 });
  const d0 = h.socket();
  mk(d0, "/p", ["n5"], "v");
  const g7 = h.domain(7);
  assert.equal(g7.read("/p"), "READ v");
  assert.equal(g7.write("/p", "seven"), OK("WRITE"));
  assert.equal(g7.write("/p/c", "child"), OK("WRITE"));
  assert.equal(g7.perms("/p/c"), PERMS("n5"), "a privileged creator keeps the parent's owner");
  assert.equal(g7.setPerms("/p", ["n6"]), OK("SET_PERMS"));
  assert.equal(g7.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 1000\0");
  assert.equal(g7.req(Op.IS_DOMAIN_INTRODUCED, ["5"]), "IS_DOMAIN_INTRODUCED F\0");
  const g8 = h.domain(8);
  assert.equal(g8.read("/p"), ERR("EACCES"));
  assert.equal(g8.req(Op.GET_QUOTA, ["nodes"]), ERR("EACCES"));
  // Without -p, domain 7 is an ordinary guest.
  const h2 = harness();
  mk(h2.socket(), "/p", ["n5"], "v");
  assert.equal(h2.domain(7).read("/p"), ERR("EACCES"));
});

test("a guest's relative paths resolve under /local/domain/<domid>", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/local/domain/5", ["n5"]);
  const g5 = h.domain(5);
  assert.equal(g5.req(Op.GET_DOMAIN_PATH, ["5"]), "GET_DOMAIN_PATH /local/domain/5\0");
  assert.equal(g5.write("foo", "bar"), OK("WRITE"));
  assert.equal(d0.read("/local/domain/5/foo"), "READ bar");
  assert.equal(g5.read("foo"), "READ bar");
  assert.equal(g5.mkdir("dir/sub"), OK("MKDIR"));
  assert.equal(d0.dir("/local/domain/5"), "DIRECTORY foo\0dir\0");
  assert.equal(g5.perms("dir/sub"), PERMS("n5"));
  assert.equal(g5.rm("dir"), OK("RM"));
  assert.equal(d0.read("/local/domain/5/dir"), ERR("ENOENT"));
  // Relative watch: relative event paths.
  assert.equal(g5.watch("foo", "t"), OK("WATCH"));
  assert.deepEqual(g5.events(), [{ path: "foo", token: "t" }]);
  assert.equal(d0.write("/local/domain/5/foo", "z"), OK("WRITE"));
  assert.deepEqual(g5.events(), [{ path: "foo", token: "t" }]);
  // dom0's own relative paths resolve under /local/domain/0.
  assert.equal(d0.write("x", "y"), OK("WRITE"));
  assert.equal(d0.read("/local/domain/0/x"), "READ y");
});

test("a node created by a guest copies the parent's ACL with the guest as owner", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/i", ["r0", "w5", "b6"]);
  const g5 = h.domain(5);
  assert.equal(g5.write("/i/c", "v"), OK("WRITE"));
  assert.equal(d0.perms("/i/c"), PERMS("r5", "w5", "b6"), "entry 0's id replaced, its letter kept");
  // Implicitly created parents get the same ACL.
  assert.equal(g5.write("/i/x/y/z", "v"), OK("WRITE"));
  assert.equal(d0.perms("/i/x"), PERMS("r5", "w5", "b6"));
  assert.equal(d0.perms("/i/x/y"), PERMS("r5", "w5", "b6"));
  assert.equal(d0.perms("/i/x/y/z"), PERMS("r5", "w5", "b6"));
  assert.equal(g5.mkdir("/i/m"), OK("MKDIR"));
  assert.equal(d0.perms("/i/m"), PERMS("r5", "w5", "b6"));
  // The creator owns it now; others get what the copied entries say.
  assert.equal(g5.setPerms("/i/c", ["n5"]), OK("SET_PERMS"));
  assert.equal(h.domain(6).read("/i/x/y/z"), "READ v");
  assert.equal(h.domain(9).read("/i/x/y/z"), "READ v", "default letter r");
  assert.equal(h.domain(9).write("/i/x/y/z", "no"), ERR("EACCES"));
});

test("a node created by a privileged caller keeps the parent's ACL unchanged", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/j", ["n5", "r6"]);
  assert.equal(d0.write("/j/k", "v"), OK("WRITE"));
  assert.equal(d0.perms("/j/k"), PERMS("n5", "r6"));
  assert.equal(d0.mkdir("/j/a/b"), OK("MKDIR"));
  assert.equal(d0.perms("/j/a"), PERMS("n5", "r6"));
  assert.equal(d0.perms("/j/a/b"), PERMS("n5", "r6"));
  assert.equal(d0.write("/top", ""), OK("WRITE"));
  assert.equal(d0.perms("/top"), PERMS("n0"), "the root's ACL");
  // Owned by 5, so 5 may change its ACL.
  assert.equal(h.domain(5).setPerms("/j/k", ["n5"]), OK("SET_PERMS"));
});

test("SET_PERMS needs ownership (or privilege): read/write rights are not enough", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/p", ["n0", "b5"], "v");
  mk(d0, "/q", ["n5"], "v");
  const g5 = h.domain(5);
  const g6 = h.domain(6);
  assert.equal(g5.setPerms("/p", ["n0", "b5"]), ERR("EACCES"));
  assert.equal(g5.setPerms("/p", ["n0", "b5", "r6"]), ERR("EACCES"));
  assert.equal(d0.perms("/p"), PERMS("n0", "b5"));
  assert.equal(g6.setPerms("/q", ["n5", "b6"]), ERR("EACCES"));
  assert.equal(g5.setPerms("/q", ["b5", "r6"]), OK("SET_PERMS"));
  assert.equal(g6.read("/q"), "READ v");
  assert.equal(g6.setPerms("/q", ["n5"]), ERR("EACCES"), "read access does not allow SET_PERMS either");
});

test("an unprivileged owner may not change the owner: EPERM", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/q", ["n5"], "v");
  const g5 = h.domain(5);
  assert.equal(g5.setPerms("/q", ["n6"]), ERR("EPERM"));
  assert.equal(g5.setPerms("/q", ["n0", "b5"]), ERR("EPERM"));
  assert.equal(d0.perms("/q"), PERMS("n5"));
  assert.equal(g5.setPerms("/q", ["r5", "n6"]), OK("SET_PERMS"), "same owner, different letters: fine");
  assert.equal(d0.perms("/q"), PERMS("r5", "n6"));
});

test("more than node-permissions (5) ACL entries from a guest: ENOSPC", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/q", ["n5"], "v");
  const g5 = h.domain(5);
  assert.equal(g5.setPerms("/q", ["n5", "r1", "r2", "r3", "r4", "r6"]), ERR("ENOSPC"));
  assert.equal(d0.perms("/q"), PERMS("n5"));
  assert.equal(g5.setPerms("/q", ["n5", "r1", "r2", "r3", "r4"]), OK("SET_PERMS"), "exactly 5 is allowed");
  assert.equal(d0.perms("/q"), PERMS("n5", "r1", "r2", "r3", "r4"));
  // dom0 is not limited.
  assert.equal(d0.setPerms("/q", ["n5", "r1", "r2", "r3", "r4", "r6", "r7"]), OK("SET_PERMS"));
  assert.equal(d0.perms("/q"), PERMS("n5", "r1", "r2", "r3", "r4", "r6", "r7"));
});

test("SET_TARGET: a device model acts with its target's rights (owner and entries)", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/t", ["n5"], "own");
  mk(d0, "/u", ["n0", "r5"], "listed");
  h.domain(5);
  const g6 = h.domain(6);
  assert.equal(g6.read("/t"), ERR("EACCES"));
  assert.equal(g6.read("/u"), ERR("EACCES"));
  assert.equal(d0.req(Op.SET_TARGET, ["6", "5"]), OK("SET_TARGET"));
  assert.equal(g6.read("/t"), "READ own");
  assert.equal(g6.write("/t", "dm"), OK("WRITE"));
  assert.equal(g6.read("/u"), "READ listed");
  assert.equal(g6.write("/u", "x"), ERR("EACCES"), "the target only has r on /u");
  // Owner rights through the target: may set perms, but not change the owner.
  assert.equal(g6.setPerms("/t", ["n5", "r9"]), OK("SET_PERMS"));
  assert.equal(g6.setPerms("/t", ["n6"]), ERR("EPERM"));
  // What it creates is its own.
  assert.equal(g6.write("/t/c", "v"), OK("WRITE"));
  assert.equal(d0.perms("/t/c"), PERMS("n6", "r9"));
  // The target does not get the device model's rights.
  mk(d0, "/dm", ["n6"], "dmonly");
  assert.equal(h.domain(5).read("/dm"), ERR("EACCES"));
});

test("information hiding: a missing node under an unreadable parent is EACCES, under a readable one ENOENT", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/h", ["n0"]);
  mk(d0, "/h/there", ["b0"], "x");
  mk(d0, "/r", ["r0"]);
  mk(d0, "/r/secret", ["n0"], "s");
  const g5 = h.domain(5);
  assert.equal(g5.read("/h/missing"), ERR("EACCES"));
  assert.equal(g5.read("/h/a/b/c"), ERR("EACCES"), "nearest existing ancestor /h is unreadable");
  assert.equal(g5.read("/h/there"), "READ x", "a readable node under an unreadable parent is still readable");
  assert.equal(g5.read("/r/missing"), ERR("ENOENT"));
  assert.equal(g5.read("/r/a/b/c"), ERR("ENOENT"), "nearest existing ancestor /r is readable");
  assert.equal(g5.read("/r/secret"), ERR("EACCES"));
  assert.equal(g5.read("/nowhere"), ERR("EACCES"), "the root is n0");
  assert.equal(g5.dir("/h/missing"), ERR("EACCES"));
  assert.equal(g5.dir("/r/missing"), ERR("ENOENT"));
  assert.equal(g5.dir("/r"), "DIRECTORY secret\0");
  assert.equal(g5.perms("/h/missing"), ERR("EACCES"));
  assert.equal(g5.perms("/r/missing"), ERR("ENOENT"));
  assert.equal(g5.perms("/r/secret"), ERR("EACCES"));
  // dom0 always learns the truth.
  assert.equal(d0.read("/h/missing"), ERR("ENOENT"));
});

test("WRITE and MKDIR into a directory without write permission: EACCES", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/r", ["r0"]);
  mk(d0, "/w", ["w0"]);
  mk(d0, "/r/exists", ["r0"], "e");
  const g5 = h.domain(5);
  assert.equal(g5.write("/r/new", "v"), ERR("EACCES"));
  assert.equal(g5.mkdir("/r/new"), ERR("EACCES"));
  assert.equal(g5.write("/r/a/b", "v"), ERR("EACCES"));
  assert.equal(g5.mkdir("/r/exists"), ERR("EACCES"), "MKDIR of an existing node needs write access too");
  assert.equal(g5.write("/r/exists", "x"), ERR("EACCES"));
  assert.equal(d0.read("/r/new"), ERR("ENOENT"));
  assert.equal(g5.write("/w/new", "v"), OK("WRITE"));
  assert.equal(g5.write("/w/a/b", "v"), OK("WRITE"));
  assert.equal(g5.mkdir("/w/m"), OK("MKDIR"));
  assert.equal(g5.mkdir("/w/m"), OK("MKDIR"), "already there, and writable: fine");
  assert.equal(d0.perms("/w/a/b"), PERMS("w5"));
  assert.equal(g5.write("/hidden/x", "v"), ERR("EACCES"), "root is n0");
});

test("RM needs write access to the node itself, not to its parent", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/w", ["w0"]);
  mk(d0, "/w/theirs", ["n0"], "t");
  mk(d0, "/r", ["r0"]);
  mk(d0, "/r/writable", ["w0"], "x");
  mk(d0, "/h", ["n0"]);
  const g5 = h.domain(5);
  assert.equal(g5.rm("/w/theirs"), ERR("EACCES"));
  assert.equal(d0.read("/w/theirs"), "READ t");
  assert.equal(g5.rm("/r/writable"), OK("RM"), "the parent is read-only but the node is writable");
  assert.equal(d0.read("/r/writable"), ERR("ENOENT"));
  // Own subtree goes whole, even children it cannot write.
  assert.equal(g5.write("/w/own/c", "v"), OK("WRITE"));
  assert.equal(d0.setPerms("/w/own/c", ["n0"]), OK("SET_PERMS"));
  assert.equal(g5.rm("/w/own"), OK("RM"));
  assert.equal(d0.read("/w/own/c"), ERR("ENOENT"));
  // Already absent: fine if the parent exists and the guest could write there.
  assert.equal(g5.rm("/w/missing"), OK("RM"));
  assert.equal(g5.rm("/w/nope/missing"), ERR("ENOENT"));
  assert.equal(g5.rm("/r/missing"), ERR("EACCES"), "parent readable but not writable");
  assert.equal(g5.rm("/h/missing"), ERR("EACCES"));
  assert.equal(d0.rm("/"), ERR("EINVAL"));
});

test("DOMID_ANY (32757) entries match every domain", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/any", ["n0", "r32757"], "all");
  mk(d0, "/mixed", ["n0", "w5", "r32757"], "m");
  mk(d0, "/none", ["b0", "n32757"], "z");
  assert.equal(d0.perms("/any"), PERMS("n0", "r32757"));
  const g5 = h.domain(5);
  const g9 = h.domain(9);
  assert.equal(g5.read("/any"), "READ all");
  assert.equal(g9.read("/any"), "READ all");
  assert.equal(g9.write("/any", "x"), ERR("EACCES"));
  assert.equal(g5.read("/mixed"), ERR("EACCES"), "w5 comes first for domain 5");
  assert.equal(g5.write("/mixed", "x"), OK("WRITE"));
  assert.equal(g9.read("/mixed"), "READ x");
  assert.equal(g9.read("/none"), ERR("EACCES"), "the DOMID_ANY entry overrides the default letter");
  assert.equal(g9.write("/none", "x"), ERR("EACCES"));
  // It is no domain: it cannot own a node (cx answers ENOENT, as for any domain that does not exist).
  assert.equal(d0.setPerms("/any", ["n32757"]), ERR("ENOENT"));
  assert.equal(d0.setPerms("/any", ["b32757", "r5"]), ERR("ENOENT"));
  assert.equal(d0.perms("/any"), PERMS("n0", "r32757"), "unchanged");
});

test("reserved domids (DOMID_FIRST_RESERVED and above) are never domains, whatever --domains says", () => {
  const h = harness({ domains: "0-40000" });
  const d0 = h.socket();
  d0.write("/r", "v");
  for (const id of ["32752", "32753", "32757", "32767"]) assert.equal(d0.setPerms("/r", [`n${id}`]), ERR("ENOENT"), id);
  assert.equal(d0.setPerms("/r", ["n32751"]), OK("SET_PERMS"));
});

test("after RELEASE a successor with the same domid inherits neither the old nodes nor the old ACL entries", () => {
  // cx RELEASE frees the domain (4.17 xenstored_domain.c:734-747 → destroy_domain
  // → domain_tree_remove: owned nodes deleted, 251-301; entries naming the old
  // domain ignored by generation, domain_adjust_node_perms; latest domain.c:568-631
  // deletes them from every ACL).
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/shared", ["n0", "r5"], "s");
  mk(d0, "/local/domain/5", ["n0", "b5"]);
  const g5 = h.domain(5);
  assert.equal(g5.read("/shared"), "READ s");
  assert.equal(g5.write("mine", "m"), OK("WRITE"));
  assert.equal(d0.req(Op.RELEASE, ["5"]), OK("RELEASE"));
  assert.equal(d0.read("/local/domain/5/mine"), ERR("ENOENT"), "its nodes are deleted");
  const s5 = h.domain(5);
  assert.equal(s5.read("/shared"), ERR("EACCES"));
  assert.equal(s5.read("/local/domain/5"), ERR("EACCES"));
  assert.equal(s5.write("/local/domain/5/x", "x"), ERR("EACCES"));
  // dom0 grants the successor access explicitly.
  assert.equal(d0.setPerms("/shared", ["n0", "r5"]), OK("SET_PERMS"));
  assert.equal(s5.read("/shared"), "READ s");
});

test("XSA-115: a guest watching / only sees events for nodes it (or whose parent it) can read", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/vis", ["r0"]);
  mk(d0, "/hid", ["n0"]);
  mk(d0, "/vis2", ["r0"], "v");
  const g5 = h.domain(5);
  const g6 = h.domain(6);
  assert.equal(g5.watch("/", "t"), OK("WATCH"));
  assert.equal(g6.watch("/hid", "h6"), OK("WATCH"));
  assert.deepEqual(g5.events(), [{ path: "/", token: "t" }]);
  assert.deepEqual(g6.events(), [{ path: "/hid", token: "h6" }]);
  const ev = (path: string) => [{ path, token: "t" }];

  assert.equal(d0.write("/vis/a", "1"), OK("WRITE"));
  assert.deepEqual(g5.events(), ev("/vis/a"), "readable node");
  assert.equal(d0.write("/hid/a", "1"), OK("WRITE"));
  assert.deepEqual(g5.events(), [], "unreadable node, unreadable parent");
  assert.equal(d0.mkdir("/hid/b"), OK("MKDIR"));
  assert.deepEqual(g5.events(), []);
  assert.equal(d0.write("/vis/s", "x"), OK("WRITE"));
  assert.deepEqual(g5.events(), ev("/vis/s"));
  assert.equal(d0.setPerms("/vis/s", ["n0"]), OK("SET_PERMS"));
  assert.deepEqual(g5.events(), ev("/vis/s"), "old perms allowed it");
  assert.equal(d0.write("/vis/s", "y"), OK("WRITE"));
  assert.deepEqual(g5.events(), ev("/vis/s"), "unreadable node, readable parent");
  assert.equal(d0.write("/vis/s/k", "z"), OK("WRITE"));
  assert.deepEqual(g5.events(), [], "only the parent counts, not the grandparent");
  assert.equal(d0.setPerms("/hid/a", ["r0"]), OK("SET_PERMS"));
  assert.deepEqual(g5.events(), ev("/hid/a"), "the new perms allow it");
  assert.equal(d0.write("/hid/a", "2"), OK("WRITE"));
  assert.deepEqual(g5.events(), ev("/hid/a"));
  // Losing access by SET_PERMS still reports that change, but nothing later.
  assert.equal(d0.setPerms("/vis2", ["n0", "r6"]), OK("SET_PERMS"));
  assert.deepEqual(g5.events(), ev("/vis2"));
  assert.equal(d0.write("/vis2", "q"), OK("WRITE"));
  assert.deepEqual(g5.events(), []);
  // Neither old nor new perms allow 5; 6 gains access and is told.
  g6.events();
  assert.equal(d0.setPerms("/hid", ["n0", "r6"]), OK("SET_PERMS"));
  assert.deepEqual(g5.events(), []);
  assert.deepEqual(g6.events(), [{ path: "/hid", token: "h6" }]);
  // Removal: judged by the removed node's perms and its parent's.
  assert.equal(d0.rm("/vis/a"), OK("RM"));
  assert.deepEqual(g5.events(), ev("/vis/a"));
  assert.equal(d0.rm("/hid/b"), OK("RM"));
  assert.deepEqual(g5.events(), []);
  // Transaction commits are filtered the same way.
  const tx = d0.start();
  assert.equal(d0.write("/hid/t", "1", tx), OK("WRITE"));
  assert.equal(d0.write("/vis/t", "1", tx), OK("WRITE"));
  assert.equal(d0.setPerms("/vis/s", ["r0"], tx), OK("SET_PERMS"));
  assert.deepEqual(g5.events(), [], "nothing before the commit");
  assert.equal(d0.end(tx), OK("TRANSACTION_END"));
  assert.deepEqual(g5.events(), [...ev("/vis/t"), ...ev("/vis/s")]);
  // dom0 watchers see everything.
  assert.equal(d0.watch("/hid", "d"), OK("WATCH"));
  d0.events();
  assert.equal(d0.write("/hid/z", "1"), OK("WRITE"));
  assert.deepEqual(d0.events(), [{ path: "/hid/z", token: "d" }]);
});

test("XSA-115 in transactions: a guest losing access by a committed SET_PERMS still gets that event", () => {
  const h = harness();
  const d0 = h.socket();
  mk(d0, "/n", ["r0"], "v");
  const g5 = h.domain(5);
  assert.equal(g5.watch("/n", "t"), OK("WATCH"));
  g5.events();
  const tx = d0.start();
  assert.equal(d0.setPerms("/n", ["n0"], tx), OK("SET_PERMS"));
  assert.equal(d0.end(tx), OK("TRANSACTION_END"));
  assert.deepEqual(g5.events(), [{ path: "/n", token: "t" }]);
  assert.equal(d0.write("/n", "w"), OK("WRITE"));
  assert.deepEqual(g5.events(), []);
});

test("@introduceDomain (n0) is hidden from guests until dom0 grants read on it", () => {
  const h = harness();
  const d0 = h.socket();
  const g5 = h.domain(5);
  assert.equal(d0.watch("@introduceDomain", "di"), OK("WATCH"));
  assert.equal(g5.watch("@introduceDomain", "gi"), OK("WATCH"));
  assert.deepEqual(d0.events(), [{ path: "@introduceDomain", token: "di" }]);
  assert.deepEqual(g5.events(), [{ path: "@introduceDomain", token: "gi" }], "the initial event is always sent");
  assert.equal(d0.perms("@introduceDomain"), PERMS("n0"));
  assert.equal(g5.perms("@introduceDomain"), ERR("EACCES"));
  assert.equal(d0.req(Op.INTRODUCE, ["9", "0", "1"]), OK("INTRODUCE"));
  assert.deepEqual(d0.events(), [{ path: "@introduceDomain", token: "di" }]);
  assert.deepEqual(g5.events(), []);
  assert.equal(g5.setPerms("@introduceDomain", ["n0", "r5"]), ERR("EACCES"));
  assert.equal(d0.setPerms("@introduceDomain", ["n0", "r5"]), OK("SET_PERMS"));
  assert.equal(g5.perms("@introduceDomain"), PERMS("n0", "r5"));
  assert.equal(d0.req(Op.INTRODUCE, ["10", "0", "1"]), OK("INTRODUCE"));
  assert.deepEqual(g5.events(), [{ path: "@introduceDomain", token: "gi" }]);
  assert.equal(h.domain(6).perms("@introduceDomain"), ERR("EACCES"));
});

test("@releaseDomain (n0 r32757) is watchable by every domain until dom0 restricts it", () => {
  const h = harness();
  const d0 = h.socket();
  const g5 = h.domain(5);
  const g6 = h.domain(6);
  assert.equal(d0.perms("@releaseDomain"), PERMS("n0", "r32757"));
  assert.equal(g5.perms("@releaseDomain"), PERMS("n0", "r32757"));
  assert.equal(g5.watch("@releaseDomain", "r5"), OK("WATCH"));
  assert.equal(g6.watch("@releaseDomain", "r6"), OK("WATCH"));
  g5.events();
  g6.events();
  assert.equal(d0.req(Op.INTRODUCE, ["9", "0", "1"]), OK("INTRODUCE"));
  assert.equal(d0.req(Op.INTRODUCE, ["10", "0", "1"]), OK("INTRODUCE"));
  assert.equal(d0.req(Op.RELEASE, ["9"]), OK("RELEASE"));
  assert.deepEqual(g5.events(), [{ path: "@releaseDomain", token: "r5" }]);
  assert.deepEqual(g6.events(), [{ path: "@releaseDomain", token: "r6" }]);
  assert.equal(g5.setPerms("@releaseDomain", ["n0"]), ERR("EACCES"));
  assert.equal(d0.setPerms("@releaseDomain", ["n0", "r6"]), OK("SET_PERMS"));
  assert.equal(d0.req(Op.RELEASE, ["10"]), OK("RELEASE"));
  assert.deepEqual(g5.events(), []);
  assert.deepEqual(g6.events(), [{ path: "@releaseDomain", token: "r6" }]);
  assert.equal(g5.perms("@releaseDomain"), ERR("EACCES"));
});

test("privileged-only operations answer EACCES to guests", () => {
  const h = harness();
  const d0 = h.socket();
  const g5 = h.domain(5);
  h.domain(6);
  const cases: [Op, string[]][] = [
    [Op.CONTROL, ["print", "hello"]],
    [Op.INTRODUCE, ["9", "0", "1"]],
    [Op.RELEASE, ["6"]],
    [Op.IS_DOMAIN_INTRODUCED, ["6"]],
    [Op.RESUME, ["6"]],
    [Op.SET_TARGET, ["5", "6"]],
    [Op.SET_FEATURE, ["9", "0"]],
    [Op.GET_QUOTA, []],
    [Op.GET_QUOTA, ["nodes"]],
    [Op.GET_QUOTA, ["5", "nodes"]],
    [Op.SET_QUOTA, ["nodes", "1"]],
    [Op.SET_QUOTA, ["5", "nodes", "100000"]],
  ];
  for (const [op, args] of cases) assert.equal(g5.req(op, args), ERR("EACCES"), `${Op[op]} ${args.join(" ")}`);
  // Nothing happened.
  assert.equal(d0.req(Op.IS_DOMAIN_INTRODUCED, ["9"]), "IS_DOMAIN_INTRODUCED F\0");
  assert.equal(d0.req(Op.IS_DOMAIN_INTRODUCED, ["6"]), "IS_DOMAIN_INTRODUCED T\0");
  assert.equal(d0.req(Op.GET_QUOTA, ["nodes"]), "GET_QUOTA 1000\0");
  assert.equal(d0.req(Op.GET_QUOTA, ["5", "nodes"]), "GET_QUOTA 1000\0");
});

test("GET_FEATURE: guests may ask for their own features, not another domain's", () => {
  const h = harness();
  const d0 = h.socket();
  const g5 = h.domain(5);
  assert.equal(g5.req(Op.GET_FEATURE, Buffer.alloc(0)), `GET_FEATURE ${SERVER_FEATURES}\0`);
  assert.equal(g5.req(Op.GET_FEATURE, ["5"]), ERR("EACCES"));
  assert.equal(g5.req(Op.GET_FEATURE, ["0"]), ERR("EACCES"));
  assert.equal(d0.req(Op.GET_FEATURE, ["5"]), `GET_FEATURE ${SERVER_FEATURES}\0`);
});

test("an ACL keeps its entries as numbers and gives them back exactly: ids past INT_MAX, ignored entries, the owner's letter", async () => {
  const { Perms, permFor, PERM_ALL, PERM_READ, PERM_WRITE, PERM_NONE } = await import("../src/store/perms.js");
  const entries = [
    { id: 7, perm: PERM_READ, ignored: false },
    { id: 4_000_000_000, perm: PERM_WRITE, ignored: false },
    { id: 9, perm: PERM_READ | PERM_WRITE, ignored: true },
    { id: 9, perm: PERM_READ, ignored: false },
  ];
  const p = Perms.of(entries);
  assert.deepEqual(p.entries, entries);
  assert.equal(p.count, 4);
  assert.equal(p.owner, 7);
  assert.equal(p.ownerPerm, PERM_READ);
  assert.equal(p.ownerIgnored, false);
  assert.equal(p.key, "r7,w4000000000,b9!,r9");
  assert.deepEqual(p.toStrings(), ["r7", "w-294967296", "b9", "r9"]);
  assert.deepEqual(p.referenced, [4_000_000_000, 9]);
  const who = (domid: number) => ({ domid, privileged: false, target: null });
  assert.equal(permFor(who(7), p), PERM_ALL);
  assert.equal(permFor(who(4_000_000_000), p), PERM_WRITE);
  assert.equal(permFor(who(9), p), PERM_READ, "the ignored entry is skipped, the next one matches");
  assert.equal(permFor(who(3), p), PERM_READ, "the owner's letter for everyone else");
  assert.equal(Perms.of([{ id: 5, perm: PERM_NONE, ignored: true }]).ownerIgnored, true);
  assert.equal(Perms.owned(5).count, 1);
  assert.deepEqual(Perms.owned(5).referenced, []);
  assert.equal(Perms.fromKey(p.key), p);
  assert.equal(p.ignoring(4_000_000_000).key, "r7,w4000000000!,b9!,r9");
  assert.equal(p.withoutDomain(7, 0).key, "r0,w4000000000,b9!,r9");
});
