import ProtoWire
import TensorwireProto

/// The fuzz entry point shared by the libFuzzer binary (`tensorwire-fuzz`) and the corpus-replay test: it
/// decodes one input as every message type Tensorwire accepts from the network. A decode may throw; it must never
/// crash, and whatever decodes must survive an encode/decode round trip unchanged.
public enum DecoderFuzzing {
    /// Decodes `bytes` as every message type. Returns how many types accepted the input.
    @discardableResult
    public static func decodeAll(_ bytes: UnsafeRawBufferPointer) -> Int {
        var accepted = 0
        accepted += roundTrip(TensorwireV1.PredictRequest.self, bytes)
        accepted += roundTrip(TensorwireV1.PredictResponse.self, bytes)
        accepted += roundTrip(TensorwireV1.ModelInfo.self, bytes)
        accepted += roundTrip(TensorwireV1.ListModelsResponse.self, bytes)
        accepted += roundTrip(TensorwireV1.GetModelRequest.self, bytes)
        accepted += roundTrip(GRPCHealthV1.HealthCheckRequest.self, bytes)
        accepted += roundTrip(GRPCHealthV1.HealthCheckResponse.self, bytes)
        accepted += roundTrip(GRPCReflection.ServerReflectionRequest.self, bytes)
        accepted += roundTrip(KServe.ModelRequest.self, bytes)
        accepted += roundTrip(KServe.ModelInferRequest.self, bytes)
        accepted += roundTrip(KServe.RepositoryIndexRequest.self, bytes)
        accepted += roundTrip(KServe.RepositoryModelRequest.self, bytes)
        return accepted
    }

    static func roundTrip<M: ProtoMessage & Equatable>(_ type: M.Type, _ bytes: UnsafeRawBufferPointer) -> Int {
        guard let message = try? M(serializedBytes: bytes) else { return 0 }
        let encoded = message.serializedBytes()
        let size = message.encodedSize
        precondition(encoded.count == size, "\(M.self): encoded size differs from encodedSize")
        // `serializedBytes()` writes messages under 1 KiB in one pass; the plain writer is the two-pass one.
        // Size 0 stays `[]`: `Array(unsafeUninitializedCapacity: 0)` stores its count into the runtime's shared
        // empty-array singleton, which ThreadSanitizer reports as a race between two tests doing it at once.
        let plain = size == 0 ? [] : [UInt8](unsafeUninitializedCapacity: size) { buffer, written in
            written = message.encode(into: UnsafeMutableRawBufferPointer(buffer))
        }
        precondition(plain == encoded, "\(M.self): one-pass and two-pass encodings differ")
        // The decoded-size budget scales with the wire size, and the canonical encoding may be shorter than the
        // input (a singular field sent twice keeps the last, unknown fields are dropped, varints shortened): re-decode it
        // under at least the budget the input was given, or a message of many empty elements that only fit thanks
        // to the input's extra bytes is refused (Tools/fuzz/crashes/proto-crash-5778e7a8…, a harness false alarm).
        var limits = DecodingLimits.default
        limits.decodedBytesAllowance = DecodingLimits.default.decodeBudget(wireBytes: bytes.count)
        let again: M
        do {
            again = try M(serializedBytes: encoded, limits: limits)
        } catch {
            preconditionFailure("\(M.self): re-encoded message does not decode: \(error)")
        }
        // NaN payloads compare unequal to themselves; compare the canonical encodings instead of the values.
        precondition(again.serializedBytes() == encoded, "\(M.self): round trip changed the message")
        return 1
    }
}
