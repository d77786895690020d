// A keyroll API key that rolls itself over in process.
//
// The credential polls `GET /v1/self/key` with the secret it holds, every
// `pollAfterSeconds` spread by ±50 % so a fleet does not poll in step. When a successor
// waits it fetches `GET /v1/self/successor` (a compact JWE only the delivery key's
// private half opens), swaps the new secret in, and saves it through its store. A failed
// refresh keeps the secret it has and backs off. `onUnauthorized()` forces one refresh,
// shared by every caller that asks at the same time.

import {
  calculateJwkThumbprint,
  compactDecrypt,
  exportJWK,
  importJWK,
  importPKCS8,
  type JWK,
  type KeyLike,
} from "jose";
import type { SecretStore } from "./store.js";

export const VERSION = "0.1.0";
export const CLIENT_HEADER = "Keyroll-Client";
export const CLIENT_NAME = `keyroll-client-typescript/${VERSION}`;
const ALG = "ECDH-ES+A256KW";
const ENC = "A256GCM";
/** The longest wait between two polls. */
export const MAX_WAIT_SECONDS = 3600;
const FIRST_BACKOFF_SECONDS = 1;
const MAX_BACKOFF_SECONDS = 300;
const TIMEOUT_MS = 10_000;

/** keyroll answered with a problem (RFC 9457) or could not be reached. */
export class KeyrollError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "KeyrollError";
  }
}

export interface CredentialOptions {
  /** keyroll's base URL. */
  baseUrl: string;
  /** The key's secret at start (a newer one in `store` wins). */
  secret: string;
  /** The delivery key's private half: a JWK (object or JSON) or a PKCS#8 PEM. */
  deliveryPrivateKey: string | JWK;
  store?: SecretStore;
  /** Caps the wait between polls (drills use a short one). */
  maxPollSeconds?: number;
  /** `false`: no background refresher; call `refresh()` yourself. */
  start?: boolean;
  fetch?: typeof fetch;
}

/** The secret a request carried in `Authorization: Bearer …`. */
export function bearerOf(headers: Headers): string | undefined {
  const value = headers.get("authorization") ?? "";
  return value.startsWith("Bearer ")
    ? value.slice("Bearer ".length)
    : undefined;
}

async function importPrivate(
  key: string | JWK,
): Promise<{ key: KeyLike | Uint8Array; thumbprint: string }> {
  let jwk: JWK;
  let imported: KeyLike | Uint8Array;
  if (typeof key === "string" && !key.trim().startsWith("{")) {
    const pem = await importPKCS8(key.trim(), ALG, { extractable: true });
    jwk = await exportJWK(pem);
    imported = pem;
  } else {
    jwk = typeof key === "string" ? (JSON.parse(key) as JWK) : key;
    imported = await importJWK(jwk, ALG);
  }
  const { kty, crv, x, y } = jwk;
  return {
    key: imported,
    thumbprint: await calculateJwkThumbprint({ kty, crv, x, y }),
  };
}

export class Credential {
  private current: string;
  private readonly baseUrl: string;
  private readonly ready: Promise<void>;
  private privateKey?: KeyLike | Uint8Array;
  private thumbprint?: string;
  private readonly store?: SecretStore;
  private readonly maxPoll: number;
  private readonly fetchImpl: typeof fetch;
  private inFlight?: Promise<boolean>;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private failures = 0;
  private pollAfter = 0;

  constructor(options: CredentialOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.current = options.secret;
    this.store = options.store;
    this.maxPoll = options.maxPollSeconds ?? MAX_WAIT_SECONDS;
    this.fetchImpl = options.fetch ?? fetch;
    this.ready = (async () => {
      const imported = await importPrivate(options.deliveryPrivateKey);
      this.privateKey = imported.key;
      this.thumbprint = imported.thumbprint;
      const saved = await this.store?.load();
      if (saved) this.current = saved;
    })();
    if (options.start !== false) this.schedule(0);
  }

  /** Resolves once the key is imported and a saved secret (if any) is loaded. */
  async loaded(): Promise<void> {
    await this.ready;
  }

  /** The secret to send with the next request. */
  secret(): string {
    return this.current;
  }

  /** `Authorization` and `Keyroll-Client` for a request made now. */
  headers(): Record<string, string> {
    return {
      Authorization: `Bearer ${this.current}`,
      [CLIENT_HEADER]: CLIENT_NAME,
    };
  }

  /**
   * A request was refused (401): refresh once now, shared with every caller that asks
   * meanwhile. Whether the secret changed (then retry the request once). `used`, the
   * secret the refused request carried, lets a caller after the swap retry at once.
   */
  async onUnauthorized(used?: string): Promise<boolean> {
    await this.ready;
    if (used !== undefined && used !== this.current) return true;
    if (!this.inFlight) {
      this.inFlight = this.refresh()
        .catch(() => false)
        .finally(() => {
          this.inFlight = undefined;
        });
    }
    return this.inFlight;
  }

  /** Polls once; fetches, opens and swaps in a waiting successor. Whether it changed. */
  async refresh(): Promise<boolean> {
    await this.ready;
    const held = this.current;
    const state = await this.call("/v1/self/key", held);
    const poll = state["pollAfterSeconds"];
    this.pollAfter = typeof poll === "number" ? poll : MAX_WAIT_SECONDS;
    if (!state["successor"]) return false;
    const sealed = await this.call("/v1/self/successor", held);
    const token = sealed["jwe"];
    if (typeof token !== "string")
      throw new KeyrollError("the successor came without a JWE");
    let opened;
    try {
      opened = await compactDecrypt(token, this.privateKey!, {
        keyManagementAlgorithms: [ALG],
        contentEncryptionAlgorithms: [ENC],
      });
    } catch {
      throw new KeyrollError(
        "the successor does not open with this delivery key",
      );
    }
    if (opened.protectedHeader.kid !== this.thumbprint) {
      throw new KeyrollError("the successor is sealed to another delivery key");
    }
    const next = new TextDecoder().decode(opened.plaintext);
    if (this.current !== held) return true; // another refresh swapped it meanwhile
    this.current = next;
    await this.store?.save(next);
    return true;
  }

  /** Stops the background refresher. */
  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(seconds: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), seconds * 1000);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let base: number;
    try {
      await this.refresh();
      this.failures = 0;
      base = Math.min(this.pollAfter, this.maxPoll);
    } catch {
      // Never logged: the error may name the request.
      this.failures += 1;
      base = Math.min(
        FIRST_BACKOFF_SECONDS * 2 ** (this.failures - 1),
        MAX_BACKOFF_SECONDS,
        this.maxPoll,
      );
    }
    // ±50 %: a fleet started together spreads out.
    this.schedule(base * (0.5 + Math.random()));
  }

  private async call(
    route: string,
    secret: string,
  ): Promise<Record<string, unknown>> {
    let answer: Response;
    try {
      answer = await this.fetchImpl(this.baseUrl + route, {
        headers: {
          Authorization: `Bearer ${secret}`,
          [CLIENT_HEADER]: CLIENT_NAME,
          Accept: "application/json",
        },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      throw new KeyrollError(`GET ${route}: ${(error as Error).name}`);
    }
    if (!answer.ok) {
      await answer.body?.cancel();
      throw new KeyrollError(
        `GET ${route} answered ${answer.status}`,
        answer.status,
      );
    }
    const body: unknown = await answer.json();
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new KeyrollError(
        `GET ${route} answered something that is not an object`,
      );
    }
    return body as Record<string, unknown>;
  }
}
