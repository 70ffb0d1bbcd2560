// What differs between two pod templates (ControllerRevision data), as lines a person reads. Pure.

const MAX_LINES = 20;
const show = (v: unknown) => (v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v));

function walk(a: unknown, b: unknown, path: string, out: string[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  const named = (v: unknown) => Array.isArray(v) && v.every((x) => x && typeof x === 'object' && typeof (x as { name?: unknown }).name === 'string');
  if (named(a) && named(b)) {
    // Containers, volumes, env: matched by name, not position.
    const byName = (v: { name: string }[]) => new Map(v.map((x) => [x.name, x]));
    const ma = byName(a as { name: string }[]);
    const mb = byName(b as { name: string }[]);
    for (const n of new Set([...ma.keys(), ...mb.keys()])) walk(ma.get(n), mb.get(n), `${path}[${n}]`, out);
    return;
  }
  const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  // A map that appears or goes (annotations, a nodeSelector) is shown key by key.
  if ((isObject(a) || a === undefined) && (isObject(b) || b === undefined)) {
    const ra = (a ?? {}) as Record<string, unknown>;
    const rb = (b ?? {}) as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(ra), ...Object.keys(rb)])].sort()) if (k !== '$patch') walk(ra[k], rb[k], path ? `${path}.${k}` : k, out);
    return;
  }
  out.push(`${path}: ${show(a)} -> ${show(b)}`);
}

/** The fields that differ from `from` to `to`, one line each (at most 20, then how many more). */
export function templateChanges(from: unknown, to: unknown): string[] {
  const out: string[] = [];
  walk(from, to, '', out);
  return out.length > MAX_LINES ? [...out.slice(0, MAX_LINES), `... and ${out.length - MAX_LINES} more`] : out;
}

/** The container images a ControllerRevision's patch puts back (its spec.template.spec.containers). */
export function revisionImages(patch: unknown): { name: string; image: string }[] {
  const containers = (patch as { spec?: { template?: { spec?: { containers?: { name?: unknown; image?: unknown }[] } } } })?.spec?.template?.spec?.containers;
  return (containers ?? []).flatMap((c) => (typeof c.name === 'string' && typeof c.image === 'string' ? [{ name: c.name, image: c.image }] : []));
}
