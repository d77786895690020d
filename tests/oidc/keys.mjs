// Two RS256 signing keys for scripts/oidc-drill, as the provider's JWKS at each step of
// a rotation: the old key alone, the new key first with the old kept, the new alone.
//
//   node keys.mjs DIR   # writes DIR/old.json, DIR/both.json, DIR/new.json
import { writeFileSync } from "node:fs";
import { exportJWK, generateKeyPair } from "jose";

const key = async (kid) => {
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: "RS256", use: "sig" };
};
const dir = process.argv[2];
const [old, next] = [await key("drill-old"), await key("drill-new")];
writeFileSync(`${dir}/old.json`, JSON.stringify({ keys: [old] }));
writeFileSync(`${dir}/both.json`, JSON.stringify({ keys: [next, old] }));
writeFileSync(`${dir}/new.json`, JSON.stringify({ keys: [next] }));
