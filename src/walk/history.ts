// Writes the upgrade history ConfigMap as the walk goes: read, change the upgrade's entry, write
// back conditionally on the version read; a conflict (another walk of the same StatefulSet's
// history, a colleague's edit) reads again and applies the change again, so no entry is lost.
import { CliError, GateError } from '../core/errors.js';
import { HISTORY_LABEL, decodeHistory, historyConfigMapName, historyPatch, takenNumbers, withEntry, type DecodedHistory, type HistoryEntry } from '../core/history.js';
import type { UpgradeRecord } from '../core/upgrade.js';
import { FIELD_MANAGER_NAME, type Cluster, type ConfigMapState } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';

/** The version last written per cluster and ConfigMap: the next write needs no read when nobody else wrote. */
const lastWritten = new WeakMap<Cluster, Map<string, ConfigMapState>>();

export async function readHistory(cluster: Cluster, statefulSet: string): Promise<DecodedHistory> {
  const cm = await cluster.readConfigMap(historyConfigMapName(statefulSet));
  return decodeHistory(cm?.data);
}

/**
 * Applies `change` to the record's history entry. `required`: a confirmation about to be acted on
 * (a deletion, a scale-down) is written first or not acted on; anything else only warns.
 */
export async function writeHistory(env: { cluster: Cluster; ui: Ui }, record: UpgradeRecord, change: (e: HistoryEntry) => HistoryEntry, required = false): Promise<void> {
  const { cluster } = env;
  const name = historyConfigMapName(record.statefulSet);
  const cache = lastWritten.get(cluster) ?? new Map<string, ConfigMapState>();
  lastWritten.set(cluster, cache);
  try {
    let state = cache.get(name) ?? (await cluster.readConfigMap(name));
    for (let attempt = 1; ; attempt++) {
      const live = decodeHistory(state?.data);
      const entries = withEntry(live.entries, record, change, takenNumbers(live));
      try {
        // A merge patch of our keys and labels only: whatever else is on the ConfigMap stays.
        state = await cluster.writeConfigMap(name, state?.resourceVersion, historyPatch(entries, state?.data), { [HISTORY_LABEL]: record.statefulSet, 'app.kubernetes.io/managed-by': FIELD_MANAGER_NAME });
        cache.set(name, state);
        return;
      } catch (e) {
        if ((e as { status?: number }).status !== 409 || attempt >= 5) throw e;
        state = await cluster.readConfigMap(name);
      }
    }
  } catch (e) {
    cache.delete(name);
    const what = `could not write the upgrade history (configmap "${name}"): ${(e as Error).message}`;
    if (required) {
      const message = `${what}. Nothing was deleted or scaled down: the confirmation must be on record first. Fix what stops the write (for a permission, see docs/rbac.yaml), then run the same command again`;
      // A refusal of the API keeps its exit code (1, as every other API refusal); anything else is
      // the gate. By shape, not class: the Kubernetes layer is a bundle of its own.
      const code = (e as { exitCode?: unknown }).exitCode;
      throw typeof code === 'number' ? new CliError(message, code) : new GateError(message);
    }
    env.ui.warn(what);
  }
}
