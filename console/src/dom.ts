// Elements made from data. User data only ever becomes text nodes or attribute values: never markup.

type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : value);
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

export function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

/** Runs `work` with `button` disabled until it settles: a second click cannot send the same request twice. */
export async function whileBusy<T>(button: HTMLButtonElement, work: () => Promise<T>): Promise<T> {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** A form control under its visible label (the label names it for screen readers too); `more` follows it. */
export function labelled(id: string, label: string, control: HTMLElement, ...more: Child[]): HTMLDivElement {
  return h("div", { class: "field" }, h("label", { for: id }, label), control, ...more);
}

/** A text field that takes each value `follow` is given until the user types in it: then it keeps theirs. */
export function followingField(id: string, name: string, initial: string): { input: HTMLInputElement; follow: (value: string) => void } {
  const input = h("input", { type: "text", id, name, autocomplete: "off" });
  input.value = initial;
  let edited = false;
  input.addEventListener("input", () => (edited = true));
  return {
    input,
    follow: (value) => {
      if (!edited) input.value = value;
    },
  };
}
