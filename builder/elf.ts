/**
 * @module builder/elf
 * Reads what the native-addon checks need from an ELF shared object: class, byte order and
 * machine from the header; DT_NEEDED and RUNPATH from the dynamic section; the defined
 * exported names of .dynsym; the symbol versions it needs (.gnu.version_r) and defines
 * (.gnu.version_d). Everything is found through the section headers, which every linker
 * writes for a shared object (only `sstrip` removes them; such a file reads as `sections: false`).
 *
 * Hand-written rather than a dependency: npm has no well-kept ELF reader (the few that exist
 * are unmaintained or CLI tools), and this subset is ~150 lines of the fixed layouts in the
 * System V gABI, every read bounds-checked.
 */
import { readFile } from "node:fs/promises";

export interface ElfInfo {
  bits: 32 | 64;
  littleEndian: boolean;
  /** e_machine (62 = x86-64, 183 = AArch64, …). */
  machine: number;
  /** Whether section headers were there to read; without them the lists below are empty. */
  sections: boolean;
  /** DT_NEEDED sonames, in order. */
  needed: string[];
  /** DT_RUNPATH (or DT_RPATH) entries, `$ORIGIN` unexpanded. */
  runpath: string[];
  /** Names of the global or weak symbols it defines in .dynsym. */
  exports: string[];
  /** Versions it needs, per library: `{ "libc.so.6": ["GLIBC_2.14", …] }`. */
  versionsNeeded: Record<string, string[]>;
  /** Versions it defines (a libc.so.6 defines GLIBC_2.2.5 … GLIBC_2.36). */
  versionsDefined: string[];
}

const SHT_DYNAMIC = 6;
const SHT_DYNSYM = 11;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERNEED = 0x6ffffffe;
const DT_NEEDED = 1;
const DT_RPATH = 15;
const DT_RUNPATH = 29;

/** Architectures as Node names them (`process.arch`), by e_machine. */
export const ELF_MACHINES: Record<number, string> = { 3: "ia32", 40: "arm", 62: "x64", 183: "arm64", 21: "ppc64", 22: "s390x", 243: "riscv64", 258: "loong64" };

/** Reads `file`; null when it is not an ELF file. Throws on a truncated or malformed one. */
export async function readElf(file: string): Promise<ElfInfo | null> {
  return parseElf(await readFile(file));
}

export function parseElf(buf: Buffer): ElfInfo | null {
  if (buf.length < 52 || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) return null;
  const bits = buf[4] === 2 ? 64 : buf[4] === 1 ? 32 : 0;
  const le = buf[5] === 1;
  if (!bits || (buf[5] !== 1 && buf[5] !== 2)) throw new Error("malformed ELF header (class or byte order)");
  const r = new Reader(buf, le);
  const is64 = bits === 64;
  const machine = r.u16(18);
  const info: ElfInfo = { bits, littleEndian: le, machine, sections: false, needed: [], runpath: [], exports: [], versionsNeeded: {}, versionsDefined: [] };
  const shoff = is64 ? r.u64(0x28) : r.u32(0x20);
  const shentsize = r.u16(is64 ? 0x3a : 0x2e);
  const shnum = r.u16(is64 ? 0x3c : 0x30);
  if (shoff === 0 || shnum === 0) return info;
  if (shentsize < (is64 ? 64 : 40)) throw new Error("malformed ELF section header size");
  const sections = Array.from({ length: shnum }, (_, i) => {
    const o = shoff + i * shentsize;
    return is64
      ? { type: r.u32(o + 4), offset: r.u64(o + 24), size: r.u64(o + 32), link: r.u32(o + 40), info: r.u32(o + 44), entsize: r.u64(o + 56) }
      : { type: r.u32(o + 4), offset: r.u32(o + 16), size: r.u32(o + 20), link: r.u32(o + 24), info: r.u32(o + 28), entsize: r.u32(o + 36) };
  });
  info.sections = true;
  const strtab = (index: number) => {
    const s = sections[index];
    if (!s) throw new Error(`malformed ELF: string table ${index} missing`);
    return (off: number) => r.cstring(s.offset + off, s.offset + s.size);
  };
  for (const s of sections) {
    if (s.type === SHT_DYNAMIC) {
      const str = strtab(s.link);
      const size = is64 ? 16 : 8;
      for (let o = s.offset; o + size <= s.offset + s.size; o += size) {
        const tag = is64 ? r.u64(o) : r.u32(o);
        if (tag === 0) break; // DT_NULL
        const val = is64 ? r.u64(o + 8) : r.u32(o + 4);
        if (tag === DT_NEEDED) info.needed.push(str(val));
        else if (tag === DT_RUNPATH || (tag === DT_RPATH && info.runpath.length === 0)) info.runpath = str(val).split(":").filter(Boolean);
      }
    } else if (s.type === SHT_DYNSYM) {
      const str = strtab(s.link);
      const size = is64 ? 24 : 16;
      for (let o = s.offset + size; o + size <= s.offset + s.size; o += size) {
        const st_info = r.u8(o + (is64 ? 4 : 12));
        const shndx = r.u16(o + (is64 ? 6 : 14));
        const bind = st_info >> 4;
        if ((bind === 1 || bind === 2) && shndx !== 0) info.exports.push(str(r.u32(o)));
      }
    } else if (s.type === SHT_GNU_VERNEED) {
      const str = strtab(s.link);
      let o = s.offset;
      for (let i = 0; i < s.info; i++) {
        const file = str(r.u32(o + 4));
        const list = (info.versionsNeeded[file] ??= []);
        let a = o + r.u32(o + 8);
        for (let j = r.u16(o + 2); j > 0; j--) {
          list.push(str(r.u32(a + 8)));
          const next = r.u32(a + 12);
          if (!next) break;
          a += next;
        }
        const next = r.u32(o + 12);
        if (!next) break;
        o += next;
      }
    } else if (s.type === SHT_GNU_VERDEF) {
      const str = strtab(s.link);
      let o = s.offset;
      for (let i = 0; i < s.info; i++) {
        if (r.u16(o + 6) > 0) info.versionsDefined.push(str(r.u32(o + r.u32(o + 12)))); // the first Verdaux names the version
        const next = r.u32(o + 16);
        if (!next) break;
        o += next;
      }
    }
  }
  return info;
}

/** Bounds-checked little/big-endian reads; 64-bit values must fit a JS number (they do in any real file). */
class Reader {
  constructor(readonly buf: Buffer, readonly le: boolean) {}
  #check(o: number, n: number): void {
    if (!Number.isSafeInteger(o) || o < 0 || o + n > this.buf.length) throw new Error(`malformed ELF: read of ${n} bytes at ${o} past the end (${this.buf.length})`);
  }
  u8(o: number): number {
    this.#check(o, 1);
    return this.buf[o];
  }
  u16(o: number): number {
    this.#check(o, 2);
    return this.le ? this.buf.readUInt16LE(o) : this.buf.readUInt16BE(o);
  }
  u32(o: number): number {
    this.#check(o, 4);
    return this.le ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o);
  }
  u64(o: number): number {
    this.#check(o, 8);
    const v = this.le ? this.buf.readBigUInt64LE(o) : this.buf.readBigUInt64BE(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`malformed ELF: value at ${o} too large`);
    return Number(v);
  }
  cstring(o: number, end: number): string {
    this.#check(o, 1);
    const stop = this.buf.indexOf(0, o);
    if (stop < 0 || stop >= Math.min(end, this.buf.length)) throw new Error(`malformed ELF: unterminated string at ${o}`);
    return this.buf.toString("latin1", o, stop);
  }
}
