// Tests/RPCCoreTests/TestSupport.swift: helpers shared by the RPCCore tests.

import RPCCore
import Testing
import HTTPTypes
import TestSupport


/// Runs `body` and returns the `RPCError` it threw, or nil (any other error is recorded as an issue).
func rpcError(_ body: () throws -> Void) -> RPCError? {
    do {
        try body()
        return nil
    } catch let error as RPCError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

/// The value of the first field named `name`.
func value(_ name: String, in fields: [HeaderField]) -> String? {
    fields.first { $0.name == name }?.value
}

/// Splits `bytes` into chunks of `size`.
func chunks(_ bytes: [UInt8], size: Int) -> [[UInt8]] {
    stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min($0 + size, bytes.count)]) }
}

/// Splits `bytes` into chunks of random sizes in 1...maxSize.
func randomChunks(_ bytes: [UInt8], maxSize: Int, using rng: inout SplitMix64) -> [[UInt8]] {
    var result: [[UInt8]] = []
    var index = 0
    while index < bytes.count {
        let size = Int.random(in: 1...maxSize, using: &rng)
        result.append(Array(bytes[index..<min(index + size, bytes.count)]))
        index += size
    }
    return result
}
