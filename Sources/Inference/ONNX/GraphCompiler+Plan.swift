// Fusion of GEMM epilogues and assignment of buffer slots.

extension GraphCompiler {
    func root(_ id: ValueID) -> ValueID { values[id].aliasOf ?? id }

    /// Folds a following bias add, activation or per-column affine (an inference BatchNormalization) into the
    /// GEMM that feeds it, when the GEMM's result has no other reader.
    mutating func fuse(outputs: Set<ValueID>) throws(CompileFailure) {
        var changed = true
        while changed {
            changed = false
            var uses = [Int](repeating: 0, count: values.count)
            var aliased = Set<ValueID>()
            for step in steps { for id in step.inputs { uses[id] += 1 } }
            for value in values { if let source = value.aliasOf { aliased.insert(source) } }
            search: for (index, step) in steps.enumerated() {
                // Only float32 epilogues fuse; a float64 dense step keeps its bias and activation as steps.
                guard case .dense(let input, let weights, let bias, let output, let inputDims, let k, let n,
                                  let activation, .float32) = step,
                      uses[output] == 1, !outputs.contains(output), !aliased.contains(output)
                else { continue }
                guard let consumerIndex = steps.indices.first(where: { $0 > index && steps[$0].inputs.contains(output) })
                else { continue }
                let outDims = values[output].dims
                var newBias = bias.flatMap { values[$0].constant?.floats }
                var newWeights: [Float]?
                var newActivation = activation
                let newOutput: ValueID
                switch steps[consumerIndex] {
                case .binary(.add, let a, _, let b, let bDims, let sum, let sumDims, .float32)
                    where a == output && b != output && sumDims == outDims && activation == .none
                        && Self.isRowVector(bDims, n: n):
                    guard let addend = values[b].constant?.floats else { continue search }
                    let row = addend.count == n ? addend : [Float](repeating: addend.first ?? 0, count: n)
                    newBias = zip(newBias ?? [Float](repeating: 0, count: n), row).map { $0 + $1 }
                    newOutput = sum
                case .unary(.activation(let next), let source, let result, _, .float32)
                    where source == output && activation == .none:
                    newActivation = next
                    newOutput = result
                case .channelAffine(let source, let result, let dims, let scale, let shift)
                    where source == output && dims.count == 2 && activation == .none:
                    guard let s = values[scale].constant?.floats, let t = values[shift].constant?.floats,
                          s.count == n, t.count == n, var w = values[weights].constant?.floats
                    else { continue search }
                    for row in 0..<k { for column in 0..<n { w[row * n + column] *= s[column] } }
                    newWeights = w
                    let b = newBias ?? [Float](repeating: 0, count: n)
                    newBias = (0..<n).map { b[$0] * s[$0] + t[$0] }
                    newOutput = result
                default:
                    continue search
                }
                let weightID = try newWeights.map { (w) throws(CompileFailure) in try newConstant(floats: w, dims: [k, n]) } ?? weights
                let biasID = try newBias.map { (b) throws(CompileFailure) in try newConstant(floats: b, dims: [n]) }
                steps[index] = .dense(input: input, weights: weightID, bias: biasID, output: newOutput,
                                      inputDims: inputDims, k: k, n: n, activation: newActivation)
                steps.remove(at: consumerIndex)
                changed = true
                break search
            }
        }
    }

    /// True when a constant of `dims` broadcasts along the rows of an [rows × n] result: [n], [1, n], a scalar.
    static func isRowVector(_ dims: [Int], n: Int) -> Bool {
        let count = dims.reduce(1) { $0 * Swift.abs($1) }
        return dims.allSatisfy { $0 >= 0 } && dims.dropLast().allSatisfy { $0 == 1 } && (count == n || count == 1)
    }

