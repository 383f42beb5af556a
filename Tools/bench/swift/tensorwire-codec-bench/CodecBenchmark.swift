import ProtoWire
import TensorwireProto

#if canImport(Glibc)
import Glibc
#endif

/// Encode/decode throughput of `PredictRequest` on the hand-written codec. Prints one tab-separated line per case
/// (case, operation, median messages/s, median GB/s, min, max) and, with `--write-messages DIR`, writes the encoded
/// messages so that `Tools/bench/codec` can time Python's protobuf on exactly the same bytes. `--only PREFIX`,
/// `--op encode|decode` and `--iterations N` narrow a run (for callgrind: instructions per message); `--breakdown`
/// adds the parts of an encode (size pass, write pass, result array) as extra lines.
@main
enum CodecBenchmark {
    struct Case {
        let name: String
        let request: TensorwireV1.PredictRequest
        let iterations: Int
    }

    static func makeCases() -> [Case] {
        var small = TensorwireV1.PredictRequest()
        small.model = "digits"
        small.id = "request-1"
        small.inputs = [
            TensorwireV1.Tensor(name: "input", dtype: .float32, shape: [1, 64], floatData: (0..<64).map { Float($0) * 0.25 })
        ]

        let values = (0..<(256 * 1024)).map { Float($0 % 1000) * 0.001 - 0.5 }
        var largeFloat = TensorwireV1.PredictRequest()
        largeFloat.model = "mlp-large"
        largeFloat.inputs = [TensorwireV1.Tensor(name: "input", dtype: .float32, shape: [256, 1024], floatData: values)]

        var largeRaw = largeFloat
        largeRaw.inputs[0].floatData = []
        largeRaw.inputs[0].rawData = values.withUnsafeBytes { [UInt8]($0) }

        return [
            Case(name: "small_1x64_float_data", request: small, iterations: 200_000),
            Case(name: "large_256x1024_float_data", request: largeFloat, iterations: 400),
            Case(name: "large_256x1024_raw_data", request: largeRaw, iterations: 400),
        ]
    }

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let repeats = 7
        var sink = 0
        print("case\top\tmsgs_per_s\tgb_per_s\tmin_msgs_per_s\tmax_msgs_per_s\tbytes")
        let only = value(of: "--only", in: arguments)
        for benchCase in makeCases() where only.map({ benchCase.name.hasPrefix($0) }) ?? true {
            let bytes = benchCase.request.serializedBytes()
            if let index = arguments.firstIndex(of: "--write-messages"), arguments.indices.contains(index + 1) {
                write(bytes, to: arguments[index + 1] + "/" + benchCase.name + ".bin")
            }
            let iterations = value(of: "--iterations", in: arguments).flatMap { Int($0) } ?? benchCase.iterations
            let iterationsFor = { (operation: String) in
                arguments.contains("--op") && !arguments.contains(operation) ? 0 : iterations
            }
            let encodeRates = measure(repeats: repeats, iterations: iterationsFor("encode")) {
                sink &+= benchCase.request.serializedBytes().count
            }
            let decodeRates = measure(repeats: repeats, iterations: iterationsFor("decode")) {
                if let decoded = try? TensorwireV1.PredictRequest(serializedBytes: bytes) {
                    sink &+= decoded.inputs.count
                }
            }
            if arguments.contains("--breakdown") {
                // Where an encode's time goes: the size pass alone, the write pass (measuring embedded messages
                // again, into a buffer allocated once), and allocating, filling and freeing the returned array.
                let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
                defer { scratch.deallocate() }
                let sizeRates = measure(repeats: repeats, iterations: iterations) { sink &+= benchCase.request.encodedSize }
                let writeRates = measure(repeats: repeats, iterations: iterations) {
                    sink &+= benchCase.request.encode(into: scratch)
                }
                let arrayRates = measure(repeats: repeats, iterations: iterations) {
                    sink &+= Array(UnsafeRawBufferPointer(scratch)).count
                }
                report(benchCase.name, "encode-size-pass", sizeRates, bytes.count)
                report(benchCase.name, "encode-write-pass", writeRates, bytes.count)
                report(benchCase.name, "encode-array-only", arrayRates, bytes.count)
            }
            report(benchCase.name, "encode", encodeRates, bytes.count)
            report(benchCase.name, "decode", decodeRates, bytes.count)
        }
        if sink == 42 { print("") }  // keeps the measured work observable
    }

    /// The argument after `option`, if any.
    static func value(of option: String, in arguments: [String]) -> String? {
        arguments.firstIndex(of: option).flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
    }

    /// Messages per second of `iterations` calls of `body`, once per repeat (after one warm-up repeat).
    static func measure(repeats: Int, iterations: Int, _ body: () -> Void) -> [Double] {
        let clock = ContinuousClock()
        var rates: [Double] = []
        for repeatIndex in 0...repeats {
            let start = clock.now
            for _ in 0..<iterations { body() }
            let elapsed = start.duration(to: clock.now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            if repeatIndex > 0 { rates.append(Double(iterations) / seconds) }
        }
        return rates.sorted()
    }

    static func report(_ name: String, _ operation: String, _ rates: [Double], _ size: Int) {
        let median = rates[rates.count / 2]
        let line = [
            name, operation, format(median), format(median * Double(size) / 1e9, digits: 3),
            format(rates.first ?? 0), format(rates.last ?? 0), String(size),
        ]
        print(line.joined(separator: "\t"))
    }

    static func format(_ value: Double, digits: Int = 0) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        return digits == 0 ? String(Int(rounded)) : String(rounded)
    }

    static func write(_ bytes: [UInt8], to path: String) {
        guard let file = fopen(path, "wb") else { return }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
}
