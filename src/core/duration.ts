import { UsageError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a kubectl-style duration: Go's time.ParseDuration units (ms, s, m, h, combined as in "1m30s"),
 * or a bare integer meaning seconds, as kubectl's --request-timeout accepts. "0" means no limit.
 */
export function parseDuration(flag: string, text: string): number {
  const value = text.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (value === '' || parts.map((p) => p[0]).join('') !== value) {
    throw new UsageError(`invalid duration "${text}" for --${flag}: use a number with a unit, e.g. 30s, 2m or 1h30m`);
  }
  return Math.round(parts.reduce((sum, [, n, unit]) => sum + Number(n) * UNIT_MS[unit!]!, 0));
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
