// keyroll's client: an API key that rolls itself over in process.
//
//   const credential = new Credential({
//     baseUrl: "https://keyroll.example.com",
//     secret: process.env.API_KEY!,
//     deliveryPrivateKey: readFileSync("delivery-key.jwk", "utf8"),
//     store: new FileStore("/var/lib/app/api-key"),
//   });
//   const api = keyrollFetch(credential);
//   await api("https://api.example.com/v1/charges");

export {
  Credential,
  KeyrollError,
  VERSION,
  CLIENT_HEADER,
  CLIENT_NAME,
  type CredentialOptions,
} from "./credential.js";
export { FileStore, CallbackStore, type SecretStore } from "./store.js";
export { keyrollFetch } from "./fetch.js";
export { enroll } from "./cli.js";
