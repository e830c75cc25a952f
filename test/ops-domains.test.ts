/**
 * Domain management ops: INTRODUCE, RELEASE, IS_DOMAIN_INTRODUCED, RESUME,
 * SET_TARGET, GET_DOMAIN_PATH, GET_FEATURE/SET_FEATURE, and the privilege
 * check of the control-domain-only ops. Expectations are C xenstored 4.17's
 * (checked against the real daemon with the domain list 0-1023), plus Xen
 * 4.22 for GET/SET_FEATURE.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Op } from "../src/protocol/messages.js";
import { harness, type Probe } from "./helpers/inproc.js";

function ev(p: Probe): string[] {
  return p.events().map((e) => `${e.path}|${e.token}`);
}

function introduce(p: Probe, domid: string, port = "1"): string {
  return p.req(Op.INTRODUCE, [domid, "0", port]);
}

function introduced(p: Probe, domid: string): string {
  return p.req(Op.IS_DOMAIN_INTRODUCED, [domid]);
}

// ---------------------------------------------------------------- INTRODUCE

test("INTRODUCE <domid> <gfn> <port> answers OK and the domain is introduced", () => {
  const c = harness({ domains: "0-1023" }).socket();
  assert.equal(introduced(c, "5"), "IS_DOMAIN_INTRODUCED F\0");
  assert.equal(introduce(c, "5"), "INTRODUCE OK\0");
  assert.equal(introduced(c, "5"), "IS_DOMAIN_INTRODUCED T\0");
});

test("INTRODUCE needs three NUL-terminated arguments; more are ignored", () => {
  const c = harness({ domains: "0-1023" }).socket();
  assert.equal(c.req(Op.INTRODUCE, ["5", "0"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.INTRODUCE, "5\x000\x001"), "ERROR EINVAL\0", "port lacking its NUL");
  assert.equal(c.req(Op.INTRODUCE, ""), "ERROR EINVAL\0");
  assert.equal(introduced(c, "5"), "IS_DOMAIN_INTRODUCED F\0");
  assert.equal(c.req(Op.INTRODUCE, ["7", "0", "1", "extra"]), "INTRODUCE OK\0");
  assert.equal(introduced(c, "7"), "IS_DOMAIN_INTRODUCED T\0");
});

test("INTRODUCE with event channel port 0 is EINVAL", () => {
  const c = harness({ domains: "0-1023" }).socket();
  assert.equal(introduce(c, "6", "0"), "ERROR EINVAL\0");
  assert.equal(introduce(c, "6", "abc"), "ERROR EINVAL\0", "atoi(abc) = 0");
  assert.equal(introduced(c, "6"), "IS_DOMAIN_INTRODUCED F\0");
});

test("INTRODUCE of a domain the hypervisor does not know is EINVAL", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  const w = h.socket();
  w.req(Op.WATCH, ["@introduceDomain", "I"]);
  ev(w);
  assert.equal(introduce(c, "2000"), "ERROR EINVAL\0");
  assert.equal(introduced(c, "2000"), "IS_DOMAIN_INTRODUCED F\0");
  assert.deepEqual(ev(w), []);
});

test("INTRODUCE fires @introduceDomain; a second INTRODUCE of the same domain is OK and fires nothing", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  const w = h.socket();
  w.req(Op.WATCH, ["@introduceDomain", "I"]);
  ev(w);
  assert.equal(introduce(c, "5"), "INTRODUCE OK\0");
  assert.deepEqual(ev(w), ["@introduceDomain|I"]);
  assert.equal(introduce(c, "5", "2"), "INTRODUCE OK\0");
  assert.deepEqual(ev(w), []);
});

test("INTRODUCE parses the domid with atoi: 'abc' and '0' are dom0 (OK, no event), '8x' is domain 8", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  const w = h.socket();
  w.req(Op.WATCH, ["@introduceDomain", "I"]);
  ev(w);
  assert.equal(introduce(c, "0"), "INTRODUCE OK\0");
  assert.equal(introduce(c, "abc"), "INTRODUCE OK\0");
  assert.deepEqual(ev(w), []);
  assert.equal(introduce(c, "8x"), "INTRODUCE OK\0");
  assert.deepEqual(ev(w), ["@introduceDomain|I"]);
  assert.equal(introduced(c, "8"), "IS_DOMAIN_INTRODUCED T\0");
});

test("re-INTRODUCE resets the domain's connection: its watches are gone", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  c.mkdir("/local/domain/5");
  c.setPerms("/local/domain/5", ["n5"]);
  const g = h.domain(5);
  assert.equal(g.req(Op.WATCH, ["/local/domain/5", "g"]), "WATCH OK\0");
  ev(g);
  assert.equal(introduce(c, "5"), "INTRODUCE OK\0");
  c.write("/local/domain/5/x", "v");
  assert.deepEqual(ev(g), []);
  assert.equal(g.req(Op.WATCH, ["/local/domain/5", "g"]), "WATCH OK\0", "no EEXIST: the old watch is gone");
});

// ---------------------------------------------------------------- RELEASE

test("RELEASE of dom0 is EINVAL; of a domain never introduced ENOENT", () => {
  const c = harness({ domains: "0-1023" }).socket();
  assert.equal(c.req(Op.RELEASE, ["0"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.RELEASE, ["abc"]), "ERROR EINVAL\0", "atoi(abc) = dom0");
  assert.equal(c.req(Op.RELEASE, ["6"]), "ERROR ENOENT\0");
  assert.equal(c.req(Op.RELEASE, ["2000"]), "ERROR ENOENT\0");
  assert.equal(c.req(Op.RELEASE, "5"), "ERROR EINVAL\0", "no NUL");
  assert.equal(c.req(Op.RELEASE, ["5", "6"]), "ERROR EINVAL\0", "two arguments");
});

test("RELEASE ends the introduction: IS_DOMAIN_INTRODUCED F, a second RELEASE or RESUME ENOENT", () => {
  const c = harness({ domains: "0-1023" }).socket();
  introduce(c, "5");
  assert.equal(c.req(Op.RELEASE, ["5"]), "RELEASE OK\0");
  assert.equal(introduced(c, "5"), "IS_DOMAIN_INTRODUCED F\0");
  assert.equal(c.req(Op.RELEASE, ["5"]), "ERROR ENOENT\0");
  assert.equal(c.req(Op.RESUME, ["5"]), "ERROR ENOENT\0");
  assert.equal(introduce(c, "5"), "INTRODUCE OK\0", "it can be introduced again");
});

test("RELEASE deletes the nodes the domain owns, fires their RM events, then @releaseDomain", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  const w = h.socket();
  introduce(c, "5");
  c.write("/local/domain/5/own", "v");
  c.setPerms("/local/domain/5/own", ["n5"]);
  c.write("/local/domain/5/own/kid", "v");
  c.write("/local/domain/5/dom0s", "stays");
  w.req(Op.WATCH, ["@releaseDomain", "R"]);
  w.req(Op.WATCH, ["/local", "L"]);
  w.req(Op.WATCH, ["/local/domain/5/own/kid", "K"]);
  ev(w);
  assert.equal(c.req(Op.RELEASE, ["5"]), "RELEASE OK\0");
  assert.deepEqual(ev(w), ["/local/domain/5/own/kid|K", "/local/domain/5/own|L", "@releaseDomain|R"]);
  assert.equal(c.read("/local/domain/5/own"), "ERROR ENOENT\0");
  assert.equal(c.read("/local/domain/5/own/kid"), "ERROR ENOENT\0");
  assert.equal(c.dir("/local/domain/5"), "DIRECTORY dom0s\0");
  assert.equal(c.read("/local/domain/5/dom0s"), "READ stays");
});

test("RELEASE closes the domain's connection", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  const g = h.domain(5);
  assert.equal(g.closed, false);
  assert.equal(c.req(Op.RELEASE, ["5"]), "RELEASE OK\0");
  assert.equal(g.closed, true);
});

test("RELEASE: ACL entries naming the domain stay visible but no longer grant its successor anything", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  c.write("/acl", "v");
  assert.equal(c.setPerms("/acl", ["n0", "r5", "w7"]), "SET_PERMS OK\0");
  const g = h.domain(5);
  assert.equal(g.read("/acl"), "READ v");
  assert.equal(c.req(Op.RELEASE, ["5"]), "RELEASE OK\0");
  assert.equal(c.perms("/acl"), "GET_PERMS n0\0r5\0w7\0");
  const successor = h.domain(5);
  assert.equal(successor.read("/acl"), "ERROR EACCES\0");
});

// ---------------------------------------------------------------- IS_DOMAIN_INTRODUCED

test("IS_DOMAIN_INTRODUCED answers T or F", () => {
  const c = harness({ domains: "0-1023" }).socket();
  introduce(c, "5");
  assert.equal(introduced(c, "5"), "IS_DOMAIN_INTRODUCED T\0");
  assert.equal(introduced(c, "6"), "IS_DOMAIN_INTRODUCED F\0");
  assert.equal(introduced(c, "2000"), "IS_DOMAIN_INTRODUCED F\0");
  assert.equal(introduced(c, "0"), "IS_DOMAIN_INTRODUCED T\0");
  assert.equal(introduced(c, "-1"), "IS_DOMAIN_INTRODUCED F\0");
});

test("IS_DOMAIN_INTRODUCED of DOMID_SELF (32752) is T, and of 'abc' T (atoi gives dom0)", () => {
  const c = harness({ domains: "0-1023" }).socket();
  assert.equal(introduced(c, "32752"), "IS_DOMAIN_INTRODUCED T\0");
  assert.equal(introduced(c, "abc"), "IS_DOMAIN_INTRODUCED T\0");
  assert.equal(introduced(c, ""), "IS_DOMAIN_INTRODUCED T\0");
});

test("IS_DOMAIN_INTRODUCED needs exactly one NUL-terminated argument", () => {
  const c = harness().socket();
  assert.equal(c.req(Op.IS_DOMAIN_INTRODUCED, "5"), "ERROR EINVAL\0");
  assert.equal(c.req(Op.IS_DOMAIN_INTRODUCED, ["5", "6"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.IS_DOMAIN_INTRODUCED, ""), "ERROR EINVAL\0");
});

// ---------------------------------------------------------------- RESUME

test("RESUME of an introduced domain is OK; unknown ENOENT; dom0 EINVAL", () => {
  const c = harness({ domains: "0-1023" }).socket();
  introduce(c, "5");
  assert.equal(c.req(Op.RESUME, ["5"]), "RESUME OK\0");
  assert.equal(c.req(Op.RESUME, ["6"]), "ERROR ENOENT\0");
  assert.equal(c.req(Op.RESUME, ["0"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.RESUME, "5"), "ERROR EINVAL\0", "no NUL");
});

// ---------------------------------------------------------------- SET_TARGET

test("SET_TARGET between two introduced domains is OK; extra arguments are ignored", () => {
  const c = harness({ domains: "0-1023" }).socket();
  introduce(c, "5");
  introduce(c, "7");
  assert.equal(c.req(Op.SET_TARGET, ["5", "7"]), "SET_TARGET OK\0");
  assert.equal(c.req(Op.SET_TARGET, ["5", "7", "x"]), "SET_TARGET OK\0");
});

test("SET_TARGET with an unknown domain or target is ENOENT; with one argument EINVAL", () => {
  const c = harness({ domains: "0-1023" }).socket();
  introduce(c, "5");
  assert.equal(c.req(Op.SET_TARGET, ["5", "6"]), "ERROR ENOENT\0");
  assert.equal(c.req(Op.SET_TARGET, ["6", "5"]), "ERROR ENOENT\0");
  assert.equal(c.req(Op.SET_TARGET, ["2000", "5"]), "ERROR ENOENT\0");
  assert.equal(c.req(Op.SET_TARGET, ["5"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.SET_TARGET, "5\x007"), "ERROR EINVAL\0", "target lacking its NUL");
});

test("SET_TARGET gives the device model its target's rights", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  c.write("/vm", "secret");
  c.setPerms("/vm", ["n7"]);
  const dm = h.domain(5);
  h.domain(7);
  assert.equal(dm.read("/vm"), "ERROR EACCES\0");
  assert.equal(c.req(Op.SET_TARGET, ["5", "7"]), "SET_TARGET OK\0");
  assert.equal(dm.read("/vm"), "READ secret");
});

// ---------------------------------------------------------------- GET_DOMAIN_PATH

test("GET_DOMAIN_PATH answers /local/domain/<domid>", () => {
  const c = harness({ domains: "0-1023" }).socket();
  assert.equal(c.req(Op.GET_DOMAIN_PATH, ["5"]), "GET_DOMAIN_PATH /local/domain/5\0");
  assert.equal(c.req(Op.GET_DOMAIN_PATH, ["0"]), "GET_DOMAIN_PATH /local/domain/0\0");
  assert.equal(c.req(Op.GET_DOMAIN_PATH, ["2000"]), "GET_DOMAIN_PATH /local/domain/2000\0", "no existence check");
});

test("GET_DOMAIN_PATH parses with atoi into an unsigned int", () => {
  const c = harness().socket();
  assert.equal(c.req(Op.GET_DOMAIN_PATH, ["-1"]), "GET_DOMAIN_PATH /local/domain/4294967295\0");
  assert.equal(c.req(Op.GET_DOMAIN_PATH, ["99999999999"]), "GET_DOMAIN_PATH /local/domain/1215752191\0");
  assert.equal(c.req(Op.GET_DOMAIN_PATH, ["abc"]), "GET_DOMAIN_PATH /local/domain/0\0");
  assert.equal(c.req(Op.GET_DOMAIN_PATH, ["5x"]), "GET_DOMAIN_PATH /local/domain/5\0");
  assert.equal(c.req(Op.GET_DOMAIN_PATH, [""]), "GET_DOMAIN_PATH /local/domain/0\0");
});

test("GET_DOMAIN_PATH needs exactly one NUL-terminated argument", () => {
  const c = harness().socket();
  assert.equal(c.req(Op.GET_DOMAIN_PATH, "5"), "ERROR EINVAL\0");
  assert.equal(c.req(Op.GET_DOMAIN_PATH, ["5", "6"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.GET_DOMAIN_PATH, ""), "ERROR EINVAL\0");
});

test("GET_DOMAIN_PATH is open to unprivileged domains", () => {
  const g = harness().domain(5);
  assert.equal(g.req(Op.GET_DOMAIN_PATH, ["5"]), "GET_DOMAIN_PATH /local/domain/5\0");
  assert.equal(g.req(Op.GET_DOMAIN_PATH, ["9"]), "GET_DOMAIN_PATH /local/domain/9\0");
});

// ---------------------------------------------------------------- GET_FEATURE / SET_FEATURE

test("GET_FEATURE without a domid answers the server's features (RECONNECTION | ERROR | WATCHDEPTH | DOMID_ANY)", () => {
  const c = harness().socket();
  assert.equal(c.req(Op.GET_FEATURE, ""), "GET_FEATURE 15\0");
});

test("GET_FEATURE <domid> answers that domain's features; unknown domain ENOENT; bad domid EINVAL", () => {
  const c = harness({ domains: "0-1023" }).socket();
  assert.equal(c.req(Op.GET_FEATURE, ["5"]), "GET_FEATURE 15\0");
  assert.equal(c.req(Op.GET_FEATURE, ["0"]), "GET_FEATURE 15\0");
  assert.equal(c.req(Op.GET_FEATURE, ["2000"]), "ERROR ENOENT\0");
  for (const bad of ["abc", "5x", "-1", "65536", " 5 "]) assert.equal(c.req(Op.GET_FEATURE, [bad]), "ERROR EINVAL\0", bad);
  assert.equal(c.req(Op.GET_FEATURE, ["5", "6"]), "ERROR EINVAL\0");
});

test("SET_FEATURE before INTRODUCE sets the bits the domain is offered", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  assert.equal(c.req(Op.SET_FEATURE, ["5", "4"]), "SET_FEATURE OK\0");
  assert.equal(c.req(Op.GET_FEATURE, ["5"]), "GET_FEATURE 4\0");
  assert.equal(c.req(Op.SET_FEATURE, ["5", "0"]), "SET_FEATURE OK\0");
  assert.equal(c.req(Op.GET_FEATURE, ["5"]), "GET_FEATURE 0\0");
  assert.equal(c.req(Op.SET_FEATURE, ["5", "8"]), "SET_FEATURE OK\0");
  // The guest asks for its own features.
  const g = h.domain(5);
  assert.equal(g.req(Op.GET_FEATURE, ""), "GET_FEATURE 8\0");
});

test("SET_FEATURE after INTRODUCE is EBUSY", () => {
  const c = harness({ domains: "0-1023" }).socket();
  introduce(c, "5");
  assert.equal(c.req(Op.SET_FEATURE, ["5", "4"]), "ERROR EBUSY\0");
  assert.equal(c.req(Op.SET_FEATURE, ["0", "4"]), "ERROR EBUSY\0", "dom0 is introduced from the start");
  assert.equal(c.req(Op.GET_FEATURE, ["5"]), "GET_FEATURE 15\0");
});

test("SET_FEATURE with bits the server does not offer is EINVAL", () => {
  const c = harness({ domains: "0-1023" }).socket();
  for (const bits of ["16", "32", "17", "-1"]) assert.equal(c.req(Op.SET_FEATURE, ["5", bits]), "ERROR EINVAL\0", bits);
  assert.equal(c.req(Op.GET_FEATURE, ["5"]), "GET_FEATURE 15\0");
});

test("SET_FEATURE argument errors: two strings needed, domid by parse_domid, unknown domain ENOENT", () => {
  const c = harness({ domains: "0-1023" }).socket();
  assert.equal(c.req(Op.SET_FEATURE, ["5"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.SET_FEATURE, ["5", "4", "x"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.SET_FEATURE, ["abc", "4"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.SET_FEATURE, ["70000", "4"]), "ERROR EINVAL\0");
  assert.equal(c.req(Op.SET_FEATURE, ["2000", "4"]), "ERROR ENOENT\0");
});

test("a guest may GET_FEATURE its own features, not another domain's", () => {
  const g = harness().domain(5);
  assert.equal(g.req(Op.GET_FEATURE, ""), "GET_FEATURE 15\0");
  assert.equal(g.req(Op.GET_FEATURE, ["5"]), "ERROR EACCES\0");
  assert.equal(g.req(Op.GET_FEATURE, ["0"]), "ERROR EACCES\0");
});

// ---------------------------------------------------------------- privilege

test("control-domain-only ops from an unprivileged domain are EACCES", () => {
  const h = harness({ domains: "0-1023" });
  const c = h.socket();
  introduce(c, "7");
  const g = h.domain(5);
  const cases: [Op, string[] | string][] = [
    [Op.CONTROL, ["check"]],
    [Op.CONTROL, ["help"]],
    [Op.INTRODUCE, ["6", "0", "1"]],
    [Op.RELEASE, ["7"]],
    [Op.IS_DOMAIN_INTRODUCED, ["7"]],
    [Op.RESUME, ["7"]],
    [Op.SET_TARGET, ["5", "7"]],
    [Op.SET_FEATURE, ["6", "4"]],
    [Op.GET_QUOTA, ""],
    [Op.GET_QUOTA, ["nodes"]],
    [Op.SET_QUOTA, ["5", "nodes", "100000"]],
  ];
  for (const [op, args] of cases) assert.equal(g.req(op, args), "ERROR EACCES\0", `${Op[op]} ${JSON.stringify(args)}`);
  assert.equal(introduced(c, "6"), "IS_DOMAIN_INTRODUCED F\0", "nothing happened");
  assert.equal(introduced(c, "7"), "IS_DOMAIN_INTRODUCED T\0");
  assert.equal(c.req(Op.GET_QUOTA, ["5", "nodes"]), "GET_QUOTA 1000\0");
});

test("the privilege check comes before the transaction id check", () => {
  const h = harness({ domains: "0-1023" });
  const g = h.domain(5);
  assert.equal(g.req(Op.INTRODUCE, ["6", "0", "1"], 99), "ERROR EACCES\0");
  assert.equal(g.req(Op.READ, ["/tool"], 99), "ERROR ENOENT\0", "unprivileged op: unknown transaction");
});

test("an unknown message type is ENOSYS before the privilege check", () => {
  const g = harness().domain(5);
  assert.equal(g.req(20, ""), "ERROR ENOSYS\0");
  assert.equal(g.req(27, ""), "ERROR ENOSYS\0");
});
