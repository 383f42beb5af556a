// Sources/HTTPTypes/HTTPTypes.swift: the types every HTTP layer shares (header fields, HTTP/2 error codes).

/// An HTTP/2 error code (RFC 9113 §7) as sent in RST_STREAM and GOAWAY. It owns only the 32-bit number, so RPCCore
/// and Transport speak about resets without any nghttp2 type.
public struct HTTP2ErrorCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let noError = HTTP2ErrorCode(rawValue: 0x0)
    public static let protocolError = HTTP2ErrorCode(rawValue: 0x1)
    public static let internalError = HTTP2ErrorCode(rawValue: 0x2)
    public static let flowControlError = HTTP2ErrorCode(rawValue: 0x3)
    public static let settingsTimeout = HTTP2ErrorCode(rawValue: 0x4)
    public static let streamClosed = HTTP2ErrorCode(rawValue: 0x5)
    public static let frameSizeError = HTTP2ErrorCode(rawValue: 0x6)
    public static let refusedStream = HTTP2ErrorCode(rawValue: 0x7)
    public static let cancel = HTTP2ErrorCode(rawValue: 0x8)
    public static let compressionError = HTTP2ErrorCode(rawValue: 0x9)
    public static let connectError = HTTP2ErrorCode(rawValue: 0xa)
    public static let enhanceYourCalm = HTTP2ErrorCode(rawValue: 0xb)
    public static let inadequateSecurity = HTTP2ErrorCode(rawValue: 0xc)
    public static let http11Required = HTTP2ErrorCode(rawValue: 0xd)

    public var description: String {
        let names = [
            "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
            "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
        ]
        return rawValue < UInt32(names.count) ? names[Int(rawValue)] : "0x\(String(rawValue, radix: 16))"
    }
}

/// One HTTP header field: a name and a value. Header lists are `[HeaderField]`, in wire order. HTTP/2 names are
/// lowercase (nghttp2 checks inbound names and lowercases outbound ones; values arrive as UTF-8 with invalid bytes
/// repaired); the HTTP2 module converts them to and from nghttp2's name/value pairs.
public struct HeaderField: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var value: String
    /// False for a value that differs on nearly every message (a timing, a counter): HTTP/2 then sends it as a
    /// literal that HPACK never enters in its dynamic table, where each new value would evict a field that repeats
    /// and make the encoder search ever more entries of the same name (docs/performance.md, "HPACK").
    public var isIndexable: Bool

    public init(_ name: String, _ value: String, isIndexable: Bool = true) {
        self.name = name
        self.value = value
        self.isIndexable = isIndexable
    }

    public var description: String { "\(name): \(value)" }

    /// A byte of lowercase `[0-9a-z_.-]`: what a gRPC metadata key (W-20), and any name a server makes up for its
    /// own fields, is spelt with.
    public static func isLowercaseKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}

/// Hexadecimal digits as HTTP spells them (chunk sizes, percent-encoding): one table for every layer.
public enum HexDigit {
    /// 0...15 for `0-9`, `a-f`, `A-F`; nil for anything else.
    @inlinable
    public static func value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
