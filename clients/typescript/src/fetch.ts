// A `fetch` that sends the credential's secret and the `Keyroll-Client` header, and after
// a 401 refreshes once and retries once (with a body that can be sent again: a string,
// a buffer, form data — not a one-shot stream).

import { CLIENT_HEADER, CLIENT_NAME, type Credential } from "./credential.js";

export function keyrollFetch(
  credential: Credential,
  fetchImpl: typeof fetch = fetch,
): typeof fetch {
  const send = async (
    input: RequestInfo | URL,
    init: RequestInit | undefined,
  ): Promise<[Response, string]> => {
    const secret = credential.secret();
    const headers = new Headers(
      init?.headers ?? (input instanceof Request ? input.headers : undefined),
    );
    headers.set("Authorization", `Bearer ${secret}`);
    headers.set(CLIENT_HEADER, CLIENT_NAME);
    return [await fetchImpl(input, { ...init, headers }), secret];
  };
  return async (input, init) => {
    const [first, used] = await send(input, init);
    if (first.status !== 401) return first;
    if (!(await credential.onUnauthorized(used))) return first;
    await first.body?.cancel();
    const [retried] = await send(input, init);
    return retried;
  };
}
