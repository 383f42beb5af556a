// Tests/RPCCoreTests/MessageFramingTests.swift: the 5-byte prefix and the incremental deframer (W-30…W-35).

import RPCCore
import Testing
import TestSupport

@Suite struct MessageFramerTests {
    @Test func emptyMessageIsFiveZeroBytes() throws {
        #expect(try MessageFramer.frame([UInt8]()) == [0, 0, 0, 0, 0])
    }

    @Test func prefixIsFlagThenBigEndianLength() throws {
        #expect(try MessageFramer.frame([7, 8, 9], compressed: true) == [1, 0, 0, 0, 3, 7, 8, 9])
        #expect(try MessageFramer.prefix(length: 0x0102_0304) == [0, 1, 2, 3, 4])
        #expect(try MessageFramer.prefix(length: Int(UInt32.max)) == [0, 0xFF, 0xFF, 0xFF, 0xFF])
    }

    @Test func lengthBeyondThirtyTwoBitsIsRefusedNotTruncated() {
        let error = rpcError { _ = try MessageFramer.prefix(length: Int(UInt32.max) + 1) }
        #expect(error?.code == .resourceExhausted)
        #expect(rpcError { _ = try MessageFramer.prefix(length: -1) } != nil)
    }

    @Test func appendAddsToAnExistingBuffer() throws {
        var output: [UInt8] = [0xAA]
        try MessageFramer.append([1], to: &output)
        try MessageFramer.append([UInt8](), compressed: true, to: &output)
        #expect(output == [0xAA, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    }
}

@Suite struct MessageDeframerTests {
    /// Many messages, including empty ones, a compressed one and one larger than any chunk.
    static let messages: [ReceivedMessage] = {
        var rng = SplitMix64(seed: 30)
        var result: [ReceivedMessage] = []
        for index in 0..<200 {
            let length = index % 5 == 0 ? 0 : Int.random(in: 1...300, using: &rng)
            result.append(
                ReceivedMessage(
                    bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) },
                    isCompressed: index % 17 == 3))
        }
        result.append(ReceivedMessage(bytes: (0..<70_000).map { UInt8(truncatingIfNeeded: $0) }))
        result.append(ReceivedMessage(bytes: []))
        return result
    }()

    static let stream: [UInt8] = {
        var bytes: [UInt8] = []
        for message in messages {
            // The fixture's messages are small: framing cannot fail.
            try? MessageFramer.append(message.bytes, compressed: message.isCompressed, to: &bytes)
        }
        return bytes
    }()

    static func deframe(_ pieces: [[UInt8]]) throws -> [ReceivedMessage] {
        var deframer = MessageDeframer()
        var result: [ReceivedMessage] = []
        for piece in pieces { result += try deframer.receive(piece) }
        try deframer.finish()
        return result
    }

    @Test(arguments: [1, 7, 5, 4096, Int.max])
    func anyFixedChunkSizeYieldsTheSameMessages(size: Int) throws {
        let pieces = size == Int.max ? [Self.stream] : chunks(Self.stream, size: size)
        #expect(try Self.deframe(pieces) == Self.messages)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func randomChunkingYieldsTheSameMessages(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        #expect(try Self.deframe(randomChunks(Self.stream, maxSize: 97, using: &rng)) == Self.messages)
    }

    @Test func emptyChunksAreHarmless() throws {
        var deframer = MessageDeframer()
        #expect(try deframer.receive([UInt8]()) == [])
        #expect(try deframer.receive([0, 0]) == [])
        #expect(try deframer.receive([UInt8]()) == [])
        #expect(try deframer.receive([0, 0, 1, 9]) == [ReceivedMessage(bytes: [9])])
    }

    @Test func compressedFlagIsSurfacedWithTheBytes() throws {
        var deframer = MessageDeframer()
        #expect(
            try deframer.receive([1, 0, 0, 0, 2, 0x1F, 0x8B]) == [
                ReceivedMessage(bytes: [0x1F, 0x8B], isCompressed: true)
            ])
    }

    @Test func defaultLimitIsSixtyFourMebibytes() {
        #expect(MessageDeframer.defaultMaxMessageBytes == 67_108_864)
        #expect(MessageDeframer().maxMessageBytes == 67_108_864)
    }

    @Test func lengthOverTheLimitFailsFromThePrefixAloneBeforeAnyBodyArrives() {
        var deframer = MessageDeframer()
        #expect(throws: DeframingError.messageTooLarge(length: 67_108_865, limit: 67_108_864)) {
            try deframer.receive([0, 0x04, 0x00, 0x00, 0x01])
        }
        var atLimit = MessageDeframer()
        #expect((try? atLimit.receive([0, 0x04, 0x00, 0x00, 0x00])) == [])
        #expect(atLimit.hasPartialMessage)
    }

    @Test func hostileFourGibibytePrefixFailsWithoutBuffering() {
        var deframer = MessageDeframer()
        #expect(throws: DeframingError.messageTooLarge(length: 0xFFFF_FFFF, limit: 67_108_864)) {
            try deframer.receive([0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        }
        #expect(!deframer.hasPartialMessage)
    }

    @Test func messageOfExactlyTheLimitPassesAndOneMoreByteFails() throws {
        var deframer = MessageDeframer(maxMessageBytes: 1000)
        let exact = try MessageFramer.frame([UInt8](repeating: 7, count: 1000))
        #expect(try deframer.receive(exact).map(\.bytes.count) == [1000])
        let over = try MessageFramer.frame([UInt8](repeating: 7, count: 1001))
        #expect(throws: DeframingError.messageTooLarge(length: 1001, limit: 1000)) { try deframer.receive(over) }
    }

    @Test func tooLargeErrorIsResourceExhaustedNamingTheLimitAndTheFlag() {
        let error = DeframingError.messageTooLarge(length: 67_108_865, limit: 67_108_864).rpcError
        #expect(error.code == .resourceExhausted)
        #expect(error.message.contains("67108864"))
        #expect(error.message.contains("67108865"))
        #expect(error.message.contains("--max-receive-message-bytes"))
    }

    @Test(arguments: [UInt8(2), 3, 0x80, 0xFF])
    func flagOtherThanZeroOrOneIsInternal(flag: UInt8) {
        var deframer = MessageDeframer()
        #expect(throws: DeframingError.invalidCompressionFlag(flag)) { try deframer.receive([flag, 0, 0, 0, 0]) }
        #expect(DeframingError.invalidCompressionFlag(flag).rpcError.code == .internal)
    }

    @Test func messagesBeforeABadPrefixAreStillReturnedThroughTheInoutAPI() {
        var deframer = MessageDeframer()
        var messages: [ReceivedMessage] = []
        let bytes: [UInt8] = [0, 0, 0, 0, 1, 42, 2, 0, 0, 0, 0]
        var failure: DeframingError?
        bytes.withUnsafeBytes { buffer in
            do throws(DeframingError) {
                try deframer.receive(buffer, into: &messages)
            } catch {
                failure = error
            }
        }
        #expect(failure == .invalidCompressionFlag(2))
        #expect(messages == [ReceivedMessage(bytes: [42])])
    }

    @Test func failedDeframerKeepsFailing() {
        var deframer = MessageDeframer()
        #expect(throws: DeframingError.invalidCompressionFlag(9)) { try deframer.receive([9, 0, 0, 0, 0]) }
        #expect(throws: DeframingError.invalidCompressionFlag(9)) { try deframer.receive([0, 0, 0, 0, 0]) }
        #expect(throws: DeframingError.invalidCompressionFlag(9)) { try deframer.finish() }
    }

    @Test func endOfStreamInsideThePrefixIsATruncatedMessage() {
        var deframer = MessageDeframer()
        #expect((try? deframer.receive([0, 0, 0])) == [])
        #expect(throws: DeframingError.truncatedMessage(receivedBytes: 3, expectedBytes: nil)) { try deframer.finish() }
        #expect(DeframingError.truncatedMessage(receivedBytes: 3, expectedBytes: nil).rpcError.code == .internal)
    }

    @Test func endOfStreamInsideTheBodyIsATruncatedMessage() {
        var deframer = MessageDeframer()
        #expect((try? deframer.receive([0, 0, 0, 0, 10, 1, 2, 3])) == [])
        #expect(throws: DeframingError.truncatedMessage(receivedBytes: 8, expectedBytes: 15)) { try deframer.finish() }
    }

    @Test func endOfStreamBetweenMessagesIsClean() throws {
        var deframer = MessageDeframer()
        _ = try deframer.receive([0, 0, 0, 0, 1, 5])
        #expect(!deframer.hasPartialMessage)
        try deframer.finish()
    }
}
