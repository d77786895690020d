// The credential against a stand-in for keyroll's self routes on loopback (real HTTP,
// real JWEs from jose): it swaps a sealed successor in, refuses one sealed to another
// key, keeps its secret when keyroll fails, and shares one refresh among callers.
// The library's run against keyroll-local itself is the fleet drill.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  calculateJwkThumbprint,
  CompactEncrypt,
  exportJWK,
  generateKeyPair,
  type JWK,
} from "jose";
import {
  Credential,
  FileStore,
  KeyrollError,
  keyrollFetch,
  CLIENT_NAME,
} from "../src/index.js";

interface Fake {
  url: string;
  server: Server;
  valid: Set<string>;
  apiValid: Set<string>;
  successor?: string;
  kid: string;
  fail: boolean;
  fetches: number;
  clients: Set<string>;
}

async function keyPair(): Promise<{
  privateJwk: JWK;
  publicJwk: JWK;
  thumbprint: string;
}> {
  const pair = await generateKeyPair("ECDH-ES+A256KW", {
    crv: "P-256",
    extractable: true,
  });
  const publicJwk = await exportJWK(pair.publicKey);
  return {
    privateJwk: await exportJWK(pair.privateKey),
    publicJwk,
    thumbprint: await calculateJwkThumbprint(publicJwk),
  };
}

async function fakeKeyroll(publicJwk: JWK, kid: string): Promise<Fake> {
  const { importJWK } = await import("jose");
  const recipient = await importJWK(publicJwk, "ECDH-ES+A256KW");
  const fake: Fake = {
    url: "",
    server: createServer(),
    valid: new Set(["sk_live_old"]),
    apiValid: new Set(["sk_live_old"]),
    kid,
    fail: false,
    fetches: 0,
    clients: new Set(),
  };
  fake.server.on("request", (request, response) => {
    void (async () => {
      const auth = request.headers.authorization ?? "";
      const secret = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      fake.clients.add(String(request.headers["keyroll-client"] ?? ""));
      const reply = (status: number, body: unknown) => {
        response.writeHead(status, { "content-type": "application/json" });
        response.end(JSON.stringify(body));
      };
      if (fake.fail) return reply(503, { title: "unavailable" });
      if (request.url === "/api/charges") {
        return fake.apiValid.has(secret)
          ? reply(200, { charged: true })
          : reply(401, {});
      }
      if (!fake.valid.has(secret))
        return reply(401, { title: "unauthenticated" });
      const waiting = fake.successor !== undefined && secret === "sk_live_old";
      if (request.url === "/v1/self/key") {
        return reply(200, {
          keyId: "key_1",
          stage: waiting ? "previous" : "current",
          expiresAt: null,
          successor: waiting
            ? { rotationId: "rot_1", graceEndsAt: "2026-12-04T00:00:00Z" }
            : null,
          pollAfterSeconds: waiting ? 0 : 3600,
        });
      }
      if (request.url === "/v1/self/successor" && waiting && fake.successor) {
        fake.fetches += 1;
        const jwe = await new CompactEncrypt(
          new TextEncoder().encode(fake.successor),
        )
          .setProtectedHeader({
            alg: "ECDH-ES+A256KW",
            enc: "A256GCM",
            kid: fake.kid,
          })
          .encrypt(recipient);
        return reply(200, { keyId: "key_1", rotationId: "rot_1", jwe });
      }
      return reply(404, {});
    })();
  });
  await new Promise<void>((resolve) =>
    fake.server.listen(0, "127.0.0.1", resolve),
  );
  const address = fake.server.address();
  if (address === null || typeof address === "string")
    throw new Error("no port");
  fake.url = `http://127.0.0.1:${address.port}`;
  return fake;
}

async function setting(): Promise<{ fake: Fake; key: JWK; done: () => void }> {
  const { privateJwk, publicJwk, thumbprint } = await keyPair();
  const fake = await fakeKeyroll(publicJwk, thumbprint);
  return { fake, key: privateJwk, done: () => fake.server.close() };
}

