// An OpenID provider on loopback for scripts/oidc-drill: oidc-provider (the
// OpenID-certified implementation) with a portal client, the organisation and role as
// custom claims, and its signing keys read from a file so the drill can rotate them by
// restarting it. Every request for its JWKS is appended to a log the drill counts.
//
//   node provider.mjs PORT KEYS.json JWKS-LOG
import { appendFileSync, readFileSync } from "node:fs";
import Provider from "oidc-provider";

const [port, keysFile, jwksLog] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const keys = JSON.parse(readFileSync(keysFile, "utf8"));

// The drill's users: who they are in keyroll.
const accounts = {
  alice: { org_id: "org_acme", keyroll_role: "admin" },
  bob: { org_id: "org_acme", keyroll_role: "viewer" },
  mallory: { org_id: "org_other", keyroll_role: "admin" },
};

const client = (id) => ({
  client_id: id,
  client_secret: `${id}-secret-0123456789abcdef`,
  redirect_uris: ["http://127.0.0.1:9/callback"],
  grant_types: ["authorization_code"],
  response_types: ["code"],
});

const provider = new Provider(issuer, {
  clients: [client("keyroll-portal"), client("another-app")],
  jwks: keys,
  cookies: { keys: ["oidc-drill-cookie-key-0123456789"] },
  scopes: ["openid", "keyroll"],
  claims: { openid: ["sub"], keyroll: ["org_id", "keyroll_role"] },
  // The portal reads the ID token, so the scope's claims go in it.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
});

provider.use(async (ctx, next) => {
  if (ctx.path === "/jwks") appendFileSync(jwksLog, `${Date.now()}\n`);
  await next();
});

provider.listen(Number(port), "127.0.0.1", () => {
  console.log(
    `oidc-provider ${issuer} with keys ${keys.keys.map((k) => k.kid).join(", ")}`,
  );
});
