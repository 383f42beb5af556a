// Tests/RPCCoreTests/StatusTests.swift: Status, Status.Code, RPCError and the HTTP/2 error code mappings.

import RPCCore
import Testing
import HTTPTypes

@Suite struct StatusTests {
    @Test func allSeventeenCodesHaveRawValuesZeroThroughSixteen() {
        #expect(Status.Code.allCases.count == 17)
        #expect(Status.Code.allCases.map(\.rawValue) == Array(0...16))
        #expect(Status.Code.resourceExhausted.rawValue == 8)
        #expect(Status.Code.unimplemented.rawValue == 12)
        #expect(Status.Code.internal.rawValue == 13)
        #expect(Status.Code.unauthenticated.name == "UNAUTHENTICATED")
    }

    @Test func unknownWireValuesBecomeUnknownInsteadOfFailing() {
        #expect(Status.Code(wireValue: 99) == .unknown)
        #expect(Status.Code(wireValue: -1) == .unknown)
        #expect(Status.Code(wireValue: 14) == .unavailable)
    }

    @Test func grpcStatusHeaderParsesDecimalsAndMapsGarbageToInternal() {
        #expect(Status(grpcStatus: "0", message: "") == .ok)
        #expect(Status(grpcStatus: "12", message: "nope") == Status(code: .unimplemented, message: "nope"))
        #expect(Status(grpcStatus: "abc", message: "").code == .internal)
        #expect(Status(grpcStatus: "abc", message: "").message.contains("malformed grpc-status"))
        #expect(Status(grpcStatus: "", message: "").code == .internal)
        #expect(Status(grpcStatus: "-1", message: "").code == .internal)
        #expect(Status(grpcStatus: "99999999999999999999", message: "").code == .internal)
        #expect(Status(grpcStatus: "99", message: "").code == .unknown)
    }

    @Test(arguments: [
        (400, Status.Code.internal), (401, .unauthenticated), (403, .permissionDenied), (404, .unimplemented),
        (429, .unavailable), (502, .unavailable), (503, .unavailable), (504, .unavailable), (200, .unknown),
        (500, .unknown), (415, .unknown),
    ])
    func httpStatusWithoutGRPCStatusMapsPerW54(httpStatus: Int, expected: Status.Code) {
        #expect(Status.Code(httpStatus: httpStatus) == expected)
    }

    @Test(arguments: [
        (HTTP2ErrorCode.noError, Status.Code.internal), (.protocolError, .internal), (.internalError, .internal),
        (.flowControlError, .internal), (.settingsTimeout, .internal), (.frameSizeError, .internal),
        (.compressionError, .internal), (.connectError, .internal), (.refusedStream, .unavailable),
        (.cancel, .cancelled), (.enhanceYourCalm, .resourceExhausted), (.inadequateSecurity, .permissionDenied),
        (.streamClosed, .unknown), (HTTP2ErrorCode(rawValue: 0x99), .unknown),
    ])
    func resetCodesMapPerW50(resetCode: HTTP2ErrorCode, expected: Status.Code) {
        #expect(Status.Code(resetCode: resetCode) == expected)
    }

    @Test func rpcErrorIsNeverOK() {
        let error = RPCError(code: .ok, message: "not really")
        #expect(error.code == .unknown)
        #expect(error.status.code == .unknown)
    }

    @Test func foreignErrorsBecomeUnknownWithTheirCause() {
        struct Boom: Error {}
        let error = RPCError(wrapping: Boom())
        #expect(error.code == .unknown)
        #expect(error.cause != nil)
        let original = RPCError(code: .notFound, message: "no model \"x\"")
        let same = RPCError(wrapping: original)
        #expect(same.code == .notFound)
        #expect(same.message == "no model \"x\"")
    }

    @Test func statusDescriptionNamesCodeAndMessage() {
        #expect(Status(code: .notFound, message: "m").description == "NOT_FOUND (5): m")
        #expect(HTTP2ErrorCode.enhanceYourCalm.description == "ENHANCE_YOUR_CALM")
    }
}
