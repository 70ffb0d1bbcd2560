import { describe, expect, it } from 'vitest';
import { toStatusView } from '../../src/core/status-view.js';
import { renderData, renderStatusTable } from '../../src/ui/render.js';
import { colourStyle, plainStyle, useColour } from '../../src/ui/terminal.js';
import { pod, statefulSet } from '../support/fakes.js';

const view = toStatusView(statefulSet({ replicas: 2 }), [
  pod(0, { revision: 'gw-7f9c8d4b5', containers: [{ name: 'gw', image: 'nginx:1.25.4' }, { name: 'log', image: 'fluent-bit:3' }] }),
]);

describe('renderStatusTable', () => {
  it('renders the whole table without colour', () => {
    expect(renderStatusTable(view, plainStyle)).toBe(
      [
        'StatefulSet prod/gw: 2 replicas, 3 ready, 1 at the update revision, strategy OnDelete',
        'Revisions: current gw-5d8f7c6b9, update gw-7f9c8d4b5',
        'Template images: gw=nginx:1.25.4',
        '┌─────────┬──────┬─────────────┬─────────────┬──────────────────┬───────────────┬───────┬─────────┐',
        '│ ORDINAL │ POD  │ IP          │ NODE        │ IMAGES           │ REVISION      │ READY │ STATUS  │',
        '├─────────┼──────┼─────────────┼─────────────┼──────────────────┼───────────────┼───────┼─────────┤',
        '│ 0       │ gw-0 │ 127.10.0.10 │ kwok-node-0 │ gw=nginx:1.25.4  │ new 7f9c8d4b5 │ True  │ Running │',
        '│         │      │             │             │ log=fluent-bit:3 │               │       │         │',
        '├─────────┼──────┼─────────────┼─────────────┼──────────────────┼───────────────┼───────┼─────────┤',
        '│ 1       │ gw-1 │ -           │ -           │ -                │ -             │ -     │ Missing │',
        '└─────────┴──────┴─────────────┴─────────────┴──────────────────┴───────────────┴───────┴─────────┘',
      ].join('\n'),
    );
  });

  it('has no escape codes without colour and some with it', () => {
    expect(renderStatusTable(view, plainStyle)).not.toContain('\x1b[');
    expect(renderStatusTable(view, colourStyle)).toContain('\x1b[32mnew\x1b[39m');
  });
});

describe('renderStatusTable during an upgrade', () => {
  it('says for each confirmed drain what was confirmed, by whom, how and on which evidence', async () => {
    const { planBatches } = await import('../../src/core/upgrade.js');
    const evidence = { verdicts: [{ pod: 'gw-0', state: 'drained' as const, reasons: [] }], zeroPoints: 3, periodSeconds: 60 };
    const record = {
      version: 1, statefulSet: 'gw', startedAt: 'T0', startedBy: 'alice', originalReplicas: 2, ordinalsStart: 0, surge: 0, batchSize: 1,
      originalRevision: 'gw-1', targetRevision: 'gw-2', originalImages: [], targetImages: [{ name: 'gw', image: 'gw:2' }],
      services: [], batches: planBatches(0, 2, 1).map((b, i) => (i === 0 ? { ...b, phase: 'done' as const, confirmation: { by: 'bob', at: 'T1', weightZero: true, connectionsDrained: true, afterSeconds: 200, how: 'evidence' as const, evidence } } : b)),
    };
    const text = renderStatusTable(toStatusView(statefulSet({ replicas: 2 }), [pod(0), pod(1)], record, []), plainStyle);
    expect(text).toContain('  ordinals 0 at T1: weight 0 and connections drained, confirmed by bob on the drain evidence (--require-evidence) 200s after the drain; evidence: gw-0 drained');
  });
});

describe('renderData', () => {
  it('renders JSON and YAML that parse back to the view', async () => {
    expect(JSON.parse(renderData('json', view))).toEqual(view);
    const { parse } = await import('yaml');
    expect(parse(renderData('yaml', view))).toEqual(view);
  });
});

describe('useColour', () => {
  it.each([
    [true, {}, {}, true],
    [false, {}, {}, false],
    [true, { NO_COLOR: '1' }, {}, false],
    [true, { NO_COLOR: '' }, {}, true],
    [true, { TERM: 'dumb' }, {}, false],
    [true, {}, { color: false }, false],
  ])('tty=%s env=%j flags=%j -> %s', (tty, env, flags, expected) => {
    expect(useColour({ isTTY: tty }, env, flags)).toBe(expected);
  });
});
