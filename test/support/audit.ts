// The plugin's API calls as the API server's audit log records them (the e2e cluster logs the
// operator identity only, one line per completed request): a mark before a command, the calls
// after it, for one namespace. Shared by the scale tests and bench:scale.
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export interface AuditedCall {
  verb: string;
  /** resource[/subresource], e.g. pods/eviction. */
  resource: string;
  name?: string;
  code?: number;
  /** When the API server received the request and completed the response (ms): a watch spans its wait. */
  receivedAt: number;
  completedAt: number;
}

export class AuditLog {
  constructor(
    private readonly path: string,
    private readonly user = 'zlu-operator',
  ) {}

  /** Where the log ends now: calls after this mark are what follows. */
  mark(): number {
    return statSync(this.path).size;
  }

  /** The operator's calls in `namespace` since `mark` (a rotated log is read from its start). */
  callsSince(mark: number, namespace: string): AuditedCall[] {
    const size = statSync(this.path).size;
    const from = size < mark ? 0 : mark;
    const buf = Buffer.alloc(size - from);
    const fd = openSync(this.path, 'r');
    try {
      readSync(fd, buf, 0, buf.length, from);
    } finally {
      closeSync(fd);
    }
    const calls: AuditedCall[] = [];
    for (const line of buf.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as {
        user?: { username?: string };
        verb: string;
        objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
        responseStatus?: { code?: number };
        requestReceivedTimestamp: string;
        stageTimestamp: string;
      };
      if (e.user?.username !== this.user || e.objectRef?.namespace !== namespace) continue;
      const r = e.objectRef;
      calls.push({ verb: e.verb, resource: r.subresource ? `${r.resource}/${r.subresource}` : r.resource ?? '', ...(r.name ? { name: r.name } : {}), ...(e.responseStatus?.code ? { code: e.responseStatus.code } : {}), receivedAt: Date.parse(e.requestReceivedTimestamp), completedAt: Date.parse(e.stageTimestamp) });
    }
    return calls;
  }
}

/** "verb resource" -> how many, for messages and docs. */
export function tally(calls: AuditedCall[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of calls) out[`${c.verb} ${c.resource}`] = (out[`${c.verb} ${c.resource}`] ?? 0) + 1;
  return out;
}