    mutating func allocate(
        inputs: [ValueID], outputs: [ValueID], outputNames: [String], inputNames: [String]
    ) throws(CompileFailure) -> CompiledPlan {
        // Dense weights packed for the AVX-512 kernels. A weight constant that only packed dense steps read is not
        // bound at all, so the row-major copy is freed with the compiler instead of doubling the model's memory.
        var packedWeights = [PackedWeights?](repeating: nil, count: steps.count)
        var packedOnly = Set<ValueID>()
        if gemm == .packed {
            var packedByWeights: [ValueID: PackedWeights] = [:]
            for (index, step) in steps.enumerated() {
                guard case .dense(_, let weights, _, _, _, let k, let n, _, .float32) = step,
                      let buffer = values[weights].constant, buffer.dataType == .float32, buffer.count == k * n,
                      k > 0, n > 0, PackedWeights.isWorthPacking(k: k, n: n)
                else { continue }
                let packed: PackedWeights
                if let existing = packedByWeights[weights] {
                    packed = existing
                } else {
                    try charge(PackedWeights.packedBytes(k: k, n: n), elementSize: 1,
                               for: "the packed weights of a [\(k) × \(n)] layer")
                    packed = PackedWeights(weights: UnsafePointer(buffer.floatPointer), k: k, n: n)
                }
                packedByWeights[weights] = packed
                packedWeights[index] = packed
            }
            let outputSet = Set(outputs)
            packedOnly = Set(packedByWeights.keys.filter { id in
                !outputSet.contains(id) && steps.indices.allSatisfy { index in
                    !steps[index].inputs.contains(id) || packedWeights[index] != nil
                        && { if case .dense(let input, _, let bias, _, _, _, _, _, _) = steps[index] {
                                 return input != id && bias != id
                             }
                             return false }()
                }
            })
        }

        // Constants actually read by the plan or returned as outputs.
        var constants: [ConstantBuffer] = []
        var constantIndex: [ObjectIdentifier: Int] = [:]
        var bindings = [Binding](repeating: .unused, count: values.count)
        func bindConstant(_ id: ValueID) {
            guard let buffer = values[id].constant, !packedOnly.contains(id) else { return }
            let key = ObjectIdentifier(buffer)
            if let index = constantIndex[key] {
                bindings[id] = .constant(index)
            } else {
                constantIndex[key] = constants.count
                bindings[id] = .constant(constants.count)
                constants.append(buffer)
            }
        }
        for step in steps { for id in step.inputs { bindConstant(id) } }
        for id in outputs { bindConstant(id) }

        // Lifetimes by storage root: the last step that reads any alias of it; pinned roots live to the end.
        let pinned = Set((inputs + outputs).filter { values[$0].constant == nil }.map(root))
        var lastUse = [Int](repeating: -1, count: values.count)
        for (index, step) in steps.enumerated() {
            for id in step.inputs where values[id].constant == nil { lastUse[root(id)] = index }
        }
        var releases = [[ValueID]](repeating: [], count: steps.count)
        var slotOfRoot = [Int?](repeating: nil, count: values.count)
        var slots: [SlotSize] = []
        var free: [Int] = []
        func assign(_ rootID: ValueID) {
            let value = values[rootID]
            let bytes = Dims.staticCount(value.dims) * value.dataType.bufferElementSize
            let slot = free.popLast() ?? {
                slots.append(SlotSize(perRow: 0, fixed: 0))
                return slots.count - 1
            }()
            if Dims.isBatched(value.dims) {
                slots[slot].perRow = Swift.max(slots[slot].perRow, bytes)
            } else {
                slots[slot].fixed = Swift.max(slots[slot].fixed, bytes)
            }
            slotOfRoot[rootID] = slot
        }
        for id in inputs { assign(root(id)) }
        for (index, step) in steps.enumerated() {
            for id in step.outputs where slotOfRoot[root(id)] == nil {
                assign(root(id))
                if !pinned.contains(root(id)) { releases[Swift.max(lastUse[root(id)], index)].append(root(id)) }
            }
            for rootID in releases[index] { if let slot = slotOfRoot[rootID] { free.append(slot) } }
        }
        var maxElementsPerRow = 1
        for (id, value) in values.enumerated() where value.constant == nil {
            if let slot = slotOfRoot[root(id)] { bindings[id] = .slot(slot) }
            if Dims.isBatched(value.dims) {
                maxElementsPerRow = Swift.max(maxElementsPerRow, Dims.staticCount(value.dims))
            }
        }

        // What the plan keeps: its bound constants and packed weights (already charged, so the sums fit), and its
        // execution buffers per batch row and fixed (saturating: the budget check refuses a saturated sum).
        func add(_ a: Int, _ b: Int) -> Int {
            let (sum, overflow) = a.addingReportingOverflow(b)
            return overflow ? Int.max : sum
        }
        var constantBytes = 0
        for buffer in constants {
            constantBytes = add(constantBytes, buffer.count * buffer.dataType.bufferElementSize)
        }
        var seenPacked = Set<ObjectIdentifier>()
        for case let packed? in packedWeights where seenPacked.insert(ObjectIdentifier(packed)).inserted {
            constantBytes = add(constantBytes, PackedWeights.packedBytes(k: packed.k, n: packed.n))
        }
        let bufferBytesPerRow = slots.reduce(0) { add($0, $1.perRow) }
        let fixedBufferBytes = slots.reduce(0) { add($0, Swift.max($1.fixed, 64)) }

        func signatureDims(_ dims: [Int]) -> [Int] { dims.map { $0 < 0 ? -1 : $0 } }
        let inputSignatures = inputs.map {
            TensorSignature(name: values[$0].name, dataType: values[$0].dataType, dims: signatureDims(values[$0].dims))
        }
        let outputSignatures = zip(outputs, outputNames).map { id, name in
            TensorSignature(name: name, dataType: values[id].dataType, dims: signatureDims(values[id].dims))
        }
        return CompiledPlan(
            steps: steps,
            bindings: bindings,
            constants: constants,
            packedWeights: packedWeights,
            gemm: gemm,
            slots: slots,
            inputs: inputs.map { (value: $0, dims: values[$0].dims, dataType: values[$0].dataType) },
            outputs: outputs.map {
                PlanOutput(value: $0, dims: values[$0].dims, dataType: values[$0].dataType,
                           strings: values[$0].strings)
            },
            signature: ModelSignature(inputs: inputSignatures, outputs: outputSignatures),
            maxElementsPerRow: maxElementsPerRow,
            constantBytes: constantBytes,
            bufferBytesPerRow: bufferBytesPerRow,
            fixedBufferBytes: fixedBufferBytes
        )
    }
}
