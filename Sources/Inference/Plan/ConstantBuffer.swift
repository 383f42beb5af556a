/// A constant of a compiled model (a weight matrix, a bias, a label table), in memory the plan reads by pointer.
///
/// Owner and threads: the loading thread fills the memory while it compiles the model, before the `Model` that
/// holds the buffer is published; afterwards the memory is never written, so any number of instance threads may
/// read it at once. That is why the class is `@unchecked Sendable`: its only mutable state is written by the
/// loading thread before publication.
final class ConstantBuffer: @unchecked Sendable {
    let dataType: DataType
    let count: Int
    let pointer: UnsafeMutableRawPointer
    /// For string constants, the strings; `pointer` then holds the int64 indices 0..<count.
    let strings: [String]

    /// Zero-filled memory for `count` elements.
    init(dataType: DataType, count: Int) {
        self.dataType = dataType
        self.count = count
        let bytes = Swift.max(count * dataType.bufferElementSize, 16)
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        self.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        self.strings = []
    }

    convenience init(floats: [Float]) { self.init(elements: floats) }

    convenience init(doubles: [Double]) { self.init(elements: doubles) }

    /// A float32 or float64 constant holding `elements`.
    convenience init<T: PlanFloat>(elements: [T]) {
        self.init(dataType: T.dataType, count: elements.count)
        elements.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(pointer), byteCount: $0.count) }
    }

    convenience init(int64s: [Int64]) {
        self.init(dataType: .int64, count: int64s.count)
        int64s.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(pointer), byteCount: $0.count) }
    }

    init(strings: [String]) {
        self.dataType = .string
        self.count = strings.count
        self.strings = strings
        let bytes = Swift.max(strings.count * 8, 16)
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let indices = pointer.bindMemory(to: Int64.self, capacity: Swift.max(strings.count, 2))
        for index in 0..<strings.count { indices[index] = Int64(index) }
    }

    deinit {
        pointer.deallocate()
    }

    var floatPointer: UnsafeMutablePointer<Float> { pointer.assumingMemoryBound(to: Float.self) }
    var int64Pointer: UnsafeMutablePointer<Int64> { pointer.assumingMemoryBound(to: Int64.self) }

    /// A copy of the elements of a float constant.
    var floats: [Float] {
        guard dataType == .float32 else { return [] }
        return Array(UnsafeBufferPointer(start: floatPointer, count: count))
    }

    /// A copy of the elements of a double constant.
    var doubles: [Double] {
        guard dataType == .float64 else { return [] }
        return Array(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: Double.self), count: count))
    }

    /// The elements of a numeric constant (float32, float64 or int64) converted to `T`; empty for strings.
    func elements<T: PlanFloat>(as type: T.Type) -> [T] {
        switch dataType {
        case .float32: return UnsafeBufferPointer(start: floatPointer, count: count).map { T($0) }
        case .float64:
            return UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: Double.self), count: count).map { T($0) }
        case .int64: return UnsafeBufferPointer(start: int64Pointer, count: count).map { T($0) }
        case .string: return []
        }
    }

    /// A copy of the elements of an int64 constant (or the indices of a string one).
    var int64s: [Int64] {
        guard dataType == .int64 || dataType == .string else { return [] }
        return Array(UnsafeBufferPointer(start: int64Pointer, count: count))
    }
}
