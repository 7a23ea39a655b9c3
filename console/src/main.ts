// The console's entry: sign-in first, then the session list, or one session when the address names it.

import { ApiError, listSessions } from "./api";
import { currentToken, signOut, takeTokenFromFragment } from "./auth";
import { byId } from "./dom";
import { renderList } from "./list";
import { finishOidcSignIn } from "./oidc";
import { renderSession } from "./session";
import { renderSignIn } from "./signin";

function start(oidcRefusal: string): void {
  takeTokenFromFragment();
  const main = byId<HTMLElement>("main");
  const signOutButton = byId<HTMLButtonElement>("sign-out");
  signOutButton.addEventListener("click", () => {
    signOut();
    signOutButton.hidden = true;
    renderSignIn(main, route);
  });

  function route(): void {
    if (!currentToken()) {
      signOutButton.hidden = true;
      renderSignIn(main, route);
      return;
    }
    signOutButton.hidden = false;
    const session = new URLSearchParams(location.search).get("session");
    if (session) renderSession(main, session);
    else renderList(main);
  }

  if (!currentToken()) {
    if (oidcRefusal) renderSignIn(main, route, oidcRefusal);
    else route();
    return;
  }
  // A stored token may have expired since: ask once, and offer sign-in again if it did.
  listSessions({ q: "", state: "", project: "", tags: [] }, null, 1).then(route, (error: unknown) => {
    if (error instanceof ApiError && error.status === 401) {
      signOut();
      signOutButton.hidden = true;
      renderSignIn(main, route, "Your token was not accepted (it may have expired). Sign in again.");
    } else {
      route();
    }
  });
}

void finishOidcSignIn().then(start);
