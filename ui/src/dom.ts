// DOM building with text only. Every string from telemetry is attacker-controlled: it goes into
// the page as a text node or an attribute value, never as markup (no innerHTML anywhere).

export type Child = Node | string | number | null | undefined | false | Child[];

type Handler = (ev: Event) => void;
export type Props = {
  class?: string;
  title?: string;
  href?: string;
  id?: string;
  type?: string;
  value?: string;
  placeholder?: string;
  name?: string;
  for?: string;
  download?: string;
  checked?: boolean;
  disabled?: boolean;
  tabindex?: number;
  role?: string;
  "aria-label"?: string;
  "aria-expanded"?: string;
  "data-testid"?: string;
  "data-id"?: string;
  onclick?: Handler;
  oninput?: Handler;
  onchange?: Handler;
  onsubmit?: Handler;
  onkeydown?: Handler;
};

const SAFE_URL = /^(\/(?!\/)|https?:|#|\?|blob:)/;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") {
        el.addEventListener(k.slice(2), v as Handler);
      } else if (k === "class") {
        el.className = String(v);
      } else if (k === "checked" || k === "disabled") {
        (el as unknown as Record<string, boolean>)[k] = Boolean(v);
      } else if (k === "value") {
        (el as unknown as { value: string }).value = String(v);
      } else if (k === "href") {
        // Only our own paths and plain web links: never a javascript: URL.
        const s = String(v);
        el.setAttribute("href", SAFE_URL.test(s) ? s : "#");
      } else {
        el.setAttribute(k, String(v));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/// A link inside the app: navigates without reloading.
export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h("a", { href, onclick: (e) => navigate(e, href) }, ...children);
}

let router: ((path: string) => void) | null = null;
export function setRouter(r: (path: string) => void): void {
  router = r;
}

function navigate(e: Event, href: string): void {
  const m = e as MouseEvent;
  if (m.ctrlKey || m.metaKey || m.shiftKey || m.button === 1) return;
  e.preventDefault();
  go(href);
}

export function go(href: string): void {
  history.pushState(null, "", href);
  router?.(href);
}

/// A section with a heading.
export function section(title: string, ...children: Child[]): HTMLElement {
  return h("section", { class: "card" }, h("h2", null, title), ...children);
}

export function message(kind: "error" | "info", text: string): HTMLElement {
  return h("div", { class: `msg ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