test("a sealed successor is opened, swapped in and saved", async () => {
  const { fake, key, done } = await setting();
  try {
    const file = join(mkdtempSync(join(tmpdir(), "keyroll-")), "secret");
    const credential = new Credential({
      baseUrl: fake.url,
      secret: "sk_live_old",
      deliveryPrivateKey: JSON.stringify(key),
      store: new FileStore(file),
      start: false,
    });
    assert.equal(await credential.refresh(), false, "nothing waits yet");
    fake.successor = "sk_live_new";
    fake.valid.add("sk_live_new");
    assert.equal(await credential.refresh(), true);
    assert.equal(credential.secret(), "sk_live_new");
    assert.equal(readFileSync(file, "utf8"), "sk_live_new");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual([...fake.clients], [CLIENT_NAME]);
    const restarted = new Credential({
      baseUrl: fake.url,
      secret: "sk_live_old",
      deliveryPrivateKey: key,
      store: new FileStore(file),
      start: false,
    });
    await restarted.loaded();
    assert.equal(
      restarted.secret(),
      "sk_live_new",
      "a restart starts with the saved secret",
    );
  } finally {
    done();
  }
});

test("a successor sealed to another key, or one it cannot open, is refused", async () => {
  const { fake, key, done } = await setting();
  try {
    fake.successor = "sk_live_new";
    fake.kid = "someone-elses-thumbprint";
    const credential = new Credential({
      baseUrl: fake.url,
      secret: "sk_live_old",
      deliveryPrivateKey: key,
      start: false,
    });
    await assert.rejects(credential.refresh(), KeyrollError);
    const attacker = await keyPair();
    const stranger = new Credential({
      baseUrl: fake.url,
      secret: "sk_live_old",
      deliveryPrivateKey: attacker.privateJwk,
      start: false,
    });
    await assert.rejects(stranger.refresh(), KeyrollError);
    assert.equal(credential.secret(), "sk_live_old");
    assert.equal(stranger.secret(), "sk_live_old");
  } finally {
    done();
  }
});

test("a failed refresh keeps the secret", async () => {
  const { fake, key, done } = await setting();
  try {
    fake.fail = true;
    const credential = new Credential({
      baseUrl: fake.url,
      secret: "sk_live_old",
      deliveryPrivateKey: key,
      start: false,
    });
    await assert.rejects(
      credential.refresh(),
      (error: KeyrollError) => error.status === 503,
    );
    assert.equal(credential.secret(), "sk_live_old");
    assert.equal(await credential.onUnauthorized("sk_live_old"), false);
  } finally {
    done();
  }
});

test("concurrent 401s share one refresh", async () => {
  const { fake, key, done } = await setting();
  try {
    fake.successor = "sk_live_new";
    fake.valid.add("sk_live_new");
    const credential = new Credential({
      baseUrl: fake.url,
      secret: "sk_live_old",
      deliveryPrivateKey: key,
      start: false,
    });
    const results = await Promise.all(
      Array.from({ length: 8 }, () => credential.onUnauthorized("sk_live_old")),
    );
    assert.deepEqual(results, Array(8).fill(true));
    assert.equal(fake.fetches, 1, "one fetch for all");
    assert.equal(credential.secret(), "sk_live_new");
  } finally {
    done();
  }
});

test("keyrollFetch retries once after a 401", async () => {
  const { fake, key, done } = await setting();
  try {
    const credential = new Credential({
      baseUrl: fake.url,
      secret: "sk_live_old",
      deliveryPrivateKey: key,
      start: false,
    });
    fake.successor = "sk_live_new";
    fake.valid = new Set(["sk_live_old", "sk_live_new"]);
    fake.apiValid = new Set(["sk_live_new"]);
    const api = keyrollFetch(credential);
    assert.equal(
      (await api(`${fake.url}/api/charges`)).status,
      200,
      "refreshed, retried",
    );
    fake.apiValid = new Set();
    assert.equal(
      (await api(`${fake.url}/api/charges`)).status,
      401,
      "answered, not looped",
    );
  } finally {
    done();
  }
});

test("the background refresher swaps without being asked", async () => {
  const { fake, key, done } = await setting();
  try {
    fake.successor = "sk_live_new";
    fake.valid.add("sk_live_new");
    const credential = new Credential({
      baseUrl: fake.url,
      secret: "sk_live_old",
      deliveryPrivateKey: key,
      maxPollSeconds: 0.05,
    });
    for (let i = 0; i < 200 && credential.secret() !== "sk_live_new"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    credential.close();
    assert.equal(credential.secret(), "sk_live_new");
  } finally {
    done();
  }
});
