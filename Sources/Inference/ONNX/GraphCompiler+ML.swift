// The ai.onnx.ml operators skl2onnx writes for linear scikit-learn models.

extension GraphCompiler {
    mutating func lowerML(_ node: ONNXNode) throws {
        switch node.opType {
        case "LinearClassifier": try lowerLinearClassifier(node)
        case "LinearRegressor": try lowerLinearRegressor(node)
        case "Normalizer": try lowerNormalizer(node)
        case "Scaler": try lowerScaler(node)
        case "ArrayFeatureExtractor": try lowerArrayFeatureExtractor(node)
        case "TreeEnsembleClassifier": try lowerTreeEnsemble(node, classifier: true)
        case "TreeEnsembleRegressor": try lowerTreeEnsemble(node, classifier: false)
        case "TreeEnsemble": try lowerTreeEnsembleV5(node)
        case "LabelEncoder": try lowerLabelEncoder(node)
        case "ZipMap": try lowerZipMap(node)
        case "Binarizer": try lowerUnary(node, .binarize(threshold: floatAttribute(node, "threshold", default: 0)))
        case "Imputer": try lowerImputer(node)
        case "OneHotEncoder": try lowerOneHotEncoder(node)
        default:
            throw CompileFailure("operator 'ai.onnx.ml.\(node.opType)' is not supported; supported ai.onnx.ml "
                + "operators: " + supportedMLOperators.joined(separator: ", ") + "; default domain: "
                + supportedOperators.joined(separator: ", ") + " (docs/operators.md)")
        }
    }

    /// The input as float32 (int64 and double inputs are converted: these operators' outputs are float32).
    mutating func floatInput(_ node: ONNXNode) throws -> ValueID {
        let source = try input(node, 0)
        switch values[source].dataType {
        case .float32:
            return source
        case .int64, .float64:
            let from = values[source].dataType
            let converted = define(CompiledValue(name: "", dataType: .float32, dims: values[source].dims))
            try emit(.cast(input: source, output: converted, dims: values[source].dims, from: from, to: .float32))
            return converted
        case .string:
            throw CompileFailure("the input is a string tensor; this operator takes numbers")
        }
    }

    /// Rows and features of a [rows, features] or [features] input.
    func matrixShape(_ id: ValueID) throws -> (rows: Int, features: Int) {
        let dims = values[id].dims
        switch dims.count {
        case 1 where dims[0] >= 0: return (1, dims[0])
        case 2 where dims[1] >= 0: return (dims[0], dims[1])
        default: throw CompileFailure("input of shape \(Shape(dims)) is not [rows, features]")
        }
    }

    /// Coefficients stored [targets × features] by ONNX, laid out [features × targets] for the GEMM.
    func transposedCoefficients(_ node: ONNXNode, targets: Int, features: Int) throws -> [Float] {
        let coefficients = node.attribute("coefficients")?.floats ?? []
        guard targets > 0, coefficients.count == targets * features else {
            throw CompileFailure("\(coefficients.count) coefficients for \(targets) targets × \(features) features")
        }
        var weights = [Float](repeating: 0, count: coefficients.count)
        for target in 0..<targets {
            for feature in 0..<features {
                weights[feature * targets + target] = coefficients[target * features + feature]
            }
        }
        return weights
    }

    mutating func lowerLinearRegressor(_ node: ONNXNode) throws {
        let source = try floatInput(node)
        let (rows, features) = try matrixShape(source)
        let targetCount = intAttribute(node, "targets", default: 1)
        guard targetCount > 0, targetCount <= Int64(maxElementsPerValue) else {
            throw CompileFailure("invalid targets \(targetCount)")
        }
        let targets = Int(targetCount)
        let transform = stringAttribute(node, "post_transform", default: "NONE")
        guard transform == "NONE" else {
            throw CompileFailure("post_transform \(transform) is not supported (supported: NONE)")
        }
        let weights = try transposedCoefficients(node, targets: targets, features: features)
        let intercepts = node.attribute("intercepts")?.floats ?? []
        guard intercepts.isEmpty || intercepts.count == targets else {
            throw CompileFailure("\(intercepts.count) intercepts for \(targets) targets")
        }
        _ = try emitDense(input: source, weights: weights, k: features, n: targets,
                          bias: intercepts.isEmpty ? nil : intercepts, node: node, outputDims: [rows, targets])
    }

