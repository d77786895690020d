#!/usr/bin/env node
// `keyroll-client enroll`: makes the key's delivery key pair, registers its public half
// with keyroll (`PUT /v1/self/delivery-key`, with the key's secret) and writes the
// private half (mode 0600) where the library reads it.
//
//   KEYROLL_SECRET=sk_live_… keyroll-client enroll --base-url https://keyroll.example.com \
//     --key-file /etc/app/delivery-key.jwk

import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { exportJWK, generateKeyPair } from "jose";
import { CLIENT_HEADER, CLIENT_NAME } from "./credential.js";
import { FileStore } from "./store.js";

/** Registers a new delivery key for the key `secret` belongs to; its thumbprint. */
export async function enroll(
  baseUrl: string,
  secret: string,
  keyFile: string,
): Promise<string> {
  if (existsSync(keyFile)) {
    throw new Error(`${keyFile} exists; not overwriting a delivery key`);
  }
  const pair = await generateKeyPair("ECDH-ES+A256KW", {
    crv: "P-256",
    extractable: true,
  });
  const { kty, crv, x, y } = await exportJWK(pair.publicKey);
  const answer = await fetch(
    `${baseUrl.replace(/\/+$/, "")}/v1/self/delivery-key`,
    {
      method: "PUT",
      headers: {
        Authorization: `Bearer ${secret}`,
        "Content-Type": "application/json",
        [CLIENT_HEADER]: CLIENT_NAME,
      },
      body: JSON.stringify({ jwk: { kty, crv, x, y } }),
    },
  );
  const body = (await answer.json()) as {
    thumbprint?: string;
    detail?: string;
  };
  if (!answer.ok || typeof body.thumbprint !== "string") {
    throw new Error(
      `keyroll refused the delivery key (${answer.status}): ${body.detail ?? ""}`,
    );
  }
  await new FileStore(keyFile).save(
    JSON.stringify(await exportJWK(pair.privateKey)),
  );
  return body.thumbprint;
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "base-url": { type: "string" },
      "secret-env": { type: "string", default: "KEYROLL_SECRET" },
      "key-file": { type: "string" },
    },
  });
  const baseUrl = values["base-url"];
  const keyFile = values["key-file"];
  if (positionals[0] !== "enroll" || !baseUrl || !keyFile) {
    console.error(
      "usage: keyroll-client enroll --base-url URL --key-file PATH [--secret-env NAME]",
    );
    return 2;
  }
  const secretEnv = values["secret-env"] ?? "KEYROLL_SECRET";
  const secret = process.env[secretEnv];
  if (!secret) {
    console.error(`keyroll-client: set ${secretEnv} to the key's secret`);
    return 2;
  }
  const thumbprint = await enroll(baseUrl, secret, keyFile);
  console.log(
    `registered delivery key ${thumbprint}; private half in ${keyFile}`,
  );
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      console.error(`keyroll-client: ${error.message}`);
      process.exit(1);
    },
  );
}
