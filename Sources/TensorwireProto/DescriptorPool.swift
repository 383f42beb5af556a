internal import Base64Codec
internal import ProtoWire

/// One served .proto file: its serialized `FileDescriptorProto` exactly as protoc wrote it (what reflection
/// sends; never re-encoded) and the decoded subset used to index it. Immutable; any thread.
public struct DescriptorFile: Sendable, Equatable {
    /// The file's name as imports spell it, such as `tensorwire/v1/inference.proto`.
    public var name: String { proto.name }
    /// The serialized `FileDescriptorProto`.
    public let bytes: [UInt8]
    public let proto: ProtobufDescriptor.FileDescriptorProto

    public init(bytes: [UInt8]) throws {
        self.bytes = bytes
        self.proto = try ProtobufDescriptor.FileDescriptorProto(serializedBytes: bytes)
    }
}

/// The descriptors of every .proto file under `Proto/`, produced by protoc through `Tools/gen-descriptors` and
/// compiled in (`EmbeddedDescriptors.swift`, generated). Decoded once, at first use; immutable, any thread.
public enum EmbeddedDescriptors {
    /// Why the embedded literals did not load; either means the generated file was edited by hand.
    public enum LoadError: Error, Equatable {
        case invalidBase64(file: String)
        case nameMismatch(expected: String, found: String)
    }

    /// Every embedded file, in file-name order.
    public static var files: [DescriptorFile] {
        get throws { try loaded.get() }
    }

    static let loaded: Result<[DescriptorFile], any Error> = Result {
        try encoded.map { entry in
            guard let bytes = Base64.decode(entry.base64, ignoringLineBreaks: true) else { throw LoadError.invalidBase64(file: entry.name) }
            let file = try DescriptorFile(bytes: bytes)
            guard file.name == entry.name else { throw LoadError.nameMismatch(expected: entry.name, found: file.name) }
            return file
        }
    }
}

/// A symbol index over a set of descriptor files: which file defines each fully-qualified name (services,
/// methods as `pkg.Service.Method`, messages and nested messages, enums, enum values, fields, extensions), each
/// file's dependencies, and the extensions of each message. Built once at startup; immutable, any thread.
public struct DescriptorPool: Sendable {
    /// What a fully-qualified name denotes.
    public enum SymbolKind: Sendable, Equatable {
        case service, method, message, enumType, enumValue, field, `extension`
    }

    /// Why a set of files does not form a consistent pool.
    public enum BuildError: Error, Equatable {
        case duplicateFile(String)
        case duplicateSymbol(String, files: [String])
        case missingDependency(file: String, dependency: String)
    }

    /// The files, in the order given.
    public let files: [DescriptorFile]
    /// Fully-qualified names of every service in the files, in file order.
    public let services: [String]
    let fileIndex: [String: Int]
    let symbols: [String: (file: Int, kind: SymbolKind)]
    /// Extended message (fully qualified, no leading dot) → extension number → defining file.
    let extensions: [String: [Int32: Int]]

    /// Indexes `files`. Every dependency must be among them, and no name may be defined twice.
    public init(files: [DescriptorFile]) throws {
        var fileIndex: [String: Int] = [:]
        for (index, file) in files.enumerated() {
            guard fileIndex.updateValue(index, forKey: file.name) == nil else {
                throw BuildError.duplicateFile(file.name)
            }
        }
        for file in files {
            for dependency in file.proto.dependency where fileIndex[dependency] == nil {
                throw BuildError.missingDependency(file: file.name, dependency: dependency)
            }
        }
        var indexer = SymbolIndexer()
        for (index, file) in files.enumerated() {
            try indexer.index(file.proto, file: index, fileNames: files.map(\.name))
        }
        self.files = files
        self.fileIndex = fileIndex
        self.symbols = indexer.symbols
        self.extensions = indexer.extensions
        self.services = indexer.services
    }

    /// The pool of the embedded descriptors (`Proto/`).
    public static func embedded() throws -> DescriptorPool {
        try DescriptorPool(files: EmbeddedDescriptors.files)
    }

    /// The file with this exact name.
    public func file(named name: String) -> DescriptorFile? {
        fileIndex[name].map { files[$0] }
    }

    /// What `name` (fully qualified; a leading dot is tolerated) denotes, or nil.
    public func kind(of name: String) -> SymbolKind? {
        symbols[Self.strippingLeadingDot(name)]?.kind
    }

    /// The file that defines `name` (fully qualified; a leading dot is tolerated).
    public func file(containingSymbol name: String) -> DescriptorFile? {
        symbols[Self.strippingLeadingDot(name)].map { files[$0.file] }
    }

