// Turns view models into text. No I/O here: the Ui writes what these return.
// Commands import this lazily: cli-table3 and yaml cost start-up time that --help should not pay.
import Table from 'cli-table3';
import { stringify } from 'yaml';
import type { EvidenceView } from '../core/evidence.js';
import type { HistorySoak, HistoryBatch, HistoryConfirmation, HistoryEntry } from '../core/history.js';
import type { StatusView } from '../core/status-view.js';
import { confirmationText } from '../core/upgrade.js';
import type { Style } from './terminal.js';

import type { OutputFormat } from './formats.js';

export function renderData(format: Exclude<OutputFormat, 'table'>, data: unknown): string {
  return format === 'json' ? JSON.stringify(data, null, 2) : stringify(data).trimEnd();
}

export function table(head: string[], rows: string[][], style: Style): string {
  const coloured = style.bold('x') !== 'x';
  const t = new Table({
    head: head.map((h) => style.bold(h)),
    style: coloured ? { head: [], border: ['grey'] } : { head: [], border: [] },
  });
  t.push(...rows);
  return t.toString();
}

/** The short form of a ControllerRevision name: its hash suffix. */
const shortRevision = (rev: string | null) => (rev ? rev.slice(rev.lastIndexOf('-') + 1) : '-');

export function renderStatusTable(view: StatusView, style: Style): string {
  const s = view.statefulSet;
  const images = s.images.map((c) => `${c.name}=${c.image}`).join(', ');
  const header = [
    `${style.bold(`StatefulSet ${s.namespace}/${s.name}`)}: ${s.replicas} replicas, ${s.readyReplicas} ready, ${s.updatedReplicas} at the update revision, strategy ${s.updateStrategy}`,
    `Revisions: current ${s.currentRevision ?? '-'}, update ${s.updateRevision ?? '-'}${s.currentRevision === s.updateRevision ? ' (no change pending)' : ''}`,
    `Template images: ${images}`,
  ];
  const u = view.upgrade;
  if (u) {
    header.push(
      `${style.bold('Upgrade')}${u.undoOf !== undefined ? ` (a walk back${u.undoOf === null ? '' : ` of upgrade ${u.undoOf}`})` : ''}: ${u.phase}, ${u.upgraded} of ${u.total} upgraded${u.batch ? `, batch ${u.batch.index} of ${u.batch.of} ${u.batch.phase}` : ''}; started by ${u.startedBy} at ${u.startedAt}`,
    );
    for (const c of u.confirmations) header.push(`  ${c.what} at ${c.at}: ${confirmationText(c)}`);
    if (u.batch && u.batch.index > 1) header.push(`  earlier confirmations: kubectl zerolossupgrade history ${s.name} -n ${s.namespace}`);
    if (u.soak) {
      header.push(
        u.soak.failed
          ? style.red(`  soak of ${u.soak.subject} FAILED at ${u.soak.failed.at}: ${u.soak.failed.reason}`)
          : `  soak of ${u.soak.subject}: started ${u.soak.startedAt}, ends ${u.soak.endsAt}; resume it with kubectl zerolossupgrade next ${s.name} -n ${s.namespace}`,
      );
    }
  }
  const rows = view.pods.map((p) => [
    String(p.ordinal),
    p.pod,
    p.ip ?? '-',
    p.node ?? '-',
    p.images.map((c) => `${c.name}=${c.image}`).join('\n') || '-',
    p.exists ? `${p.revisionState === 'new' ? style.green('new') : p.revisionState === 'old' ? style.yellow('old') : 'unknown'} ${shortRevision(p.revision)}` : '-',
    p.exists ? (p.ready ? style.green('True') : style.red('False')) : '-',
    p.phase,
    ...(u ? [p.step ?? '-', Object.entries(p.weights ?? {}).map(([k, w]) => `${k}=${w}`).join('\n') || '-'] : []),
  ]);
  const head = ['ORDINAL', 'POD', 'IP', 'NODE', 'IMAGES', 'REVISION', 'READY', 'STATUS', ...(u ? ['STEP', 'WEIGHT'] : [])];
  return [...header, table(head, rows, style)].join('\n');
}

const VERDICT_TEXT = { drained: 'drained', 'not-yet': 'not yet', unknown: 'unknown' } as const;

/** The drain evidence beside the prompt: the CLB and monitor table, then one verdict per pod. */
export function renderEvidence(view: EvidenceView, style: Style): string {
  const colour = { drained: style.green, 'not-yet': style.yellow, unknown: style.red } as const;
  const period = view.periodSeconds ? ` (last points, ${view.periodSeconds}s each)` : '';
  const lines = [
    table(['POD', 'SERVICE LISTENER', 'WEIGHT', 'HEALTH', `CONNECTIONS${period}`, 'TREND'], view.rows.map((r) => [r.pod, r.listener, String(r.weight), r.healthy === undefined ? '-' : r.healthy ? 'healthy' : 'unhealthy', r.connections, r.trend]), style),
  ];
  for (const v of view.verdicts) {
    const why = v.verdict.reasons.length ? `: ${v.verdict.reasons.join('; ')}` : '';
    lines.push(`  ${v.pod} (${v.ip ?? 'no IP'}, CLB readiness gate ${v.gate}): ${colour[v.verdict.state](VERDICT_TEXT[v.verdict.state])}${why}`);
  }
  if (view.verdicts.length === 0) return lines.join('\n');
  lines.push(`  service controller version ${view.controllerVersion}`);
  if (view.events.length === 0) lines.push('  no service controller events since the drain yet');
  for (const e of view.events) lines.push(`  ${e}`);
  return lines.join('\n');
}

