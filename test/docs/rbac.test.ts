// docs/rbac.yaml must grant exactly what src/k8s/ calls: nothing missing (the plugin would be
// refused) and nothing extra (the role would not be least privilege).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

function callsInCode(): string[] {
  const dir = join(root, 'src', 'k8s');
  const found = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/verb: '([a-z]+)', resource: '([a-z/]+)'/g)) found.add(`${m[1]} ${m[2]}`);
  }
  return [...found].sort();
}

function grantedByRole(): string[] {
  const roles = parseAllDocuments(readFileSync(join(root, 'docs', 'rbac.yaml'), 'utf8')).map((d) => d.toJS() as { rules: { resources: string[]; verbs: string[] }[] });
  // A pair may be granted twice: configmaps get in the namespace (the history) and in kube-system (the controller's version).
  return [...new Set(roles.flatMap((role) => role.rules).flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}`))))].sort();
}

describe('docs/rbac.yaml', () => {
  it('grants exactly the verbs and resources the code calls', () => {
    expect(callsInCode().length).toBeGreaterThan(0);
    expect(grantedByRole()).toEqual(callsInCode());
  });
});
