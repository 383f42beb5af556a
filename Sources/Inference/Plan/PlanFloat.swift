internal import Glibc

/// The floating-point element types a plan computes in: `Float` (FP32, most models) and `Double` (FP64 graphs, as
/// skl2onnx writes them with `DoubleTensorType`). The generic kernels are written once against this protocol and
/// specialised for each type by the optimiser; the elementary functions map to the C library's `expf`/`exp` pairs,
/// so an FP64 graph gets double-precision results, not float ones widened.
protocol PlanFloat: BinaryFloatingPoint, Sendable {
    /// The engine's name for the type.
    static var dataType: DataType { get }
    static func exponential(_ x: Self) -> Self
    static func logarithm(_ x: Self) -> Self
    static func errorFunction(_ x: Self) -> Self
    static func hyperbolicTangent(_ x: Self) -> Self
    /// log(1 + x), accurate for small x.
    static func logOnePlus(_ x: Self) -> Self
    static func power(_ x: Self, _ y: Self) -> Self
}

extension Float: PlanFloat {
    static var dataType: DataType { .float32 }
    @inline(__always) static func exponential(_ x: Float) -> Float { expf(x) }
    @inline(__always) static func logarithm(_ x: Float) -> Float { logf(x) }
    @inline(__always) static func errorFunction(_ x: Float) -> Float { erff(x) }
    @inline(__always) static func hyperbolicTangent(_ x: Float) -> Float { tanhf(x) }
    @inline(__always) static func logOnePlus(_ x: Float) -> Float { log1pf(x) }
    @inline(__always) static func power(_ x: Float, _ y: Float) -> Float { powf(x, y) }
}

extension Double: PlanFloat {
    static var dataType: DataType { .float64 }
    @inline(__always) static func exponential(_ x: Double) -> Double { exp(x) }
    @inline(__always) static func logarithm(_ x: Double) -> Double { log(x) }
    @inline(__always) static func errorFunction(_ x: Double) -> Double { erf(x) }
    @inline(__always) static func hyperbolicTangent(_ x: Double) -> Double { tanh(x) }
    @inline(__always) static func logOnePlus(_ x: Double) -> Double { log1p(x) }
    @inline(__always) static func power(_ x: Double, _ y: Double) -> Double { pow(x, y) }
}