const imagesOf = (images: { name: string; image: string }[]) => images.map((c) => `${c.name}=${c.image}`).join(', ');
const HOW_TEXT = { prompt: 'at the prompt', yes: '--yes', evidence: 'on the evidence', 'forced-after-timeout': 'FORCED after --drain-timeout' } as const;

/** The past upgrades, newest first, one line each (as `kubectl rollout history`). */
export function renderHistoryList(entries: HistoryEntry[], style: Style): string {
  const rows = entries.map((e) => [
    String(e.number),
    e.kind === 'undo' ? (e.undoOf !== undefined ? `undo of ${e.undoOf}` : 'undo') : 'upgrade',
    e.startedAt,
    e.startedBy,
    `${shortRevision(e.fromRevision)} ${imagesOf(e.fromImages)}`,
    `${shortRevision(e.toRevision ?? null)} ${imagesOf(e.toImages)}`,
    e.outcome === 'finished' ? style.green(e.outcome) : e.outcome === 'in progress' ? e.outcome : style.yellow(e.outcome),
    String(e.batches.reduce((n, b) => n + (b.folded ?? 1), 0) + (e.omittedBatches ?? 0)),
    e.endedAt ?? '-',
  ]);
  return [table(['UPGRADE', 'KIND', 'STARTED', 'BY', 'FROM', 'TO', 'OUTCOME', 'BATCHES', 'ENDED'], rows, style), 'One upgrade with every confirmation: --upgrade NUMBER'].join('\n');
}

const confirmedText = (c?: HistoryConfirmation) => (c ? `${c.by} ${HOW_TEXT[c.how]}${c.connectionsDrained ? '' : ', connections NOT drained'}` : '-');

function soakText(k: HistorySoak, style: Style): string {
  const head = `${k.outcome} after ${k.seconds}s${k.by ? ` (${k.by})` : ''}`;
  const text = [head, ...k.readings].join('\n');
  return k.outcome === 'passed' ? text : style.red(text);
}

/** One upgrade: what it went from and to, how it ended, and every batch with its confirmation. */
export function renderHistoryEntry(e: HistoryEntry, style: Style): string {
  const lines = [
    `${style.bold(`Upgrade ${e.number} of statefulset ${e.statefulSet}`)}${e.kind === 'undo' ? (e.undoOf !== undefined ? ` (walks back upgrade ${e.undoOf})` : ' (a walk back)') : ''}: ${e.outcome}`,
    `Started: ${e.startedAt} by ${e.startedBy}; ${e.replicas} replicas, batches of ${e.batchSize}, surge ${e.surge}`,
    `From: revision ${e.fromRevision} ${imagesOf(e.fromImages)}`,
    `To: revision ${e.toRevision ?? '-'} ${imagesOf(e.toImages)}`,
  ];
  if (e.rollback) lines.push(`Rolled back: ${e.rollback.at} by ${e.rollback.by}${e.rollback.trigger === 'soak' ? ' (triggered by a failed soak, --on-failure rollback)' : ''}; the walk then went back to revision ${e.fromRevision}`);
  if (e.surgeSoak) lines.push(`Surge pods soaked before the first batch: ${soakText(e.surgeSoak, style).replace(/\n/g, '; ')}`);
  if (e.endedAt) lines.push(`Ended: ${e.endedAt} by ${e.endedBy ?? '-'}`);
  if (e.omittedBatches) lines.push(style.yellow(`The oldest ${e.omittedBatches} batches are left out to keep the history within its size`));
  const row = (b: HistoryBatch) => [
    `${b.number}${b.folded ? `-${b.number + b.folded - 1}` : ''}${b.walk === 'back' ? ' back' : ''}`,
    b.ordinals,
    b.drainedAt ?? '-',
    b.confirmation?.at ?? '-',
    [
      b.confirmation?.how === 'forced-after-timeout' || b.confirmation?.connectionsDrained === false ? style.red(confirmedText(b.confirmation)) : confirmedText(b.confirmation),
      // Earlier confirmations of the same batch (its drain was undone and confirmed again): pods may have left under them.
      ...(b.superseded ?? []).map((c) => style.yellow(`before: ${confirmedText(c)} at ${c.at}`)),
    ].join('\n'),
    b.confirmation ? `${b.folded ? 'up to ' : ''}${b.confirmation.afterSeconds}s` : '-',
    b.confirmation?.evidence ?? '-',
    b.rebuiltAt ?? '-',
    b.restoredAt ?? '-',
    b.soak ? soakText(b.soak, style) : '-',
  ];
  const rows = e.batches.map(row);
  if (e.surgeDrain) rows.push(['surge', e.surgeDrain.ordinals, e.surgeDrain.drainedAt ?? '-', e.surgeDrain.confirmation?.at ?? '-', confirmedText(e.surgeDrain.confirmation), e.surgeDrain.confirmation ? `${e.surgeDrain.confirmation.afterSeconds}s` : '-', e.surgeDrain.confirmation?.evidence ?? '-', '-', '-', '-']);
  if (rows.length === 0) return [...lines, 'No batch walked yet'].join('\n');
  return [...lines, table(['BATCH', 'ORDINALS', 'DRAINED', 'CONFIRMED', 'CONFIRMED BY', 'AFTER DRAIN', 'EVIDENCE', 'REBUILT', 'RESTORED', 'SOAK'], rows, style)].join('\n');
}
