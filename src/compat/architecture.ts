// The host architecture as systemd-sysext compares it with an image's ARCHITECTURE=.
// extension_release_validate() (v252 src/shared/extension-release.c, v257.13
// src/shared/extension-util.c) compares against architecture_to_string(uname_architecture()):
// the *kernel's* uname machine, mapped by the table arch_map in uname_architecture()
// (src/basic/architecture.c, identical in v252 and v257.13), not the architecture systemd or
// the agent was built for. So a 32-bit userland on a 64-bit kernel is the 64-bit architecture,
// and a little-endian MIPS is plain "mips" (uname says "mips"; "mips-le" never comes out).

/** architecture_table[] in src/basic/architecture.c (v252 and v257.13): every valid name. */
export const SYSTEMD_ARCHITECTURES: readonly string[] = [
  'arm64',
  'arm64-be',
  'arm',
  'arm-be',
  'alpha',
  'arc',
  'arc-be',
  'cris',
  'x86-64',
  'x86',
  'ia64',
  'loongarch64',
  'm68k',
  'mips64-le',
  'mips64',
  'mips-le',
  'mips',
  'nios2',
  'parisc64',
  'parisc',
  'ppc64-le',
  'ppc64',
  'ppc',
  'ppc-le',
  'riscv32',
  'riscv64',
  's390x',
  's390',
  'sh64',
  'sh',
  'sparc64',
  'sparc',
  'tilegx',
];

function rows(arch: string, machines: string): [string, string][] {
  return machines.split(' ').map((m) => [m, arch]);
}

/**
 * arch_map[] of uname_architecture(), all build families merged (systemd compiles in only its
 * own family's rows; a kernel reports a machine of that family). The bare "riscv" row is left
 * out: its meaning depends on the pointer size systemd was built with.
 */
const UNAME_ARCH = new Map<string, string>([
  ['aarch64', 'arm64'],
  ['aarch64_be', 'arm64-be'],
  ...rows('arm', 'armv8l armv7ml armv7l armv6l armv5tl armv5tel armv5tejl armv4tl armv4l'),
  ...rows('arm-be', 'armv8b armv7mb armv7b armv6b armv5tejb armv5teb armv5tb armv4tb armv4b'),
  ['alpha', 'alpha'],
  ['arc', 'arc'],
  ['arceb', 'arc-be'],
  ['crisv32', 'cris'],
  ['x86_64', 'x86-64'],
  ...rows('x86', 'i686 i586 i486 i386'),
  ['ia64', 'ia64'],
  ['parisc64', 'parisc64'],
  ['parisc', 'parisc'],
  ['loongarch64', 'loongarch64'],
  ['m68k', 'm68k'],
  ['mips64', 'mips64'],
  ['mips', 'mips'],
  ['nios2', 'nios2'],
  ['ppc64le', 'ppc64-le'],
  ['ppc64', 'ppc64'],
  ['ppcle', 'ppc-le'],
  ['ppc', 'ppc'],
  ['riscv64', 'riscv64'],
  ['riscv32', 'riscv32'],
  ['s390x', 's390x'],
  ['s390', 's390'],
  ['sh5', 'sh64'],
  ...rows('sh', 'sh4a sh4 sh3 sh2a sh2'),
  ['sparc64', 'sparc64'],
  ['sparc', 'sparc'],
  ['tilegx', 'tilegx'],
]);

/**
 * systemd's name for a kernel machine string (`uname -m`, Node's `os.machine()`): exactly what
 * systemd-sysext compares. Prefer this to systemdArchitecture(). Undefined if systemd has no
 * row for it (systemd itself would abort there).
 */
export function architectureFromUname(machine: string): string | undefined {
  return UNAME_ARCH.get(machine);
}

/**
 * systemd's name for Node's `process.arch` (the architecture Node was built for). Node says
 * "ppc64" for both byte orders, so `endianness` (Node's `os.endianness()`) picks "ppc64-le".
 * Approximate: it differs from systemd's answer when Node is a 32-bit build on a 64-bit kernel
 * (ia32 on x86_64: systemd says "x86-64"), so use architectureFromUname(os.machine()) when
 * the kernel can be asked.
 */
export function systemdArchitecture(
  nodeArch: string,
  endianness: 'BE' | 'LE' = 'LE',
): string | undefined {
  const le = endianness === 'LE';
  switch (nodeArch) {
    case 'x64':
      return 'x86-64';
    case 'ia32':
      return 'x86';
    case 'arm64':
      return le ? 'arm64' : 'arm64-be';
    case 'arm':
      return le ? 'arm' : 'arm-be';
    case 'loong64':
      return 'loongarch64';
    case 'mips':
    case 'mipsel':
      return 'mips'; // uname says "mips" for both byte orders, see the top of this file
    case 'ppc64':
      return le ? 'ppc64-le' : 'ppc64';
    case 'ppc':
      return le ? 'ppc-le' : 'ppc';
    case 'riscv64':
    case 's390':
    case 's390x':
      return nodeArch;
    default:
      return undefined;
  }
}
