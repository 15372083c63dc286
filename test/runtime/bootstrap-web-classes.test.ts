/**
 * The light fetch classes of the bootstrap (runtime/bootstrap/web/) against node's own: one
 * contract suite, run against both implementations, so every case states what node's undici
 * does and checks that the light class does the same (Headers, and Response with every body
 * kind). What only the light classes have (their body kept as given, falling back to node's
 * class for FormData, `instanceof` across both) is tested after the suite.
 *
 * Runs in the test process without installing the classes as globals.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FnHeaders } from "../../runtime/bootstrap/web/headers.ts";
import { realLoaded } from "../../runtime/bootstrap/web/real.ts";
import { FnResponse, responseParts } from "../../runtime/bootstrap/web/response.ts";

interface Impl {
  name: string;
  Headers: typeof Headers;
  Response: typeof Response;
}
const IMPLS: Impl[] = [
  { name: "node's own (undici)", Headers: globalThis.Headers, Response: globalThis.Response },
  { name: "the bootstrap's light classes", Headers: FnHeaders as unknown as typeof Headers, Response: FnResponse as unknown as typeof Response },
];

const pairs = (h: Headers) => [...(h as unknown as Iterable<[string, string]>)];

for (const { name, Headers: H, Response: R } of IMPLS) {
  describe(`Headers contract: ${name}`, () => {
    test("names are case-insensitive, lower-cased on iteration, sorted; values of one name joined", () => {
      const h = new H();
      h.append("X-B", "1");
      h.append("x-a", "2");
      h.append("x-b", "3");
      assert.equal(h.get("x-B"), "1, 3");
      assert.equal(h.has("X-A"), true);
      assert.equal(h.get("missing"), null);
      assert.deepEqual(pairs(h), [["x-a", "2"], ["x-b", "1, 3"]]);
      assert.deepEqual([...(h as unknown as { keys(): Iterable<string> }).keys()], ["x-a", "x-b"]);
      assert.deepEqual([...(h as unknown as { values(): Iterable<string> }).values()], ["2", "1, 3"]);
      const seen: string[] = [];
      h.forEach((v, k, parent) => {
        assert.equal(parent, h);
        seen.push(`${k}=${v}`);
      });
      assert.deepEqual(seen, ["x-a=2", "x-b=1, 3"]);
    });

    test("cookie values join with '; '; set-cookie values stay apart", () => {
      const h = new H();
      h.append("cookie", "a=1");
      h.append("Cookie", "b=2");
      h.append("set-cookie", "s=1; Path=/");
      h.append("Set-Cookie", "t=2");
      assert.equal(h.get("cookie"), "a=1; b=2");
      assert.deepEqual(h.getSetCookie(), ["s=1; Path=/", "t=2"]);
      assert.equal(h.get("set-cookie"), "s=1; Path=/, t=2");
      assert.deepEqual(pairs(h), [["cookie", "a=1; b=2"], ["set-cookie", "s=1; Path=/"], ["set-cookie", "t=2"]]);
      h.set("set-cookie", "only=1");
      assert.deepEqual(h.getSetCookie(), ["only=1"]);
      h.delete("set-cookie");
      assert.deepEqual(h.getSetCookie(), []);
    });

    test("set replaces every value; delete removes the name; values are trimmed", () => {
      const h = new H([["a", "1"], ["a", "2"], ["b", " \t padded \n"]]);
      h.set("A", "3");
      assert.equal(h.get("a"), "3");
      assert.equal(h.get("b"), "padded");
      h.delete("B");
      assert.equal(h.has("b"), false);
      assert.deepEqual(pairs(h), [["a", "3"]]);
    });

    test("made from a record, from pairs, from another Headers of either kind", () => {
      assert.deepEqual(pairs(new H({ "Content-Type": "text/html", "X-N": 5 as unknown as string })), [["content-type", "text/html"], ["x-n", "5"]]);
      assert.deepEqual(pairs(new H([["b", "2"], ["a", "1"]])), [["a", "1"], ["b", "2"]]);
      for (const Other of [globalThis.Headers, FnHeaders as unknown as typeof Headers]) {
        const o = new Other({ x: "1" });
        o.append("set-cookie", "a");
        o.append("set-cookie", "b");
        const h = new H(o);
        assert.deepEqual(pairs(h), [["set-cookie", "a"], ["set-cookie", "b"], ["x", "1"]]);
      }
    });

    test("bad names, values and inits are TypeErrors", () => {
      const h = new H();
      assert.throws(() => h.append("bad name", "v"), TypeError);
      assert.throws(() => h.append("", "v"), TypeError);
      assert.throws(() => h.set("x", "a\nb"), TypeError);
      assert.throws(() => h.append("x", "a\0b"), TypeError);
      assert.throws(() => h.append("x", "\u0100"), TypeError, "above U+00FF");
      assert.throws(() => h.get("bad name"), TypeError);
      assert.throws(() => new H([["only-a-name"]] as unknown as [string, string][]), TypeError);
      assert.throws(() => new H("a=b" as unknown as HeadersInit), TypeError);
      assert.equal(new H({ x: "\u00e9" }).get("x"), "\u00e9", "Latin-1 is a ByteString");
    });
  });

  describe(`Response contract: ${name}`, () => {
    const type = (r: Response) => r.headers.get("content-type");

    test("each body kind implies its Content-Type, also when other headers are given", async () => {
      assert.equal(type(new R("x")), "text/plain;charset=UTF-8");
      assert.equal(type(new R("x", { headers: { "x-other": "1" } })), "text/plain;charset=UTF-8");
      assert.equal(type(new R("x", { headers: { "Content-Type": "text/html" } })), "text/html");
      assert.equal(type(new R(new URLSearchParams({ a: "1" }))), "application/x-www-form-urlencoded;charset=UTF-8");
      assert.equal(type(new R(new Blob(["b"], { type: "image/png" }))), "image/png");
      assert.equal(type(new R(new Blob(["b"]))), null);
      assert.equal(type(new R(new Uint8Array([1]))), null);
      assert.equal(type(new R(new ArrayBuffer(1))), null);
      assert.equal(type(new R(new ReadableStream())), null);
      assert.equal(type(new R(null)), null);
      assert.equal(type(new R()), null);
      assert.equal(type(R.json({ a: 1 })), "application/json");
      assert.equal(type(R.json({ a: 1 }, { headers: { "content-type": "application/problem+json" } })), "application/problem+json");
    });

    test("status, statusText and ok; out-of-range status, a body with a null-body status, a bad statusText throw", () => {
      const r = new R("x", { status: 201, statusText: "Made It" });
      assert.deepEqual([r.status, r.statusText, r.ok, r.type, r.url, r.redirected], [201, "Made It", true, "default", "", false]);
      assert.deepEqual([new R().status, new R().statusText, new R(null, { status: 404 }).ok], [200, "", false]);
      assert.throws(() => new R("x", { status: 199 }), RangeError);
      assert.throws(() => new R("x", { status: 600 }), RangeError);
      assert.throws(() => new R("x", { status: 204 }), TypeError);
      assert.equal(new R(null, { status: 204 }).status, 204);
      assert.throws(() => new R("x", { statusText: "a\nb" }), TypeError);
    });

    test("the body reads as text, json, bytes, arrayBuffer and blob, once", async () => {
      assert.equal(await new R("héllo").text(), "héllo");
      assert.equal(await new R("\uFEFFbom").text(), "bom", "UTF-8 decode drops a leading BOM");
      assert.deepEqual(await new R('{"a":[1]}').json(), { a: [1] });
      assert.deepEqual([...new Uint8Array(await new R("hi").arrayBuffer())], [104, 105]);
      assert.deepEqual([...(await (new R(new Uint8Array([1, 2])) as Response & { bytes(): Promise<Uint8Array> }).bytes())], [1, 2]);
      const blob = await new R("blob", { headers: { "content-type": "text/x-test" } }).blob();
      assert.deepEqual([blob.type, await blob.text()], ["text/x-test", "blob"]);
      assert.equal(await new R(new Blob(["from a blob"])).text(), "from a blob");
      assert.equal(await new R(new URLSearchParams({ q: "a b" })).text(), "q=a+b");
      assert.equal(await new R(null).text(), "");
      const r = new R("once");
      assert.equal(r.bodyUsed, false);
      await r.text();
      assert.equal(r.bodyUsed, true);
      await assert.rejects(r.text(), TypeError);
      assert.throws(() => r.clone(), TypeError);
    });

    test("bytes are copied when the Response is made", async () => {
      const bytes = new Uint8Array([1, 2, 3]);
      const r = new R(bytes);
      bytes[0] = 9;
      assert.deepEqual([...new Uint8Array(await r.arrayBuffer())], [1, 2, 3]);
    });

    test("body is a ReadableStream of the bytes; reading it uses the body", async () => {
      const r = new R("streamed");
      const reader = r.body!.getReader();
      const chunks: number[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(...value);
      }
      assert.equal(Buffer.from(chunks).toString(), "streamed");
      assert.equal(r.bodyUsed, true);
      assert.equal(new R(null).body, null);
    });

    test("a stream body passes through; clone() tees it", async () => {
      const source = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode("a"));
          c.enqueue(new TextEncoder().encode("b"));
          c.close();
        },
      });
      const r = new R(source);
      const c = r.clone();
      assert.deepEqual([await r.text(), await c.text()], ["ab", "ab"]);
      const s = new R("same").clone();
      assert.equal(await s.text(), "same");
      assert.equal(s.headers.get("content-type"), "text/plain;charset=UTF-8");
    });

    test("Response.json, Response.redirect and Response.error", async () => {
      const j = R.json({ ok: true }, { status: 202, headers: { "x-a": "1" } });
      assert.deepEqual([j.status, j.headers.get("x-a"), await j.text()], [202, "1", '{"ok":true}']);
      assert.throws(() => R.json(undefined), TypeError);
      const r = R.redirect("https://example.com/a b", 307);
      assert.deepEqual([r.status, r.headers.get("location"), r.body], [307, "https://example.com/a%20b", null]);
      assert.deepEqual([R.redirect("http://x/").status], [302]);
      assert.throws(() => R.redirect("http://x/", 200), RangeError);
      assert.throws(() => R.redirect("not a url"), TypeError);
      assert.throws(() => r.headers.set("x", "y"), TypeError, "a redirect's headers are immutable");
      const e = R.error();
      assert.deepEqual([e.status, e.type, e.ok, e.body], [0, "error", false, null]);
      assert.throws(() => e.headers.append("x", "y"), TypeError);
      assert.throws(() => e.clone().headers.append("x", "y"), TypeError, "the guard carries over to a clone");
    });

    test("FormData bodies: a multipart Content-Type and the same fields read back", async () => {
      const f = new FormData();
      f.append("name", "value");
      const r = new R(f);
      assert.match(type(r) ?? "", /^multipart\/form-data; boundary=/);
      assert.equal((await r.formData()).get("name"), "value");
      const u = await new R(new URLSearchParams({ k: "v" })).formData();
      assert.equal(u.get("k"), "v");
    });
  });
}

describe("the light classes beyond the contract", () => {
  test("a light Response keeps its body as given (what the bootstrap writes without a stream)", () => {
    const p = responseParts(new FnResponse("as given", { status: 201, headers: { "x-a": "1" } }))!;
    assert.equal(p.status, 201);
    assert.deepEqual(FnHeaders.flat(p.headers), ["x-a", "1", "content-type", "text/plain;charset=UTF-8"]);
    assert.equal(p.body!.take(), "as given");
    assert.equal(p.body!.take(), "as given", "a body in memory can be written again");
    const streamed = responseParts(new FnResponse(new ReadableStream()))!;
    streamed.body!.take();
    assert.throws(() => streamed.body!.take(), TypeError, "a stream only once");
    assert.equal(responseParts(new Response("node's own")), undefined);
  });

  test("FnHeaders.flat writes set-cookie once per cookie, other names combined", () => {
    const h = new FnHeaders([["set-cookie", "a=1"], ["x", "1"], ["set-cookie", "b=2"], ["X", "2"]]);
    assert.deepEqual(FnHeaders.flat(h), ["set-cookie", "a=1", "set-cookie", "b=2", "x", "1, 2"]);
  });

  test("instanceof holds across both kinds, and for subclasses of the light ones", () => {
    const has = (C: unknown, x: unknown) => (C as { [Symbol.hasInstance](v: unknown): boolean })[Symbol.hasInstance](x);
    assert.equal(has(FnResponse, new FnResponse("x")), true);
    assert.equal(has(FnResponse, new Response("x")), true, "node's Response (e.g. from fetch()) is a Response");
    assert.equal(has(FnHeaders, new Headers()), true);
    assert.equal(has(FnResponse, { status: 200 }), false);
    assert.equal(has(FnResponse, "x"), false);
    class Mine extends FnResponse {}
    const m = new Mine("sub", { status: 201 });
    assert.equal(m instanceof Mine, true);
    assert.equal(has(FnResponse, m), true);
    assert.deepEqual([m.status, responseParts(m)?.body?.take()], [201, "sub"]);
    assert.equal(Object.prototype.toString.call(new FnResponse()), "[object Response]");
    assert.equal(Object.prototype.toString.call(new FnHeaders()), "[object Headers]");
  });

  test("a body kind only node's Response handles gives a Response that forwards to one", async () => {
    const f = new FormData();
    f.append("k", "v");
    const r = new FnResponse(f, { status: 202 });
    assert.equal(responseParts(r), undefined, "not written from light parts");
    assert.equal(r.status, 202);
    assert.match(await r.text(), /name="k"\r\n\r\nv\r\n/);
    assert.equal(realLoaded(), true);
  });
});