    mutating func lowerLinearClassifier(_ node: ONNXNode) throws {
        let source = try floatInput(node)
        let (rows, features) = try matrixShape(source)
        let intercepts = node.attribute("intercepts")?.floats ?? []
        let classes = intercepts.count
        guard classes > 0 else { throw CompileFailure("intercepts are missing") }
        let weights = try transposedCoefficients(node, targets: classes, features: features)

        let stringLabels = (node.attribute("classlabels_strings")?.strings ?? []).map {
            String(decoding: $0, as: UTF8.self)
        }
        let intLabels = node.attribute("classlabels_ints")?.ints ?? []
        let usingStrings = !stringLabels.isEmpty
        let labelCount = usingStrings ? stringLabels.count : intLabels.count
        var labels: [Int64]
        var table: [String] = []
        var rule = LabelRule.argMax
        var addSecondClass = false
        var outClasses = classes
        if classes == 1 {
            rule = .signOfScore
            if labelCount == 2 {
                addSecondClass = true
                outClasses = 2
                labels = usingStrings ? [0, 1] : intLabels
                table = stringLabels
            } else {
                // onnxruntime's defaults when the model does not name two classes.
                labels = [0, 1]
                table = usingStrings ? ["0", "1"] : []
            }
        } else {
            guard labelCount >= classes else {
                throw CompileFailure("\(labelCount) class labels for \(classes) classes")
            }
            labels = usingStrings ? (0..<Int64(labelCount)).map { $0 } : intLabels
            table = stringLabels
        }
        let transform: ScoreTransform
        switch stringAttribute(node, "post_transform", default: "NONE") {
        case "NONE": transform = .none
        case "LOGISTIC": transform = .logistic
        case "SOFTMAX": transform = .softmax
        case "SOFTMAX_ZERO": transform = .softmaxZero
        case let other: throw CompileFailure("post_transform \(other) is not supported (supported: NONE, "
            + "LOGISTIC, SOFTMAX, SOFTMAX_ZERO)")
        }

        let raw = define(CompiledValue(name: "", dataType: .float32, dims: [rows, classes]))
        let weightID = try newConstant(floats: weights, dims: [features, classes])
        let biasID = try newConstant(floats: intercepts, dims: [classes])
        try emit(.dense(input: source, weights: weightID, bias: biasID, output: raw, inputDims: values[source].dims,
                    k: features, n: classes, activation: .none))
        let labelsOut = try newValue(node, 0, usingStrings ? .string : .int64, [rows], strings: table)
        let scoresOut = node.outputs.count > 1
            ? try newValue(node, 1, .float32, [rows, outClasses])
            : define(CompiledValue(name: "", dataType: .float32, dims: [rows, outClasses]))
        try emit(.classifierHead(scores: raw, labelsOut: labelsOut, scoresOut: scoresOut, rowDims: [rows],
                             classes: classes, outClasses: outClasses, rule: rule, labels: labels,
                             transform: transform, addSecondClass: addSecondClass))
    }

    mutating func lowerNormalizer(_ node: ONNXNode) throws {
        let source = try floatInput(node)
        let kind: NormKind
        switch stringAttribute(node, "norm", default: "MAX") {
        case "MAX": kind = .max
        case "L1": kind = .l1
        case "L2": kind = .l2
        case let other: throw CompileFailure("norm \(other) is not supported (supported: MAX, L1, L2)")
        }
        let dims = values[source].dims
        guard let last = dims.last, last >= 0 else { throw CompileFailure("input \(Shape(dims)) has no fixed last axis") }
        let output = try newValue(node, 0, .float32, dims)
        try emit(.normalizer(input: source, output: output, dims: dims, kind: kind))
    }

    mutating func lowerScaler(_ node: ONNXNode) throws {
        let source = try floatInput(node)
        let dims = values[source].dims
        guard let last = dims.last, last >= 0 else { throw CompileFailure("input \(Shape(dims)) has no fixed last axis") }
        let offset = node.attribute("offset")?.floats ?? []
        let scale = node.attribute("scale")?.floats ?? []
        for (name, list) in [("offset", offset), ("scale", scale)] where !(list.count == 1 || list.count == last) {
            throw CompileFailure("\(name) has \(list.count) values for \(last) features")
        }
        let offsetID = try newConstant(floats: offset.isEmpty ? [0] : offset, dims: [Swift.max(offset.count, 1)])
        let scaleID = try newConstant(floats: scale.isEmpty ? [1] : scale, dims: [Swift.max(scale.count, 1)])
        let shifted = define(CompiledValue(name: "", dataType: .float32, dims: dims))
        try emit(.binary(.sub, a: source, aDims: dims, b: offsetID, bDims: values[offsetID].dims, output: shifted,
                     outDims: dims, elementType: .float32))
        let output = try newValue(node, 0, .float32, dims)
        try emit(.binary(.mul, a: shifted, aDims: dims, b: scaleID, bDims: values[scaleID].dims, output: output,
                     outDims: dims, elementType: .float32))
    }

    mutating func lowerArrayFeatureExtractor(_ node: ONNXNode) throws {
        let data = try input(node, 0)
        let indices = try input(node, 1)
        guard values[indices].dataType == .int64 else { throw CompileFailure("indices must be int64") }
        let dataDims = values[data].dims
        let indexDims = values[indices].dims
        guard let last = dataDims.last, last >= 0 else {
            throw CompileFailure("data of shape \(Shape(dataDims)) has no fixed last axis")
        }
        let indexCount = try Self.product(indexDims[...])
        if Dims.isBatched(dataDims) && Dims.isBatched(indexDims) {
            throw CompileFailure("data and indices cannot both carry the batch dimension")
        }
        // onnxruntime: a 1-D data tensor gives [1, count]; otherwise the last axis becomes `count`.
        let outDims = dataDims.count == 1 ? [1, indexCount] : Array(dataDims.dropLast()) + [indexCount]
        let output = try newValue(node, 0, values[data].dataType, outDims, strings: values[data].strings)
        try emit(.gatherLast(data: data, dataDims: dataDims, indices: indices, indexDims: indexDims, output: output,
                         outDims: outDims, elementSize: values[data].dataType.bufferElementSize))
    }

    /// ZipMap turns [N, classes] probabilities into a sequence of {label: probability} maps. Tensorwire serves
    /// the probabilities themselves under the ZipMap's output name: FP32 [N, classes], columns in class order
    /// (the order of `classlabels_*`, which is the classifier's).
    mutating func lowerZipMap(_ node: ONNXNode) throws {
        let source = try input(node, 0)
        try requireFloat(source)
        let dims = values[source].dims
        let labels = (node.attribute("classlabels_int64s")?.ints.count ?? 0)
            + (node.attribute("classlabels_strings")?.strings.count ?? 0)
        guard dims.count == 2, dims[1] == labels else {
            throw CompileFailure("input of shape \(Shape(dims)) does not have one column per class label (\(labels))")
        }
        try alias(source, as: node, dims: dims)
    }
}
