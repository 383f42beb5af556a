import ProtoWire
import Testing

/// Bytes from the reference encoder (Python protobuf), decoded and compared field by field with what the reference
/// decoder read from them; canonical ones re-encode byte for byte. Regenerate with
/// `.venv/bin/python Tools/fixtures/generate_proto_fixtures.py`.
@Suite struct GoldenFixtureTests {
    @Test func fixtureFolderHoldsEveryCase() throws {
        #expect(Fixture.allNames.count >= 40, "Fixtures/ is missing or nearly empty: \(Fixture.allNames)")
        for required in ["AllTypes-empty", "AllTypes-unknown_fields", "AllTypes-maps", "Recursive-depth_100"] {
            #expect(Fixture.allNames.contains(required))
        }
    }

    @Test(arguments: Fixture.allNames)
    func decodesLikeTheReferenceDecoder(name: String) throws {
        let fixture = try Fixture.load(name)
        switch fixture.messageName {
        case "tensorwire.wiretest.AllTypes": try check(AllTypes.self, fixture)
        case "tensorwire.wiretest.Recursive": try check(Recursive.self, fixture)
        default: Issue.record("\(name): no Swift type for \(fixture.messageName)")
        }
    }

    private func check<M: ProtoMessage & FieldDumping>(_ type: M.Type, _ fixture: Fixture) throws {
        let message = try M(serializedBytes: fixture.bytes)
        #expect(differences(message.dumpedFields, fixture.fields) == [], "\(fixture.name)")

        // The pointer entry point reads the same.
        let viaPointer = try fixture.bytes.withUnsafeBytes { try M(serializedBytes: $0) }
        #expect(viaPointer.serializedBytes() == message.serializedBytes())

        let encoded = message.serializedBytes()
        #expect(encoded.count == message.encodedSize)
        if fixture.canonical {
            #expect(encoded == fixture.bytes, "\(fixture.name): re-encoding differs from the reference encoder")
        }
        // Whatever the input looked like, our own encoding decodes to the same fields.
        let again = try M(serializedBytes: encoded)
        #expect(differences(again.dumpedFields, fixture.fields) == [], "\(fixture.name) after re-encoding")
        #expect(again.serializedBytes() == encoded)
    }

    @Test func negativeInt32IsATenByteVarint() throws {
        let fixture = try Fixture.load("AllTypes-scalars_negative_one")
        var message = AllTypes()
        message.fInt32 = -1
        #expect(message.serializedBytes() == [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        #expect(fixture.bytes.starts(with: message.serializedBytes()))
    }

    @Test func emptyMessageIsZeroBytes() throws {
        #expect(try Fixture.load("AllTypes-empty").bytes.isEmpty)
        #expect(AllTypes().serializedBytes().isEmpty)
        #expect(try AllTypes(serializedBytes: []) == AllTypes())
    }

    @Test func encodeIntoWritesAfterAPrefix() throws {
        let fixture = try Fixture.load("AllTypes-random_3")
        let message = try AllTypes(serializedBytes: fixture.bytes)
        var buffer = [UInt8](repeating: 0xAA, count: 5 + message.encodedSize + 3)
        let written = buffer.withUnsafeMutableBytes { raw in
            message.encode(into: UnsafeMutableRawBufferPointer(rebasing: raw[5...]))
        }
        #expect(written == fixture.bytes.count)
        #expect(Array(buffer[5..<(5 + written)]) == fixture.bytes)
        #expect(buffer.prefix(5).allSatisfy { $0 == 0xAA } && buffer.suffix(3).allSatisfy { $0 == 0xAA })
    }
}
