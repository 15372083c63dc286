/**
 * @module test/builder/token-server
 * A token service for the distribution spec's Bearer flow (docs/spec/auth/token.md): a
 * self-signed RSA certificate (openssl) that the registry trusts as its rootcertbundle, and an
 * HTTP endpoint that checks Basic credentials and answers `{"token": <RS256 JWT>}` granting
 * the requested scopes, with the certificate in the JWT's x5c header.
 */
import { execFile } from "node:child_process";
import { createPrivateKey, createSign, randomBytes, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Token requests seen: the scopes asked for, and whether credentials came along. */
  requests: Array<{ scopes: string[]; user: string | null }>;
  /** The `auth:` block of the registry config. */
  registryConfig: string;
  stop(): Promise<void>;
}

export async function startTokenServer(dir: string, user: string, password: string): Promise<TokenServer> {
  const keyFile = path.join(dir, "token.key");
  const certFile = path.join(dir, "token.crt");
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=fnrun-test-token"]);
  const key = createPrivateKey(await readFile(keyFile));
  const certDer = new X509Certificate(await readFile(certFile)).raw.toString("base64");
  const service = "fnrun-test-registry";
  const issuer = "fnrun-test-issuer";
  const requests: TokenServer["requests"] = [];
  const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const auth = req.headers.authorization ?? "";
    const given = auth.startsWith("Basic ") ? Buffer.from(auth.slice(6), "base64").toString() : null;
    const scopes = url.searchParams.getAll("scope");
    requests.push({ scopes, user: given?.split(":")[0] ?? null });
    if (given !== `${user}:${password}`) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(":");
      return { type, name, actions: actions.split(",") };
    });
    const claims = { iss: issuer, sub: user, aud: url.searchParams.get("service"), exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access };
    const signing = `${b64url({ alg: "RS256", typ: "JWT", x5c: [certDer] })}.${b64url(claims)}`;
    const signature = createSign("RSA-SHA256").update(signing).sign(key).toString("base64url");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: `${signing}.${signature}`, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  const realm = `http://127.0.0.1:${port}/token`;
  return {
    realm,
    service,
    issuer,
    certFile,
    requests,
    registryConfig: `auth:\n  token:\n    realm: ${realm}\n    service: ${service}\n    issuer: ${issuer}\n    rootcertbundle: ${certFile}\n`,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
