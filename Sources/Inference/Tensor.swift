/// The element types a Tensorwire model exchanges. Most compute is FP32; a graph whose inputs or constants are
/// FP64 (skl2onnx with `DoubleTensorType`) computes in FP64 and returns FP64; INT64 and strings appear where models
/// produce class labels (ArgMax, scikit-learn classifiers) or take integer inputs.
public enum DataType: Sendable, Hashable, CustomStringConvertible {
    case float32
    case float64
    case int64
    case string

    /// The name KServe v2 uses for this type (`FP32`, `INT64`, `BYTES`).
    public var kserveName: String {
        switch self {
        case .float32: return "FP32"
        case .float64: return "FP64"
        case .int64: return "INT64"
        case .string: return "BYTES"
        }
    }

    public var description: String {
        switch self {
        case .float32: return "float32"
        case .float64: return "float64"
        case .int64: return "int64"
        case .string: return "string"
        }
    }

    /// The ONNX `TensorProto.DataType` number of this type.
    public var onnxCode: Int32 {
        switch self {
        case .float32: return 1
        case .float64: return 11
        case .int64: return 7
        case .string: return 8
        }
    }

    /// Bytes one element occupies in an execution buffer (strings travel as indices into a label table).
    var bufferElementSize: Int {
        switch self {
        case .float32: return 4
        case .float64, .int64, .string: return 8
        }
    }
}

/// The dimensions of a dense, row-major tensor. In a signature a dimension of -1 is the dynamic batch dimension.
public struct Shape: Sendable, Hashable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dims: [Int]

    public init(_ dims: [Int]) { self.dims = dims }
    public init(arrayLiteral elements: Int...) { self.dims = elements }

    public var rank: Int { dims.count }

    /// The number of elements, or nil if a dimension is negative or the product overflows.
    public var elementCount: Int? {
        var product = 1
        for dim in dims {
            guard dim >= 0 else { return nil }
            let (result, overflow) = product.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            product = result
        }
        return product
    }

    public var description: String {
        "[" + dims.map { $0 < 0 ? "N" : String($0) }.joined(separator: ", ") + "]"
    }
}

/// A dense, contiguous, row-major tensor value. Values are immutable and `Sendable`; the storage is one Swift array.
public struct Tensor: Sendable, Hashable {
    /// The elements, in row-major order.
    public enum Storage: Sendable, Hashable {
        case float32([Float])
        case float64([Double])
        case int64([Int64])
        case string([String])
    }

    public let shape: Shape
    public let storage: Storage

    /// Fails (returns nil) when `storage` does not hold exactly `shape.elementCount` elements.
    public init?(shape: Shape, storage: Storage) {
        guard let count = shape.elementCount else { return nil }
        let actual: Int
        switch storage {
        case .float32(let values): actual = values.count
        case .float64(let values): actual = values.count
        case .int64(let values): actual = values.count
        case .string(let values): actual = values.count
        }
        guard actual == count else { return nil }
        self.shape = shape
        self.storage = storage
    }

    /// Creates a float tensor; precondition: `values.count` equals the shape's element count (a programming error
    /// otherwise — use `init?(shape:storage:)` for untrusted input).
    public init(shape: Shape, floats values: [Float]) {
        precondition(shape.elementCount == values.count, "Tensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.storage = .float32(values)
    }

    public init(shape: Shape, doubles values: [Double]) {
        precondition(shape.elementCount == values.count, "Tensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.storage = .float64(values)
    }

    public init(shape: Shape, int64s values: [Int64]) {
        precondition(shape.elementCount == values.count, "Tensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.storage = .int64(values)
    }

    public init(shape: Shape, strings values: [String]) {
        precondition(shape.elementCount == values.count, "Tensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.storage = .string(values)
    }

    public var dataType: DataType {
        switch storage {
        case .float32: return .float32
        case .float64: return .float64
        case .int64: return .int64
        case .string: return .string
        }
    }

    /// The elements if this is a double (FP64) tensor.
    public var doubles: [Double]? {
        if case .float64(let values) = storage { return values }
        return nil
    }

    /// The elements if this is a float tensor.
    public var floats: [Float]? {
        if case .float32(let values) = storage { return values }
        return nil
    }

    /// The elements if this is an int64 tensor.
    public var int64s: [Int64]? {
        if case .int64(let values) = storage { return values }
        return nil
    }

    /// The elements if this is a string tensor.
    public var strings: [String]? {
        if case .string(let values) = storage { return values }
        return nil
    }
}

/// One input or output of a model: its name, element type and shape, where -1 marks the batch dimension.
public struct TensorSignature: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let dataType: DataType
    /// Dimensions; -1 is the dynamic batch dimension (at most one per tensor).
    public let dims: [Int]

    public init(name: String, dataType: DataType, dims: [Int]) {
        self.name = name
        self.dataType = dataType
        self.dims = dims
    }

    /// The index of the batch dimension, if the tensor has one.
    public var batchAxis: Int? { dims.firstIndex(of: -1) }

    /// Elements per batch row (the product of the fixed dimensions).
    public var elementsPerRow: Int { dims.reduce(1) { $1 < 0 ? $0 : $0 * $1 } }

    public var description: String { "\(name): \(dataType)\(Shape(dims))" }
}

/// The inputs and outputs of a model, in graph order.
public struct ModelSignature: Sendable, Hashable {
    public let inputs: [TensorSignature]
    public let outputs: [TensorSignature]
}
