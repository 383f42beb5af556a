// The batch size as a value: `Shape` of a batched tensor, gathered, unsqueezed, cast and concatenated into the
// target of a `Reshape` (how the TorchScript exporter writes `x.view(x.size(0), -1)`, and Keras's Flatten on the
// torch backend). The batch size is known only at run time, so such a shape is a constant whose batch entries are
// placeholders (-1) listed in `CompiledValue.batchEntries`; folding moves the list along with the elements, and
// Reshape reads a listed entry as "the batch axis". Any other use of the batch size (arithmetic, a graph output, a
// run-time step) is a load error that says so: the engine never computes with the placeholder.

extension GraphCompiler {
    /// Throws when `id` carries the batch size, for the consumers that need its actual value.
    func refuseBatchSize(_ id: ValueID) throws(CompileFailure) {
        guard values[id].batchEntries.isEmpty else {
            throw CompileFailure("'\(values[id].name)' holds the batch size (from Shape), known only at run time; "
                + "only Reshape can take it (as its batch axis)")
        }
    }

    /// After `step` was folded on constants of which one at least carries batch entries: lists the outputs'
    /// entries that came from an input's batch entry. Only steps that move elements keep the meaning; the moved
    /// positions are found by running the step again on an image of each input whose elements are their own
    /// (input, position) tags.
    mutating func trackBatchSize(through step: Step) throws(CompileFailure) {
        let movable: [ValueID]
        switch step {
        case .cast(let input, let output, _, _, _, _):
            // Elementwise: the positions stay (an int32 cast of -1 is -1).
            values[output].batchEntries = values[input].batchEntries
            return
        case .gather(let data, _, let indices, _, _, _, _):
            try refuseBatchSize(indices)
            movable = [data]
        case .concat(let inputs, _, _, _, _):
            movable = inputs
        case .strided(let input, _, _, _, _, _, _), .copy(let input, _, _, _), .transpose(let input, _, _, _, _):
            movable = [input]
        default:
            guard let id = step.inputs.first(where: { !values[$0].batchEntries.isEmpty }) else { return }
            try refuseBatchSize(id)
            return
        }
        guard let output = step.outputs.first, values[output].dataType == .int64,
              movable.allSatisfy({ values[$0].dataType == .int64 })
        else { throw CompileFailure("the batch size (from Shape) reaches a non-integer tensor") }
        var images: [ValueID: ConstantBuffer] = [:]
        for (ordinal, id) in movable.enumerated() where images[id] == nil {
            let count = values[id].constant?.count ?? 0, name = values[id].name
            try charge(count, elementSize: 8, for: "following the batch size through '\(name)'")
            images[id] = ConstantBuffer(int64s: (0..<count).map { Int64(ordinal) << 32 | Int64($0) })
        }
        let outputCount = Dims.staticCount(values[output].dims), outputName = values[output].name
        try charge(outputCount, elementSize: 8, for: "following the batch size into '\(outputName)'")
        let result = ConstantBuffer(dataType: .int64, count: outputCount)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        defer { scratch.deallocate() }
        var pointers = values.indices.map { images[$0]?.pointer ?? values[$0].constant?.pointer ?? scratch }
        pointers[output] = result.pointer
        do {
            try pointers.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                try step.execute(batch: 1, pointers: base)
            }
        } catch {
            throw CompileFailure("the batch size (from Shape) cannot be followed through this step")
        }
        var entries = Set<Int>()
        for (position, tag) in result.int64s.enumerated() {
            let ordinal = Int(tag >> 32), index = Int(tag & 0xFFFF_FFFF)
            if movable.indices.contains(ordinal), values[movable[ordinal]].batchEntries.contains(index) {
                entries.insert(position)
            }
        }
        values[output].batchEntries = entries
    }

    /// Reshape's target when it is built from the batch size: the listed entry becomes the batch axis (-1, one
    /// batch per row) and the others are read as usual. Nil when the target carries no batch entry.
    func reshapeTargetWithBatch(_ id: ValueID) throws -> [Int64]? {
        let entries = values[id].batchEntries
        guard !entries.isEmpty else { return nil }
        guard entries.count == 1, let buffer = values[id].constant else {
            throw CompileFailure("the shape '\(values[id].name)' names the batch size \(entries.count) times")
        }
        return buffer.int64s
    }
}
