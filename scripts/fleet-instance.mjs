// One TypeScript instance of the fleet drill: calls the company's API every 200 ms with
// a rolling keyroll credential until told to stop, then prints one JSON line.
//
//   node fleet-instance.mjs <company-url> <keyroll-url> <secret> <key-file> <name> <stop-file>

import { existsSync, readFileSync } from "node:fs";
import { Credential, keyrollFetch } from "../clients/typescript/dist/index.js";

const [company, keyroll, secret, keyFile, name, stop] = process.argv.slice(2);
const started = performance.now();
const credential = new Credential({
  baseUrl: keyroll,
  secret,
  deliveryPrivateKey: readFileSync(keyFile, "utf8"),
  maxPollSeconds: 2,
});
const api = keyrollFetch(credential);
let sent = 0;
let failures = 0;
let swappedAfter = null;
while (!existsSync(stop)) {
  sent += 1;
  try {
    const answer = await api(`${company}/charge`, { headers: { "User-Agent": `${name}/1.0` } });
    await answer.arrayBuffer();
    if (answer.status !== 200) failures += 1;
  } catch {
    failures += 1;
  }
  if (swappedAfter === null && credential.secret() !== secret) {
    swappedAfter = (performance.now() - started) / 1000;
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
}
credential.close();
console.log(JSON.stringify({ name, sent, failures, swappedAfter }));
