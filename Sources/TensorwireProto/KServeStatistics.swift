public import ProtoWire

// MARK: - Model statistics

extension KServe {
    /// `inference.ModelStatisticsRequest` (name 1, version 2; the same shape as `ModelRequest`). An empty name asks
    /// for every loaded model, an empty version for every ready version.
    public typealias ModelStatisticsRequest = ModelRequest

    /// `inference.StatisticDuration`: a count and the nanoseconds summed over it.
    public struct StatisticDuration: ProtoMessage, Equatable {
        public var count: UInt64 = 0
        public var ns: UInt64 = 0

        public init() {}
        public init(count: UInt64, ns: UInt64) {
            self.count = count
            self.ns = ns
        }

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: count = try reader.readUInt64()
            case 2: ns = try reader.readUInt64()
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitUInt64(count, field: 1)
            visitor.visitUInt64(ns, field: 2)
        }
    }

    /// `inference.InferStatistics`. Every duration is always encoded (an empty message when zero), so readers that
    /// test for presence (perf_analyzer's JSON view) see all of them.
    public struct InferStatistics: ProtoMessage, Equatable {
        public var success = StatisticDuration()
        public var fail = StatisticDuration()
        public var queue = StatisticDuration()
        public var computeInput = StatisticDuration()
        public var computeInfer = StatisticDuration()
        public var computeOutput = StatisticDuration()
        public var cacheHit = StatisticDuration()
        public var cacheMiss = StatisticDuration()

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.mergeMessage(into: &success)
            case 2: try reader.mergeMessage(into: &fail)
            case 3: try reader.mergeMessage(into: &queue)
            case 4: try reader.mergeMessage(into: &computeInput)
            case 5: try reader.mergeMessage(into: &computeInfer)
            case 6: try reader.mergeMessage(into: &computeOutput)
            case 7: try reader.mergeMessage(into: &cacheHit)
            case 8: try reader.mergeMessage(into: &cacheMiss)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitMessage(success, field: 1)
            visitor.visitMessage(fail, field: 2)
            visitor.visitMessage(queue, field: 3)
            visitor.visitMessage(computeInput, field: 4)
            visitor.visitMessage(computeInfer, field: 5)
            visitor.visitMessage(computeOutput, field: 6)
            visitor.visitMessage(cacheHit, field: 7)
            visitor.visitMessage(cacheMiss, field: 8)
        }
    }

    /// `inference.InferBatchStatistics`: the executions of one batch size (counts are batches).
    public struct InferBatchStatistics: ProtoMessage, Equatable {
        public var batchSize: UInt64 = 0
        public var computeInput = StatisticDuration()
        public var computeInfer = StatisticDuration()
        public var computeOutput = StatisticDuration()

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: batchSize = try reader.readUInt64()
            case 2: try reader.mergeMessage(into: &computeInput)
            case 3: try reader.mergeMessage(into: &computeInfer)
            case 4: try reader.mergeMessage(into: &computeOutput)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitUInt64(batchSize, field: 1)
            visitor.visitMessage(computeInput, field: 2)
            visitor.visitMessage(computeInfer, field: 3)
            visitor.visitMessage(computeOutput, field: 4)
        }
    }

    /// `inference.ModelStatistics`: one model version. `memory_usage` (8) and `response_stats` (9, decoupled models)
    /// are never sent; a decoder skips them.
    public struct ModelStatistics: ProtoMessage, Equatable {
        public var name = ""
        /// A whole number (perf_analyzer parses it with `std::stoll`).
        public var version = ""
        /// Milliseconds since the Unix epoch of the last inference (0: none yet).
        public var lastInference: UInt64 = 0
        public var inferenceCount: UInt64 = 0
        public var executionCount: UInt64 = 0
        public var inferenceStats = InferStatistics()
        public var batchStats: [InferBatchStatistics] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: name = try reader.readString()
            case 2: version = try reader.readString()
            case 3: lastInference = try reader.readUInt64()
            case 4: inferenceCount = try reader.readUInt64()
            case 5: executionCount = try reader.readUInt64()
            case 6: try reader.mergeMessage(into: &inferenceStats)
            case 7: try reader.appendMessage(to: &batchStats)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitString(name, field: 1)
            visitor.visitString(version, field: 2)
            visitor.visitUInt64(lastInference, field: 3)
            visitor.visitUInt64(inferenceCount, field: 4)
            visitor.visitUInt64(executionCount, field: 5)
            visitor.visitMessage(inferenceStats, field: 6)
            visitor.visitRepeatedMessages(batchStats, field: 7)
        }
    }

    /// `inference.ModelStatisticsResponse`.
    public struct ModelStatisticsResponse: ProtoMessage, Equatable {
        public var modelStats: [ModelStatistics] = []

        public init() {}

        public mutating func decodeField(_ field: Int, from reader: inout ProtoReader) throws {
            switch field {
            case 1: try reader.appendMessage(to: &modelStats)
            default: try reader.skipField()
            }
        }

        @inlinable public func traverse<V: ProtoFieldVisitor>(_ visitor: inout V) {
            visitor.visitRepeatedMessages(modelStats, field: 1)
        }
    }
}
