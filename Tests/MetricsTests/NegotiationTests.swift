import Metrics
import Testing

/// `ExpositionFormat.negotiate(accept:)` on the headers scrapers really send.
@Suite struct NegotiationTests {
    @Test(arguments: [
        // Prometheus 2.x's default scrape.
        ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
            + "text/plain;version=0.0.4;q=0.5,*/*;q=0.1", ExpositionFormat.openMetrics),
        // Prometheus 3.x's default scrape_protocols.
        ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
            + "application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
            + "text/plain;version=0.0.4;q=0.3,*/*;q=0.2", .openMetrics),
        // Prometheus with protobuf first (native histograms): we offer no protobuf, OpenMetrics is next.
        ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,"
            + "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.4,"
            + "application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=0.0.4;q=0.1,*/*;q=0.0", .openMetrics),
        // scrape_protocols: [PrometheusText0.0.4] only.
        ("text/plain;version=0.0.4;q=0.2,*/*;q=0.1", .prometheusText),
        // Spaces, capitals and quoted parameters as other scrapers write them.
        ("Application/OpenMetrics-Text; version=\"1.0.0\"; q=0.9, text/plain; q=0.5", .openMetrics),
        ("application/openmetrics-text; version=1.0.0", .openMetrics),
        ("application/openmetrics-text", .openMetrics),
        // A version of OpenMetrics we do not write is not OpenMetrics to us.
        ("application/openmetrics-text;version=2.0.0,text/plain;q=0.1", .prometheusText),
        // Refused with q=0; text wins ties; browsers, curl, nothing at all.
        ("application/openmetrics-text;q=0,text/plain;q=0.1", .prometheusText),
        ("application/openmetrics-text;q=0.5,text/plain;q=0.5", .prometheusText),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", .prometheusText),
        ("*/*", .prometheusText),
        ("application/json", .prometheusText),
        ("", .prometheusText),
        (",;,q=", .prometheusText),
    ])
    func testNegotiatesTheFormatScrapersAskFor(accept: String, expected: ExpositionFormat) {
        #expect(ExpositionFormat.negotiate(accept: accept) == expected)
    }

    @Test func testMissingAcceptHeaderGetsText() {
        #expect(ExpositionFormat.negotiate(accept: nil) == .prometheusText)
    }

    @Test func testContentTypes() {
        #expect(ExpositionFormat.prometheusText.contentType == "text/plain; version=0.0.4; charset=utf-8")
        #expect(
            ExpositionFormat.openMetrics.contentType == "application/openmetrics-text; version=1.0.0; charset=utf-8")
    }
}
