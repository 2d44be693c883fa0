/**
 * PostgreSQL's data page checksum (storage/checksum_impl.h): 32 interleaved FNV-1a-style lanes
 * over the page read as little-endian 32-bit words, with pd_checksum taken as zero, folded,
 * mixed with the block number and reduced to 1..65535. Written out here because no package
 * offers it and it lets pgrig check pages of a running server without pg_checksums, which the
 * embedded binaries do not ship. Tests hold it to every page of a real server.
 */
const LANES = 32
const FNV_PRIME = 16777619
const BASE_OFFSETS = Uint32Array.from([
  0x5b1f36e9, 0xb8525960, 0x02ab50aa, 0x1de66d2a, 0x79ff467a, 0x9bb9f8a3, 0x217e7cd2, 0x83e13d2c, 0xf8d4474f,
  0xe39eb970, 0x42c6ae16, 0x993216fa, 0x7b093b5d, 0x98daff3c, 0xf718902a, 0x0b1c9cdb, 0xe58f764b, 0x187636bc,
  0x5d7b3bb1, 0xe73de7de, 0x92bec979, 0xcca6c0b2, 0x304a0979, 0x85aa43d4, 0x783125bb, 0x6ca8eaa2, 0xe407eac6,
  0x4b5cfc3e, 0x9fbf8c76, 0x15ca20be, 0xf2ca9fd3, 0x959bd756,
])

/** Byte offset of pd_checksum in the page header, after the 8-byte pd_lsn. */
export const CHECKSUM_OFFSET = 8

function mix(lane: number, value: number): number {
  const x = (lane ^ value) >>> 0
  return (Math.imul(x, FNV_PRIME) ^ (x >>> 17)) >>> 0
}

export function pageChecksum(page: Uint8Array, blockNumber: number): number {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength)
  const sums = Uint32Array.from(BASE_OFFSETS)
  const rows = page.byteLength / (4 * LANES)
  for (let row = 0; row < rows; row++) {
    for (let lane = 0; lane < LANES; lane++) {
      const at = (row * LANES + lane) * 4
      // pd_checksum shares its word with pd_flags and counts as zero.
      const word = at === CHECKSUM_OFFSET ? view.getUint32(at, true) & 0xffff0000 : view.getUint32(at, true)
      sums[lane] = mix(sums[lane]!, word)
    }
  }
  for (let round = 0; round < 2; round++) {
    for (let lane = 0; lane < LANES; lane++) sums[lane] = mix(sums[lane]!, 0)
  }
  let result = 0
  for (let lane = 0; lane < LANES; lane++) result = (result ^ sums[lane]!) >>> 0
  result = (result ^ blockNumber) >>> 0
  return (result % 65535) + 1
}

/** The checksum stored in a page's header. */
export function storedChecksum(page: Uint8Array): number {
  return new DataView(page.buffer, page.byteOffset, page.byteLength).getUint16(CHECKSUM_OFFSET, true)
}

/** A page never initialised (pd_upper = 0, as PageIsNew) carries no checksum. */
export function isNewPage(page: Uint8Array): boolean {
  return new DataView(page.buffer, page.byteOffset, page.byteLength).getUint16(14, true) === 0
}
