/**
 * `sysext-agent self-test`: what the health check of the agent's own extension runs, with the
 * newly merged agent. It loads every module a run can need (in the bundle they are all in one
 * file; from a checkout they are imported here), signs a payload with a fresh key and verifies
 * the envelope, and builds a dm-verity tree, so that an agent whose code, bundle or runtime is
 * broken fails here, and the update that brought it is rolled back.
 */
import { AgentError } from '../errors.ts';

const MODULES = [
  () => import('../commands/check.ts'),
  () => import('../commands/update.ts'),
  () => import('../commands/rollback.ts'),
  () => import('../commands/remove.ts'),
  () => import('../commands/status.ts'),
  () => import('../commands/vacuum.ts'),
  () => import('../transaction/recover.ts'),
  () => import('../commands/rescue.ts'),
  () => import('../publish/publish.ts'),
  () => import('../serve/server.ts'),
  () => import('../net/http.ts'),
  () => import('../net/file-source.ts'),
  () => import('../systemd/tools.ts'),
  () => import('../health/runner.ts'),
  () => import('../store/lock.ts'),
  () => import('../config/load.ts'),
];

export interface SelfTestReport {
  ok: true;
  version: string;
  modules: number;
  checks: string[];
}

export async function selfTest(version: string): Promise<SelfTestReport> {
  for (const load of MODULES) await load();
  const { generateKeyPair, keyIdOf } = await import('../manifest/keys.ts');
  const { signEnvelope, parseEnvelope, verifyEnvelope } = await import('../manifest/dsse.ts');
  const pair = generateKeyPair();
  const payload = Buffer.from(JSON.stringify({ selfTest: version }));
  const envelope = signEnvelope(payload, [pair]);
  const parsed = parseEnvelope(Buffer.from(JSON.stringify(envelope)));
  const trusted = new Map([[keyIdOf(pair.publicKey), pair.publicKey]]);
  const verified = verifyEnvelope(parsed, trusted, 1);
  if (!verified.payload.equals(payload))
    throw new AgentError('SIGNATURE', 'self-test: a fresh signature did not verify');
  const { VerityTreeBuilder } = await import('../verity/tree.ts');
  const tree = new VerityTreeBuilder({
    salt: Buffer.alloc(32),
    uuid: '00000000-0000-0000-0000-000000000000',
  });
  tree.update(Buffer.alloc(4096 * 3, 1));
  const { rootHash } = tree.digest();
  if (!/^[0-9a-f]{64}$/.test(rootHash))
    throw new AgentError('IO', 'self-test: the dm-verity tree gave no root hash');
  return {
    ok: true,
    version,
    modules: MODULES.length,
    checks: ['modules', 'sign-verify', 'verity'],
  };
}
