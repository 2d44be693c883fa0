import { fc, test as fcTest } from '@fast-check/vitest'
import { describe, expect, test } from 'vitest'
import {
  CANCEL_REQUEST,
  encode,
  frameStrings,
  Framing,
  GSSENC_REQUEST,
  isStartupProtocol,
  MessageReader,
  pgError,
  PROTOCOL_3_0,
  PROTOCOL_3_2,
  RAW,
  readCStrings,
  readErrorFields,
  cstring,
  SSL_REQUEST,
  startupParameters,
  UNTYPED,
  type Piece,
} from './index.js'

const hex = (b: Buffer) => b.toString('hex')

/** Cuts `bytes` at the given offsets (sorted, deduplicated, within range). */
function cut(bytes: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((n) => n % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let from = 0
  for (const p of points) {
    out.push(bytes.subarray(from, p))
    from = p
  }
  out.push(bytes.subarray(from))
  return out
}

const typedMessages = fc.array(
  fc.oneof(
    fc.string().map((s) => encode.query(s)),
    fc.tuple(fc.string(), fc.string()).map(([n, s]) => encode.parse(n, s)),
    fc.tuple(fc.string(), fc.string()).map(([p, s]) => encode.bind(p, s)),
    fc.string().map((p) => encode.execute(p)),
    fc.constant(encode.sync()),
    fc.constantFrom('I', 'T', 'E' as const).map((s) => encode.readyForQuery(s)),
    fc.string().map((m) => encode.error(pgError('XX000', m))),
  ),
  { minLength: 1, maxLength: 8 },
)

describe('encode: the bytes PostgreSQL expects', () => {
  test('request codes and the protocol version, as the documentation gives them', () => {
    expect(hex(encode.request(SSL_REQUEST))).toBe('0000000804d2162f')
    expect(hex(encode.request(GSSENC_REQUEST))).toBe('0000000804d21630')
    expect(hex(encode.cancel(7, 9))).toBe('0000001004d2162e0000000700000009')
    expect(CANCEL_REQUEST).toBe((1234 << 16) | 5678)
    expect(PROTOCOL_3_0).toBe(3 << 16)
    expect([PROTOCOL_3_0, PROTOCOL_3_2, SSL_REQUEST, CANCEL_REQUEST].map(isStartupProtocol)).toEqual([
      true,
      true,
      false,
      false,
    ])
  })

  test('a StartupMessage: length, protocol 3.0, name/value pairs, a closing NUL', () => {
    const bytes = encode.startup({ user: 'u', database: 'd' })
    expect(bytes.readInt32BE(0)).toBe(bytes.length)
    expect(bytes.readInt32BE(4)).toBe(PROTOCOL_3_0)
    expect(bytes.subarray(8).toString('latin1')).toBe('user\0u\0database\0d\0\0')
    expect(startupParameters(bytes.subarray(8))).toEqual({ user: 'u', database: 'd' })
  })

  test('typed messages: type byte, length counting itself, body', () => {
    expect(hex(encode.readyForQuery('I'))).toBe('5a0000000549')
    expect(encode.query('select 1').toString('latin1')).toBe('Q\0\0\0\x0dselect 1\0')
    expect(hex(encode.authOk())).toBe('520000000800000000')
    expect(hex(encode.authCleartext())).toBe('520000000800000003')
    expect(hex(encode.backendKeyData(1, 2))).toBe('4b0000000c0000000100000002')
    expect(hex(encode.parse('', 'x'))).toBe(hex(frameStrings('P', ['', 'x'], Buffer.from([0, 0]))))
    expect(encode.parse('s1', 'select 1').toString('latin1')).toBe('P\0\0\0\x12s1\0select 1\0\0\0')
    expect(hex(encode.bind('', ''))).toBe('420000000c' + '0000' + '000000000000')
    expect(hex(encode.execute(''))).toBe('450000000900' + '00000000')
  })

  test('text is UTF-8 and the length counts bytes, not characters', () => {
    const bytes = encode.commandComplete('é')
    expect(bytes.readInt32BE(1)).toBe(4 + 3)
    expect(cstring(bytes, 5)).toEqual(['é', bytes.length])
  })
})

describe('decode', () => {
  test('error fields round-trip, in order', () => {
    const fields = { ...pgError('40001', 'could not serialize', 'FATAL'), H: 'retry' }
    const bytes = encode.error(fields)
    expect(Object.keys(readErrorFields(bytes.subarray(5)))).toEqual(['S', 'V', 'C', 'M', 'H'])
    expect(readErrorFields(bytes.subarray(5))).toEqual(fields)
  })

  test('strings without their NUL: cstring takes the rest, readCStrings stops', () => {
    const body = Buffer.from('a\0bc', 'latin1')
    expect(cstring(body, 0)).toEqual(['a', 2])
    expect(cstring(body, 2)).toEqual(['bc', 4])
    expect(readCStrings(body, 2)).toEqual({ values: ['a'], end: 2 })
  })
})

describe('MessageReader', () => {
  fcTest.prop([typedMessages, fc.array(fc.nat(), { maxLength: 10 })])(
    'gives back every message whole, however the stream is cut',
    (messages, at) => {
      const reader = new MessageReader()
      const stream = Buffer.concat(messages)
      const got = cut(stream, at).flatMap((chunk) => reader.push(chunk))
      expect(got.map((m) => hex(m.raw))).toEqual(messages.map(hex))
      expect(got.map((m) => m.type)).toEqual(messages.map((m) => String.fromCharCode(m[0]!)))
      expect(got.map((m) => hex(m.body))).toEqual(messages.map((m) => hex(m.subarray(5))))
    },
  )

  test('the startup packet first, then what followed it, typed', () => {
    const reader = new MessageReader()
    const startup = encode.startup({ user: 'u' })
    const stream = Buffer.concat([startup, encode.query('x')])
    expect(reader.pushStartup(stream.subarray(0, 6))).toBeUndefined()
    const packet = reader.pushStartup(stream.subarray(6))
    expect(packet?.code).toBe(PROTOCOL_3_0)
    expect(startupParameters(packet!.body)).toEqual({ user: 'u' })
    expect(reader.push(reader.rest()).map((m) => m.type)).toEqual(['Q'])
  })
})

describe('Framing', () => {
  fcTest.prop([typedMessages, fc.array(fc.nat(), { maxLength: 10 })])(
    'hop sees each message header once, and split passes on exactly the bytes it got',
    (messages, at) => {
      const stream = Buffer.concat(messages)
      const chunks = cut(stream, at)
      const hopped: number[] = []
      const hop = new Framing('typed', (type) => hopped.push(type))
      for (const chunk of chunks) hop.hop(chunk)
      expect(hopped).toEqual(messages.map((m) => m[0]))

      const seen: number[] = []
      const split = new Framing('typed', (type) => seen.push(type))
      const pieces: Piece[] = chunks.flatMap((chunk) => [...split.split(chunk)])
      expect(hex(Buffer.concat(pieces.map((p) => p.bytes)))).toBe(hex(stream))
      expect(pieces.filter((p) => p.type !== RAW).map((p) => hex(p.bytes))).toEqual(messages.map(hex))
      expect(seen).toEqual(messages.map((m) => m[0]))
      expect(split.holding).toBe(false)
    },
  )

  test('startup phase: requests and the StartupMessage come out untyped', () => {
    const framing = new Framing('startup', () => {})
    const stream = Buffer.concat([encode.request(SSL_REQUEST), encode.startup({ user: 'u' })])
    const pieces = [...framing.split(stream)]
    expect(pieces.map((p) => p.type)).toEqual([UNTYPED, UNTYPED])
    expect(pieces[0]!.bytes.readUInt32BE(4)).toBe(SSL_REQUEST)
    expect(framing.phase).toBe('startup')
  })

  test('startup phase: a TLS ClientHello or another protocol turns the stream opaque', () => {
    for (const first of [Buffer.from([0x16, 3, 1, 0, 5]), Buffer.from('GET / HTTP/1.1\r\n')]) {
      const framing = new Framing('startup', () => {})
      const pieces = [...framing.split(first)]
      expect(framing.phase).toBe('opaque')
      expect(pieces).toEqual([{ type: RAW, bytes: first }])
    }
  })

  test('startup phase: an unknown code turns the stream opaque instead of waiting', () => {
    const framing = new Framing('startup', () => {})
    const odd = Buffer.alloc(8)
    odd.writeUInt32BE(8, 0)
    odd.writeUInt32BE(12345, 4)
    expect([...framing.split(odd)].map((p) => p.type)).toEqual([RAW])
    expect(framing.phase).toBe('opaque')
  })

  test('answer phase: the one-byte reply to SSLRequest', () => {
    const framing = new Framing('answer', () => {})
    expect([...framing.split(Buffer.from('N'))].map((p) => p.type)).toEqual(['N'.charCodeAt(0)])
  })

  test('split holds an incomplete message back until the rest comes', () => {
    const framing = new Framing('typed', () => {})
    const message = encode.query('select 1')
    expect([...framing.split(message.subarray(0, 7))]).toEqual([])
    expect(framing.holding).toBe(true)
    expect([...framing.split(message.subarray(7))].map((p) => hex(p.bytes))).toEqual([hex(message)])
    expect(framing.holding).toBe(false)
  })
})
