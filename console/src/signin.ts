// Signing in by pasting a token: it is checked against the API before it is kept.

import { listSessions } from "./api";
import { signOut, storeToken } from "./auth";
import { h, replaceChildren } from "./dom";
import { offerOidc } from "./oidc";

export function renderSignIn(main: HTMLElement, done: () => void, message = ""): void {
  const field = h("textarea", {
    id: "token",
    name: "token",
    rows: "4",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "token-help",
  });
  const error = h("p", { id: "sign-in-error", class: "error", role: "alert" }, message);
  const form = h(
    "form",
    { class: "card sign-in", "aria-labelledby": "sign-in-title" },
    h("h2", { id: "sign-in-title" }, "Sign in"),
    h("label", { for: "token" }, "Access token"),
    field,
    h("p", { id: "token-help", class: "hint" }, "Paste a bearer token (JWT). It is kept in this tab only."),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    storeToken(field.value.trim());
    listSessions({ q: "", state: "", project: "", tags: [] }, null, 1).then(done, () => {
      signOut();
      error.textContent = "This token was not accepted.";
      field.focus();
    });
  });
  offerOidc(form, error);
  replaceChildren(main, form);
  field.focus();
}
