/** A few lines instead of a framework: elements built from data, text always set as text (never HTML). */

type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | boolean | number | null | undefined | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** Replaces an element's children. */
export function fill(element: Element, ...children: (Child | Child[])[]): void {
  element.replaceChildren(...children.flat().filter((child): child is Node | string => Boolean(child)));
}

/** 1234 → "1.2s", 80 → "80ms", 75000 → "1m15s". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${Math.round((ms % 60_000) / 1000)}s`;
}

export function time(iso: string | null): string {
  return iso ? new Date(iso).toLocaleTimeString() : "";
}

/** Request UIDs are long: the start is enough to tell them apart on screen (the whole one is the title). */
export function shortUid(uid: string): string {
  return uid.length > 12 ? `${uid.slice(0, 10)}…` : uid;
}
