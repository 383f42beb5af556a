// Replays Tools/fixtures/http1/{hostile,valid}.json through the parser, whole and byte by byte.

import HTTP1
import Testing

@Suite struct CorpusReplayTests {
    @Test func corpusFilesLoadAndCoverEveryRule() {
        // A file that fails to load gives no parameterised cases; these counts catch it.
        #expect(Corpus.hostile.count >= 100)
        #expect(Corpus.valid.count >= 25)
        let statuses = Set(Corpus.hostile.map(\.status))
        #expect(statuses == [0, 400, 413, 414, 431, 501, 505])
        #expect(Set(Corpus.hostile.map(\.name)).count == Corpus.hostile.count)
    }

    @Test(arguments: Corpus.hostile)
    func hostileRequestIsRefusedWholeAndByteByByte(_ hostile: HostileCase) throws {
        let bytes = try #require(Corpus.bytes(hostile.request))
        for chunkSize in [nil, 1] as [Int?] {
            let outcome = parse(bytes, chunkSize: chunkSize)
            let how = chunkSize == nil ? "whole" : "byte by byte"
            #expect(outcome.maxBufferedHeadBytes <= HTTP1Limits().maxHeadBytes, "\(how)")
            if hostile.status == 0 {
                // Truncated: nothing refused, nothing ended, the parser waits for the rest.
                #expect(outcome.error == nil, "\(how)")
                #expect(!outcome.events.contains(.end), "\(how)")
                #expect(outcome.isMidRequest, "\(how)")
                continue
            }
            let error = try #require(outcome.error, "\(how): accepted, events \(outcome.events.count)")
            #expect(error.status == hostile.status, "\(how): \(error)")
            #expect(error.reason.contains(hostile.reason), "\(how): \(error)")
            #expect(!error.reason.contains(HTTP1RequestParser.disagreementPrefix), "\(how): \(error)")
            #expect(!outcome.events.contains(.end), "\(how): a hostile request completed")
        }
    }

    @Test(arguments: Corpus.valid)
    func validRequestParsesWholeAndByteByByte(_ valid: ValidCase) throws {
        let bytes = try #require(Corpus.bytes(valid.request))
        let expected = try #require(valid.expectedEvents)
        for chunkSize in [nil, 1, 7] as [Int?] {
            let outcome = parse(bytes, chunkSize: chunkSize)
            #expect(outcome.error == nil, "chunks of \(chunkSize ?? bytes.count): \(String(describing: outcome.error))")
            #expect(outcome.mergedEvents == expected, "chunks of \(chunkSize ?? bytes.count)")
            #expect(!outcome.isMidRequest)
        }
    }
}
