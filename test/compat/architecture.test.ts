// systemd's architecture names (src/basic/architecture.c, v252 and v257.13): the kernel
// machine mapping of uname_architecture(), which extension_release_validate() compares with
// ARCHITECTURE=, and the approximation from Node's process.arch.
import { machine } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  SYSTEMD_ARCHITECTURES,
  architectureFromUname,
  systemdArchitecture,
} from '../../src/compat/architecture.ts';

describe('architectureFromUname: arch_map[] of uname_architecture()', () => {
  it.each([
    ['x86_64', 'x86-64'],
    ['i686', 'x86'],
    ['i386', 'x86'],
    ['aarch64', 'arm64'],
    ['aarch64_be', 'arm64-be'],
    ['armv7l', 'arm'],
    ['armv8l', 'arm'], // a 32-bit personality on arm64
    ['armv7b', 'arm-be'],
    ['ppc64le', 'ppc64-le'],
    ['ppc64', 'ppc64'],
    ['s390x', 's390x'],
    ['riscv64', 'riscv64'],
    ['loongarch64', 'loongarch64'],
    ['mips', 'mips'], // also on little-endian MIPS: "mips-le" never comes out
    ['mips64', 'mips64'],
    ['sh4a', 'sh'],
    ['sh5', 'sh64'],
    ['parisc64', 'parisc64'],
    ['sparc64', 'sparc64'],
  ])('%s is %s', (uname, name) => {
    expect(architectureFromUname(uname)).toBe(name);
  });

  it.each(['amd64', 'x86-64', 'arm64', 'riscv', 'X86_64', ''])('%j has no row', (uname) => {
    expect(architectureFromUname(uname)).toBeUndefined();
  });

  it("maps this host's machine to one of systemd's names", () => {
    expect(SYSTEMD_ARCHITECTURES).toContain(architectureFromUname(machine()));
  });
});

describe('systemdArchitecture: from process.arch', () => {
  it.each([
    ['x64', 'LE', 'x86-64'],
    ['ia32', 'LE', 'x86'],
    ['arm64', 'LE', 'arm64'],
    ['arm64', 'BE', 'arm64-be'],
    ['arm', 'LE', 'arm'],
    ['arm', 'BE', 'arm-be'],
    ['loong64', 'LE', 'loongarch64'],
    ['mips', 'BE', 'mips'],
    ['mipsel', 'LE', 'mips'],
    ['ppc64', 'LE', 'ppc64-le'], // Node says "ppc64" on ppc64le too
    ['ppc64', 'BE', 'ppc64'],
    ['ppc', 'BE', 'ppc'],
    ['riscv64', 'LE', 'riscv64'],
    ['s390', 'BE', 's390'],
    ['s390x', 'BE', 's390x'],
  ] as const)('%s (%s) is %s', (arch, endianness, name) => {
    expect(systemdArchitecture(arch, endianness)).toBe(name);
  });

  it('defaults to little-endian and knows no other names', () => {
    expect(systemdArchitecture('ppc64')).toBe('ppc64-le');
    expect(systemdArchitecture('amd64')).toBeUndefined();
    expect(systemdArchitecture('x32')).toBeUndefined();
  });

  it('answers only with names systemd knows', () => {
    const all = ['x64', 'ia32', 'arm64', 'arm', 'loong64', 'mips', 'mipsel', 'ppc64', 'ppc'];
    for (const arch of [...all, 'riscv64', 's390', 's390x']) {
      expect(SYSTEMD_ARCHITECTURES).toContain(systemdArchitecture(arch, 'BE'));
      expect(SYSTEMD_ARCHITECTURES).toContain(systemdArchitecture(arch, 'LE'));
    }
  });
});
