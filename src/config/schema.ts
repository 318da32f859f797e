/** Host configuration, PRODUCT.md section 4: all defaults in one object. */
import { z } from 'zod';
import { pathToFileURL } from 'node:url';
import { extensionName, versionString } from '../manifest/schema.ts';

export const CONFIG_DEFAULTS = Object.freeze({
  trustedKeys: '/etc/sysext-agent/keys',
  threshold: 1,
  keep: 2,
  // Off by default: a kernel without device-mapper (containers, some VMs) cannot set up
  // dm-verity, and systemd then refuses to merge an image that has sidecars.
  veritySidecars: false,
  refresh: true,
  healthTimeoutSec: 30,
  network: Object.freeze({
    connectTimeoutSec: 15,
    idleTimeoutSec: 30,
    attempts: 5,
    maxTotalSec: 900,
    // Slow retrieval (TUF): total time for one fetch of the manifest (or a keys document), and
    // the least an image must average over each window (docs/operations.md, "Slow servers").
    documentTimeoutSec: 60,
    minBytesPerSec: 1024,
    rateWindowSec: 60,
  }),
});

/** An http(s) URL, a file:// URL or an absolute path (a local repository: USB stick, media). */
function repositoryBase(u: string): string | null {
  if (u.startsWith('/')) return pathToFileURL(u).href;
  if (!URL.canParse(u)) return null;
  const url = new URL(u);
  if (url.protocol === 'file:' && url.host !== '') return null;
  return /^(https?|file):$/.test(url.protocol) ? url.href : null;
}

const repositoryUrl = z
  .string()
  .refine(
    (u) => repositoryBase(u) !== null,
    'must be an http(s) URL, a file:// URL or an absolute path',
  )
  // The manifest is at URL + "manifest.json": a base without "/" would lose its last segment.
  .transform((u) => {
    const base = repositoryBase(u) as string;
    return base.endsWith('/') ? base : `${base}/`;
  });

const positive = z
  .number()
  .positive()
  .max(86_400 * 365);

const extensionConfig = z.strictObject({
  healthCheck: z.array(z.string().min(1)).min(1).optional(),
  healthTimeoutSec: positive.default(CONFIG_DEFAULTS.healthTimeoutSec),
  /** Install exactly this version when it is available and compatible, and no other. */
  pin: versionString.optional(),
});

export const configSchema = z.strictObject({
  repositories: z.array(repositoryUrl).min(1),
  trustedKeys: z.string().min(1).default(CONFIG_DEFAULTS.trustedKeys),
  threshold: z.number().int().min(1).default(CONFIG_DEFAULTS.threshold),
  extensions: z.record(extensionName, extensionConfig),
  keep: z.number().int().min(2).default(CONFIG_DEFAULTS.keep),
  veritySidecars: z.boolean().default(CONFIG_DEFAULTS.veritySidecars),
  refresh: z.boolean().default(CONFIG_DEFAULTS.refresh),
  /** Prometheus textfile written after every run (src/metrics); under --root when given. */
  metrics: z
    .string()
    .refine((p) => p.startsWith('/') && !p.endsWith('/'), 'must be an absolute file path')
    .optional(),
  network: z
    .strictObject({
      connectTimeoutSec: positive.default(CONFIG_DEFAULTS.network.connectTimeoutSec),
      idleTimeoutSec: positive.default(CONFIG_DEFAULTS.network.idleTimeoutSec),
      attempts: z.number().int().min(1).max(100).default(CONFIG_DEFAULTS.network.attempts),
      maxTotalSec: positive.default(CONFIG_DEFAULTS.network.maxTotalSec),
      documentTimeoutSec: positive.default(CONFIG_DEFAULTS.network.documentTimeoutSec),
      minBytesPerSec: z.number().int().min(0).default(CONFIG_DEFAULTS.network.minBytesPerSec),
      rateWindowSec: positive.default(CONFIG_DEFAULTS.network.rateWindowSec),
    })
    .default({ ...CONFIG_DEFAULTS.network }),
});

export type Config = z.infer<typeof configSchema>;
export type ExtensionConfig = z.infer<typeof extensionConfig>;
