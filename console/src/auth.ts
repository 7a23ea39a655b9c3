// The bearer token: taken from the URL fragment (which browsers never send to a server) or typed in, kept in
// sessionStorage for this tab only, and removed from the address bar at once.

const KEY = "session-gateway.token";

export function takeTokenFromFragment(): void {
  if (!location.hash.startsWith("#")) return;
  const fields = new URLSearchParams(location.hash.slice(1));
  const token = fields.get("token");
  if (token === null) return;
  if (token.trim()) storeToken(token.trim());
  // The address bar, history and anything reading location no longer hold the token.
  history.replaceState(history.state, "", location.pathname + location.search);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function currentToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}
