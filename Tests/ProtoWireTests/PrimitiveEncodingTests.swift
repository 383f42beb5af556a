import ProtoWire
import Testing
import TestSupport

/// The wire format's building blocks: zigzag, varint sizes and bytes, tags, fixed-width values.
@Suite struct PrimitiveEncodingTests {
    @Test func zigzagEdgeValues32() {
        let pairs: [(Int32, UInt32)] = [
            (0, 0), (-1, 1), (1, 2), (-2, 3), (2, 4), (-64, 127), (64, 128),
            (Int32.max, 0xFFFF_FFFE), (Int32.min, 0xFFFF_FFFF), (Int32.max - 1, 0xFFFF_FFFC), (Int32.min + 1, 0xFFFF_FFFD),
        ]
        for (value, encoded) in pairs {
            #expect(ZigZag.encode(value) == encoded, "encode \(value)")
            #expect(ZigZag.decode(encoded) == value, "decode \(encoded)")
        }
    }

    @Test func zigzagEdgeValues64() {
        let pairs: [(Int64, UInt64)] = [
            (0, 0), (-1, 1), (1, 2), (-2, 3), (Int64(Int32.min), 0xFFFF_FFFF), (Int64(Int32.max) + 1, 0x1_0000_0000),
            (Int64.max, 0xFFFF_FFFF_FFFF_FFFE), (Int64.min, 0xFFFF_FFFF_FFFF_FFFF),
        ]
        for (value, encoded) in pairs {
            #expect(ZigZag.encode(value) == encoded, "encode \(value)")
            #expect(ZigZag.decode(encoded) == value, "decode \(encoded)")
        }
    }

    @Test func zigzagRoundTripsRandomValues() {
        var random = SplitMix64(seed: 7)
        for _ in 0..<10_000 {
            let value32: Int32 = random.integer()
            let value64: Int64 = random.integer()
            #expect(ZigZag.decode(ZigZag.encode(value32)) == value32)
            #expect(ZigZag.decode(ZigZag.encode(value64)) == value64)
            // Small magnitudes stay small: |v| < 2^k encodes below 2^(k+1).
            #expect(ZigZag.encode(value64) / 2 == value64.magnitude - (value64 < 0 ? 1 : 0))
        }
    }

    /// Encodes one varint with `ProtoWriter` into an exactly sized buffer.
    static func written(_ value: UInt64) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: ProtoSize.varint(value)) { buffer, count in
            var writer = ProtoWriter(UnsafeMutableRawBufferPointer(buffer))
            writer.writeVarint(value)
            count = writer.position
        }
    }

    static func read(_ bytes: [UInt8]) throws -> UInt64 {
        try bytes.withUnsafeBytes { raw in
            var reader = ProtoReader(raw)
            let value = try reader.readVarint()
            #expect(reader.isAtEnd)
            return value
        }
    }

    @Test func varintSizeForEveryBitLength() throws {
        #expect(ProtoSize.varint(0) == 1)
        for bits in 1...64 {
            let expected = (bits + 6) / 7
            let smallest = UInt64(1) << (bits - 1)
            let largest = bits == 64 ? UInt64.max : (UInt64(1) << bits) - 1
            for value in [smallest, largest, smallest | 1] {
                #expect(ProtoSize.varint(value) == expected, "\(bits) bits: \(value)")
                let bytes = Self.written(value)
                #expect(bytes == Wire.varint(value), "\(bits) bits: \(value)")
                #expect(bytes.count == expected)
                #expect(try Self.read(bytes) == value)
            }
        }
    }

    @Test func knownVarintBytes() {
        #expect(Self.written(0) == [0x00])
        #expect(Self.written(1) == [0x01])
        #expect(Self.written(127) == [0x7F])
        #expect(Self.written(128) == [0x80, 0x01])
        #expect(Self.written(300) == [0xAC, 0x02])
        #expect(Self.written(UInt64(bitPattern: -1)) == [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    @Test func tagSizesAtFieldNumberBoundaries() {
        let boundaries: [(field: Int, size: Int)] = [
            (1, 1), (15, 1), (16, 2), (2047, 2), (2048, 3), (262_143, 3), (262_144, 4), (33_554_431, 4),
            (33_554_432, 5), (maxFieldNumber, 5),
        ]
        for (field, size) in boundaries {
            #expect(ProtoSize.tag(field) == size, "field \(field)")
            #expect(Wire.tag(field, 0).count == size)
        }
        #expect(ProtoSize.lengthDelimited(127, field: 1) == 1 + 1 + 127)
        #expect(ProtoSize.lengthDelimited(128, field: 16) == 2 + 2 + 128)
    }

    @Test func fixedWidthValuesAreLittleEndian() throws {
        var message = AllTypes()
        message.fFixed32 = 0x0102_0304
        message.fSFixed64 = -2
        #expect(message.serializedBytes() == Wire.fixed32(7, 0x0102_0304) + Wire.fixed64(10, UInt64(bitPattern: -2)))
        #expect(Wire.fixed32(7, 0x0102_0304) == [0x3D, 0x04, 0x03, 0x02, 0x01])
    }

    @Test func implicitPresenceLeavesOutDefaultsButNotNegativeZero() {
        var message = AllTypes()
        message.fFloat = 0
        message.fDouble = 0
        #expect(message.serializedBytes().isEmpty)
        message.fFloat = -0.0
        message.fDouble = -0.0
        #expect(message.serializedBytes() == Wire.fixed32(11, 0x8000_0000) + Wire.fixed64(12, 0x8000_0000_0000_0000))
    }

    @Test func explicitPresenceWritesZero() {
        var message = AllTypes()
        message.optInt32 = 0
        message.choice = .string("")
        #expect(message.serializedBytes() == Wire.delimited(80, "") + Wire.varint(90, 0))
    }

    @Test func readerTracksTheCurrentField() throws {
        let bytes = Wire.varint(5, 1) + Wire.delimited(maxFieldNumber, "x")
        try bytes.withUnsafeBytes { raw in
            var reader = ProtoReader(raw)
            #expect(try reader.nextField() == 5)
            #expect(reader.wireType == .varint)
            try reader.skipField()
            #expect(try reader.nextField() == maxFieldNumber)
            #expect(reader.wireType == .lengthDelimited)
            #expect(reader.remaining == 2)
            try reader.skipField()
            #expect(reader.isAtEnd)
            #expect(try reader.nextField() == nil)
        }
    }
}
