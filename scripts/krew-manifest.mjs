// Renders the krew plugin manifest from built archives: version, real sha256 per platform, .exe on Windows.
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';

export const RELEASES = 'https://github.com/kubectl-zerolossupgrade/kubectl-zerolossupgrade';
export const SHORT_DESCRIPTION = 'Zero-loss OnDelete StatefulSet upgrades on TKE CLB';

const DESCRIPTION = `Upgrades a StatefulSet with updateStrategy OnDelete behind a Tencent Cloud TKE
CLB load balancer in direct-to-pod mode, one pod or batch at a time, without
losing a request. For each batch it sets the pods' CLB weight to 0 through the
Service annotation service.cloud.tencent.com/lb-rs-weight, waits for a human
to confirm that the CLB shows weight 0 and the connections have drained, then
deletes the pods so they come back with the new image, checks them and gives
them their traffic back. Every step is recorded on the StatefulSet, so an
interrupted upgrade resumes where it stopped.`;

const CAVEATS = `Run "kubectl zerolossupgrade --help" to start. The commands need to read and
patch statefulsets and services, list and watch pods, evict pods (pods/eviction create), create events
and hold a lease: see docs/rbac.yaml in the repository for the minimal Role.

On macOS on Apple silicon the binary is unsigned; sign it once with:
  codesign --force --sign - "$(command -v kubectl-zerolossupgrade)"`;

const indent = (text, n) => text.split('\n').map((l) => (l ? ' '.repeat(n) + l : l)).join('\n');

export function renderKrewManifest(version, archives, targets) {
  if (SHORT_DESCRIPTION.length > 50) throw new Error('krew cuts shortDescription at 50 characters');
  const platforms = Object.entries(archives).map(([target, a]) => {
    const t = targets[target];
    return [
      `  - selector:`,
      `      matchLabels:`,
      `        os: ${t.os}`,
      `        arch: ${t.arch}`,
      `    uri: ${RELEASES}/releases/download/${version}/${basename(a.file)}`,
      `    sha256: ${a.sha256}`,
      `    bin: kubectl-zerolossupgrade${t.os === 'windows' ? '.exe' : ''}`,
    ].join('\n');
  });
  return [
    'apiVersion: krew.googlecontainertools.github.com/v1alpha2',
    'kind: Plugin',
    'metadata:',
    '  name: zerolossupgrade',
    'spec:',
    `  version: ${version}`,
    `  homepage: ${RELEASES}`,
    `  shortDescription: ${SHORT_DESCRIPTION}`,
    '  description: |',
    indent(DESCRIPTION, 4),
    '  caveats: |',
    indent(CAVEATS, 4),
    '  platforms:',
    ...platforms,
    '',
  ].join('\n');
}

export function writeKrewManifest(path, version, archives, targets) {
  writeFileSync(path, renderKrewManifest(version, archives, targets));
}
