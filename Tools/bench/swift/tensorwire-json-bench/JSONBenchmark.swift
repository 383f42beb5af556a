// Tools/bench/swift/tensorwire-json-bench: JSON read and write throughput on the shape REST tensors take.

internal import Foundation
internal import JSONWire

// A REST tensor is mostly one long array of floats. This times, on one such document (1M float32 values written as
// their shortest decimals, ~10 bytes each), JSONReader.readFloats (the tensor fast path), skipValue (syntax check
// only) and JSONWriter.float, against Foundation's JSONSerialization and JSONDecoder on the same bytes in the same
// run. Prints one tab-separated line per case: case, median MB/s of input (or output) JSON, median M values/s,
// min and max MB/s, and the ratio to JSONSerialization. `--count N` and `--repeats N` resize the run; `--only PREFIX`
// runs the cases whose name starts with PREFIX (for callgrind: instructions per value).

/// A fixed-seed xorshift64 generator, so every run times the same document.
struct XorShift {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

@main
enum JSONBenchmark {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String) -> Int? {
            guard let index = arguments.firstIndex(of: name), arguments.indices.contains(index + 1) else { return nil }
            return Int(arguments[index + 1])
        }
        let count = option("--count") ?? 1_000_000
        let repeats = option("--repeats") ?? 7

        // Deterministic values spread like activations and weights: mostly |x| < 10, some tiny, some large.
        var random = XorShift()
        let values: [Float] = (0..<count).map { _ in
            let unit = Float(random.next() >> 40) / Float(1 << 24) * 2 - 1
            switch random.next() % 10 {
            case 0: return unit * 1e-3
            case 1: return unit * 1e4
            default: return unit * 8
            }
        }

        var writer = JSONWriter(reservingCapacity: count * 12)
        writer.beginArray()
        for value in values { writer.float(value) }
        writer.endArray()
        let document = writer.bytes
        let megabytes = Double(document.count) / 1_000_000

        func measure(_ body: () throws -> Int) rethrows -> [Double] {
            var seconds: [Double] = []
            var sink = 0
            for _ in 0..<repeats {
                let start = ContinuousClock.now
                sink &+= try body()
                let elapsed = ContinuousClock.now - start
                seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
            }
            if sink == 42 { print("") }
            return seconds.sorted()
        }

        var rows: [(String, [Double])] = []
        let only = arguments.firstIndex(of: "--only").flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
        func add(_ name: String, _ body: () throws -> Int) rethrows {
            guard only.map({ name.hasPrefix($0) }) ?? true else { return }
            rows.append((name, try measure(body)))
        }
        try add("JSONReader.readFloats") {
            var reader = JSONReader(document)
            var floats: [Float] = []
            try reader.readFloats(into: &floats)
            try reader.finish()
            guard floats == values else { fatalError("readFloats did not read back the written values") }
            return floats.count
        }
        try add("JSONReader.readDoubles") {
            var reader = JSONReader(document)
            var doubles: [Double] = []
            try reader.readDoubles(into: &doubles)
            return doubles.count
        }
        try add("JSONReader.skipValue") {
            var reader = JSONReader(document)
            try reader.skipValue()
            return reader.offset
        }
        add("JSONWriter.float") {
            var writer = JSONWriter(reservingCapacity: document.count)
            writer.beginArray()
            for value in values { writer.float(value) }
            writer.endArray()
            return writer.bytes.count
        }
        let data = Data(document)
        try add("Foundation.JSONSerialization") {
            let array = try JSONSerialization.jsonObject(with: data) as? [Any]
            return array?.count ?? 0
        }
        try add("Foundation.JSONDecoder [Float]") {
            try JSONDecoder().decode([Float].self, from: data).count
        }

        let baseline = rows.first { $0.0 == "Foundation.JSONSerialization" }.map { $0.1[$0.1.count / 2] } ?? 1
        print("# \(count) float32 values, \(document.count) bytes of JSON, median of \(repeats) runs")
        print("case\tmb_per_s\tmvalues_per_s\tmin_mb_per_s\tmax_mb_per_s\tspeedup_vs_JSONSerialization")
        for (name, seconds) in rows {
            let median = seconds[seconds.count / 2]
            let rate = { (time: Double) in String(format: "%.1f", megabytes / time) }
            let columns = [
                name, rate(median), String(format: "%.1f", Double(count) / median / 1e6), rate(seconds.last ?? median),
                rate(seconds.first ?? median), String(format: "%.2f", baseline / median),
            ]
            print(columns.joined(separator: "\t"))
        }
    }
}
