// Signing in through an OpenID Connect provider, when the gateway names one (/console/config.json): the
// Authorization Code flow with PKCE (S256) for a public client. The endpoints come from the provider's discovery
// document. `state`, `nonce` and the PKCE verifier wait in sessionStorage while the browser is at the provider; the
// code is exchanged from this page and the provider's ID token becomes the bearer token (docs/console.md says why).

import { storeToken } from "./auth";
import { h } from "./dom";

interface OidcConfig {
  issuer: string;
  client_id: string;
  scopes: string;
}

/** A sign-in under way: what the answer coming back must match, and how to finish it. */
interface Pending {
  state: string;
  nonce: string;
  verifier: string;
  issuer: string;
  clientId: string;
  tokenEndpoint: string;
  redirectUri: string;
  // Where the person was (e.g. ?session=...), to go back to once signed in.
  returnTo: string;
}

const PENDING = "session-gateway.oidc";
// What a provider may add to the address on its way back; all of it leaves the address bar at once.
const ANSWER_FIELDS = ["code", "state", "error", "error_description", "error_uri", "iss", "session_state"];

let configured: Promise<OidcConfig | null> | null = null;

function config(): Promise<OidcConfig | null> {
  configured ??= fetch("/console/config.json", { credentials: "omit", cache: "no-store" })
    .then((response) => (response.ok ? response.json() : { oidc: null }))
    .then((body: { oidc: OidcConfig | null }) => body.oidc)
    .catch(() => null);
  return configured;
}

function randomText(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function discover(issuer: string): Promise<{ authorization: string; token: string }> {
  const url = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  const response = await fetch(url, { credentials: "omit", cache: "no-store" });
  if (!response.ok) throw new Error(`its discovery document answered HTTP ${response.status}`);
  const document = (await response.json()) as Record<string, unknown>;
  // OpenID Connect Discovery 4.3: the document must name exactly the issuer it was fetched for.
  if (document["issuer"] !== issuer) throw new Error("its discovery document names another issuer");
  const authorization = document["authorization_endpoint"];
  const token = document["token_endpoint"];
  if (typeof authorization !== "string" || typeof token !== "string") {
    throw new Error("its discovery document lacks the authorization or token endpoint");
  }
  const methods = document["code_challenge_methods_supported"];
  if (Array.isArray(methods) && !methods.includes("S256")) throw new Error("it does not support PKCE with S256");
  // The page may only talk to the issuer's origin (the Content-Security-Policy's connect-src).
  if (new URL(token).origin !== new URL(issuer).origin) {
    throw new Error("its token endpoint is on another origin than the issuer, which the console may not reach");
  }
  return { authorization, token };
}

async function begin(oidc: OidcConfig): Promise<void> {
  const endpoints = await discover(oidc.issuer);
  const pending: Pending = {
    state: randomText(32),
    nonce: randomText(32),
    verifier: randomText(32),
    issuer: oidc.issuer,
    clientId: oidc.client_id,
    tokenEndpoint: endpoints.token,
    redirectUri: `${location.origin}/console/`,
    returnTo: location.search,
  };
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(pending.verifier));
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const target = new URL(endpoints.authorization);
  const fields = {
    response_type: "code",
    client_id: oidc.client_id,
    redirect_uri: pending.redirectUri,
    scope: oidc.scopes,
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: "S256",
  };
  for (const [name, value] of Object.entries(fields)) target.searchParams.set(name, value);
  // A navigation, not a form post: the policy's form-action 'self' does not apply to it.
  location.assign(target.toString());
}

/** Adds "Sign in with <issuer host>" to the sign-in form when a provider is configured. */
export function offerOidc(form: HTMLFormElement, error: HTMLElement): void {
  void config().then((oidc) => {
    if (!oidc) return;
    const button = h("button", { type: "button", class: "primary oidc" }, `Sign in with ${new URL(oidc.issuer).host}`);
    button.addEventListener("click", () => {
      button.disabled = true;
      error.textContent = "";
      begin(oidc).catch((reason: unknown) => {
        button.disabled = false;
        error.textContent = `Sign-in with ${new URL(oidc.issuer).host} is not possible: ${words(reason)}.`;
      });
    });
    const heading = form.querySelector("h2");
    heading?.after(button, h("p", { class: "hint or" }, "or paste a token:"));
  });
}

function words(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split(".")[1] ?? "";
  const text = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = Uint8Array.from(text, (char) => char.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}

/**
 * Finishes a sign-in when the address carries the provider's answer (?code&state, or ?error&state). The answer
 * leaves the address bar before anything else happens. Resolves to "" when there was nothing to finish or the token
 * is kept, and otherwise to what went wrong, in words, for the sign-in page.
 */
export async function finishOidcSignIn(): Promise<string> {
  const answer = new URLSearchParams(location.search);
  if (!answer.has("state") || !(answer.has("code") || answer.has("error"))) return "";
  const pendingText = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  let pending: Pending | null = null;
  try {
    pending = pendingText ? (JSON.parse(pendingText) as Pending) : null;
  } catch {
    // A damaged record is no sign-in under way: the answer is refused below, as one this tab did not ask for.
  }
  const kept = new URLSearchParams(pending?.returnTo ?? "");
  for (const name of ANSWER_FIELDS) kept.delete(name);
  const query = kept.toString();
  history.replaceState(history.state, "", location.pathname + (query ? `?${query}` : ""));

  if (!pending || answer.get("state") !== pending.state) {
    return "The sign-in was refused: the answer that came back does not belong to a sign-in started in this tab (state). Sign in again.";
  }
  const host = new URL(pending.issuer).host;
  const error = answer.get("error");
  if (error !== null) {
    if (error === "access_denied") return `${host} did not allow the sign-in (access denied).`;
    const detail = answer.get("error_description");
    return `${host} refused the sign-in: ${error}${detail ? ` (${detail})` : ""}.`;
  }
  // RFC 9207: a provider that names itself in the answer must be the one the sign-in went to.
  const iss = answer.get("iss");
  if (iss !== null && iss !== pending.issuer) return "The sign-in was refused: the answer came from another issuer.";
  try {
    const response = await fetch(pending.tokenEndpoint, {
      method: "POST",
      credentials: "omit",
      cache: "no-store",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: answer.get("code") ?? "",
        redirect_uri: pending.redirectUri,
        client_id: pending.clientId,
        code_verifier: pending.verifier,
      }),
    });
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok) {
      const why = [body["error"], body["error_description"]].filter((part) => typeof part === "string").join(": ");
      return `${host} did not give a token for this sign-in (HTTP ${response.status}${why ? `, ${why}` : ""}). Sign in again.`;
    }
    const idToken = body["id_token"];
    if (typeof idToken !== "string") return `${host} gave no ID token; the console needs one. Sign in again.`;
    const claims = claimsOf(idToken);
    const audience = claims["aud"];
    const audiences = Array.isArray(audience) ? audience : [audience];
    // The signature is the gateway's to verify; these tie the token to this very sign-in (OpenID Connect 3.1.3.7).
    if (claims["nonce"] !== pending.nonce) return "The sign-in was refused: the ID token is not for this sign-in (nonce).";
    if (claims["iss"] !== pending.issuer || !audiences.includes(pending.clientId)) {
      return "The sign-in was refused: the ID token was issued by or for someone else.";
    }
    storeToken(idToken);
    return "";
  } catch (reason) {
    return `The token could not be fetched from ${host} (${words(reason)}). Its token endpoint must allow this origin (CORS).`;
  }
}