    /// The file that defines extension `number` of message `type`.
    public func file(containingExtensionOf type: String, number: Int32) -> DescriptorFile? {
        extensions[Self.strippingLeadingDot(type)]?[number].map { files[$0] }
    }

    /// The extension numbers of message `type`, ascending; nil when `type` is not a message of this pool.
    public func extensionNumbers(of type: String) -> [Int32]? {
        let name = Self.strippingLeadingDot(type)
        guard symbols[name]?.kind == .message else { return nil }
        return (extensions[name] ?? [:]).keys.sorted()
    }

    /// The service descriptor of a fully-qualified service name.
    public func service(named name: String) -> ProtobufDescriptor.ServiceDescriptorProto? {
        let name = Self.strippingLeadingDot(name)
        guard let symbol = symbols[name], symbol.kind == .service else { return nil }
        let file = files[symbol.file].proto
        return file.service.first { Self.qualified($0.name, in: file.package) == name }
    }

    /// `file` followed by its transitive dependencies, breadth first, each once (grpc-go's order).
    public func withDependencies(_ file: DescriptorFile) -> [DescriptorFile] {
        var result = [file]
        var seen: Set<String> = [file.name]
        var next = 0
        while next < result.count {
            for dependency in result[next].proto.dependency where !seen.contains(dependency) {
                seen.insert(dependency)
                if let found = self.file(named: dependency) { result.append(found) }
            }
            next += 1
        }
        return result
    }

    package static func strippingLeadingDot(_ name: String) -> String {
        name.hasPrefix(".") ? String(name.dropFirst()) : name
    }

    static func qualified(_ name: String, in scope: String) -> String {
        scope.isEmpty ? name : scope + "." + name
    }
}

/// Walks files and fills the tables of a `DescriptorPool`.
private struct SymbolIndexer {
    var symbols: [String: (file: Int, kind: DescriptorPool.SymbolKind)] = [:]
    var extensions: [String: [Int32: Int]] = [:]
    var services: [String] = []
    var fileNames: [String] = []

    mutating func index(_ proto: ProtobufDescriptor.FileDescriptorProto, file: Int, fileNames: [String]) throws {
        self.fileNames = fileNames
        let package = proto.package
        for message in proto.messageType { try add(message, scope: package, file: file) }
        for enumType in proto.enumType { try add(enumType, scope: package, file: file) }
        for field in proto.extension { try addExtension(field, scope: package, file: file) }
        for service in proto.service {
            let serviceName = DescriptorPool.qualified(service.name, in: package)
            try define(serviceName, .service, file: file)
            services.append(serviceName)
            for method in service.method {
                try define(serviceName + "." + method.name, .method, file: file)
            }
        }
    }

    mutating func add(_ message: ProtobufDescriptor.DescriptorProto, scope: String, file: Int) throws {
        let name = DescriptorPool.qualified(message.name, in: scope)
        try define(name, .message, file: file)
        for field in message.field { try define(name + "." + field.name, .field, file: file) }
        for nested in message.nestedType { try add(nested, scope: name, file: file) }
        for enumType in message.enumType { try add(enumType, scope: name, file: file) }
        for field in message.extension { try addExtension(field, scope: name, file: file) }
    }

    mutating func add(_ enumType: ProtobufDescriptor.EnumDescriptorProto, scope: String, file: Int) throws {
        try define(DescriptorPool.qualified(enumType.name, in: scope), .enumType, file: file)
        // Enum values are siblings of their enum (C++ scoping), as in protobuf's own full names.
        let enumName = DescriptorPool.qualified(enumType.name, in: scope)
        for value in enumType.value {
            try define(DescriptorPool.qualified(value.name, in: scope), .enumValue, file: file)
            // grpcurl `describe pkg.Enum.VALUE` asks under the enum's own name: resolve that spelling too.
            let alias = DescriptorPool.qualified(value.name, in: enumName)
            if symbols[alias] == nil { symbols[alias] = (file, .enumValue) }
        }
    }

    mutating func addExtension(_ field: ProtobufDescriptor.FieldDescriptorProto, scope: String, file: Int) throws {
        try define(DescriptorPool.qualified(field.name, in: scope), .extension, file: file)
        extensions[DescriptorPool.strippingLeadingDot(field.extendee), default: [:]][field.number] = file
    }

    mutating func define(_ name: String, _ kind: DescriptorPool.SymbolKind, file: Int) throws {
        if let existing = symbols[name] {
            throw DescriptorPool.BuildError.duplicateSymbol(name, files: [fileNames[existing.file], fileNames[file]])
        }
        symbols[name] = (file, kind)
    }
}
