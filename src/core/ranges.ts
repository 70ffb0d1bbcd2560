// Ordinal lists in the compact form kubectl users read: "0-99,120,140-149". Order is kept: a list
// is split into runs of consecutive numbers, so a walk-back plan keeps its order too.

export function toRanges(ordinals: readonly number[]): string {
  const runs: string[] = [];
  for (let i = 0; i < ordinals.length; ) {
    let j = i;
    while (j + 1 < ordinals.length && ordinals[j + 1] === ordinals[j]! + 1) j++;
    runs.push(j === i ? `${ordinals[i]}` : `${ordinals[i]}-${ordinals[j]}`);
    i = j + 1;
  }
  return runs.join(',');
}

/** The inverse of toRanges; undefined when the text is not a list of ordinals and ascending ranges. */
export function fromRanges(text: string): number[] | undefined {
  if (text === '') return [];
  const out: number[] = [];
  for (const run of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(run);
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to - from > 1_000_000) return undefined;
    for (let o = from; o <= to; o++) out.push(o);
  }
  return out;
}

/** Two range lists one after the other, the seam joined when it runs on ("0-4" + "5-9" is "0-9"). */
export function joinRanges(a: string, b: string): string {
  if (a === '') return b;
  if (b === '') return a;
  const tail = /(?:^|,)(\d+)(?:-(\d+))?$/.exec(a)!;
  const head = /^(\d+)(?:-(\d+))?(?:,|$)/.exec(b)!;
  const end = Number(tail[2] ?? tail[1]);
  if (Number(head[1]) !== end + 1) return `${a},${b}`;
  const start = tail[1]!;
  const to = head[2] ?? head[1];
  return `${a.slice(0, a.length - tail[0].length)}${tail[0].startsWith(',') ? ',' : ''}${start}-${to}${b.slice(head[0].length - (head[0].endsWith(',') ? 1 : 0))}`;
}
