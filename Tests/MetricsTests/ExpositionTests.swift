import Metrics
import Testing

/// The exposition of small registries, compared with the exact text each format must have.
@Suite struct ExpositionTests {
    /// A registry with one family of each kind, its `_created` times pinned.
    static func smallRegistry() -> MetricsRegistry {
        let registry = MetricsRegistry(wallSeconds: { 1_700_000_000.5 })
        let requests = registry.counter("demo_requests_total", help: "Requests handled.", labelNames: ["model", "code"])
        requests.labels("digits", "OK").increment(by: 3)
        requests.labels("digits", "NOT_FOUND").increment()
        registry.gauge("demo_inflight_requests", help: "Requests in flight.").labels().set(2)
        let latency = registry.histogram(
            "demo_request_duration_seconds", help: "Request latency.", labelNames: ["model"], buckets: [0.0625, 0.5, 1])
        for value in [0.25, 0.5, 0.0625, 4] { latency.labels("digits").observe(value) }
        return registry
    }

    static func text(_ registry: MetricsRegistry, _ format: ExpositionFormat) -> String {
        String(decoding: registry.exposition(format), as: UTF8.self)
    }

    /// What both formats write alike for `smallRegistry`: the gauge, and the histogram up to its buckets.
    static let gaugeAndBuckets = """
        # HELP demo_inflight_requests Requests in flight.
        # TYPE demo_inflight_requests gauge
        demo_inflight_requests 2.0
        # HELP demo_request_duration_seconds Request latency.
        # TYPE demo_request_duration_seconds histogram
        demo_request_duration_seconds_bucket{model="digits",le="0.0625"} 1
        demo_request_duration_seconds_bucket{model="digits",le="0.5"} 3
        demo_request_duration_seconds_bucket{model="digits",le="1.0"} 3
        demo_request_duration_seconds_bucket{model="digits",le="+Inf"} 4

        """

    @Test func testTextFormatOfOneFamilyOfEachKind() {
        #expect(
            Self.text(Self.smallRegistry(), .prometheusText) == Self.gaugeAndBuckets + """
                demo_request_duration_seconds_sum{model="digits"} 4.8125
                demo_request_duration_seconds_count{model="digits"} 4
                # HELP demo_requests_total Requests handled.
                # TYPE demo_requests_total counter
                demo_requests_total{model="digits",code="NOT_FOUND"} 1
                demo_requests_total{model="digits",code="OK"} 3

                """)
    }

    @Test func testOpenMetricsNamesCounterFamiliesWithoutTotalAndAddsCreatedAndEOF() {
        #expect(
            Self.text(Self.smallRegistry(), .openMetrics) == Self.gaugeAndBuckets + """
                demo_request_duration_seconds_count{model="digits"} 4
                demo_request_duration_seconds_sum{model="digits"} 4.8125
                demo_request_duration_seconds_created{model="digits"} 1700000000.5
                # HELP demo_requests Requests handled.
                # TYPE demo_requests counter
                demo_requests_total{model="digits",code="NOT_FOUND"} 1
                demo_requests_created{model="digits",code="NOT_FOUND"} 1700000000.5
                demo_requests_total{model="digits",code="OK"} 3
                demo_requests_created{model="digits",code="OK"} 1700000000.5
                # EOF

                """)
    }

    @Test func testEmptyRegistryIsEmptyTextAndOnlyEOFInOpenMetrics() {
        let registry = MetricsRegistry()
        _ = registry.counter("demo_unused_total", help: "No child yet.", labelNames: ["model"])
        #expect(Self.text(registry, .prometheusText) == "")
        #expect(Self.text(registry, .openMetrics) == "# EOF\n")
    }

    @Test func testLabelValuesEscapeBackslashQuoteAndNewlineInBothFormats() {
        let registry = MetricsRegistry()
        registry.gauge("demo_value", help: "Value.", labelNames: ["path"]).labels("C:\\dir \"quoted\"\nnext").set(1)
        let sample = #"demo_value{path="C:\\dir \"quoted\"\nnext"} 1.0"#
        #expect(Self.text(registry, .prometheusText).contains(sample + "\n"))
        #expect(Self.text(registry, .openMetrics).contains(sample + "\n"))
    }

    @Test func testHelpEscapesQuotesOnlyInOpenMetrics() {
        let registry = MetricsRegistry()
        registry.gauge("demo_value", help: "A \"quoted\" back\\slash\nand a second line.").labels().set(0)
        #expect(
            Self.text(registry, .prometheusText).hasPrefix(
                #"# HELP demo_value A "quoted" back\\slash\nand a second line."# + "\n"))
        #expect(
            Self.text(registry, .openMetrics).hasPrefix(
                #"# HELP demo_value A \"quoted\" back\\slash\nand a second line."# + "\n"))
    }

    @Test func testFloatsSpelledAsBothParsersReadThem() {
        let registry = MetricsRegistry()
        let family = registry.gauge("demo_value", help: "Value.", labelNames: ["case"])
        family.labels("nan").set(.nan)
        family.labels("plus").set(.infinity)
        family.labels("minus").set(-.infinity)
        family.labels("small").set(1e-7)
        family.labels("large").set(1e21)
        family.labels("third").set(1.0 / 3)
        #expect(
            Self.text(registry, .prometheusText) == """
                # HELP demo_value Value.
                # TYPE demo_value gauge
                demo_value{case="large"} 1e+21
                demo_value{case="minus"} -Inf
                demo_value{case="nan"} NaN
                demo_value{case="plus"} +Inf
                demo_value{case="small"} 1e-07
                demo_value{case="third"} 0.3333333333333333

                """)
    }

    @Test func testCounterRegisteredWithoutTotalIsExposedWithIt() {
        let registry = MetricsRegistry(wallSeconds: { 2 })
        let family = registry.counter("demo_batches", help: "Batches.")
        #expect(family.name == "demo_batches_total")
        family.labels().increment(by: 7)
        #expect(
            Self.text(registry, .prometheusText)
                == "# HELP demo_batches_total Batches.\n# TYPE demo_batches_total counter\ndemo_batches_total 7\n")
        #expect(
            Self.text(registry, .openMetrics)
                == "# HELP demo_batches Batches.\n# TYPE demo_batches counter\ndemo_batches_total 7\ndemo_batches_created 2.0\n# EOF\n")
    }

    @Test func testRegisteringTheSameFamilyAgainReturnsItAndItsChildren() {
        let registry = MetricsRegistry()
        let first = registry.counter("demo_requests_total", help: "Requests.", labelNames: ["model"])
        let again = registry.counter("demo_requests", help: "Requests.", labelNames: ["model"])
        #expect(first === again)
        #expect(first.labels("a") === again.labels(["a"]))
        first.labels("a").increment()
        again.labels("a").increment()
        #expect(first.labels("a").value == 2)
    }

    @Test func testFamiliesSortByNameAndChildrenByLabelValuesWhateverTheOrderOfCreation() {
        let registry = MetricsRegistry()
        let zeta = registry.gauge("demo_zeta", help: "Z.", labelNames: ["model", "version"])
        let alpha = registry.gauge("demo_alpha", help: "A.")
        for (model, version) in [("b", "1"), ("a", "2"), ("a", "10"), ("a", "1")] { zeta.labels(model, version).set(1) }
        alpha.labels().set(1)
        let lines = Self.text(registry, .prometheusText).split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(
            lines == [
                "demo_alpha 1.0", #"demo_zeta{model="a",version="1"} 1.0"#, #"demo_zeta{model="a",version="10"} 1.0"#,
                #"demo_zeta{model="a",version="2"} 1.0"#, #"demo_zeta{model="b",version="1"} 1.0"#,
            ])
    }

    @Test func testCollectedFamiliesAreMergedSortedAndClashesLeftOut() {
        let registry = MetricsRegistry()
        registry.gauge("demo_b", help: "Registered.").labels().set(1)
        registry.register(collector: {
            [
                .gauge("demo_c", help: "Collected.", labelNames: ["model"], samples: [
                    CollectedSample(labelValues: ["y"], value: 2), CollectedSample(labelValues: ["x"], value: 3),
                    CollectedSample(labelValues: ["x"], value: 4), CollectedSample(labelValues: [], value: 5),
                ]),
                .counter("demo_a", help: "Collected counter.", samples: [CollectedSample(value: 1.5)]),
                .gauge("demo_b", help: "Clashes with the registered gauge.", samples: [CollectedSample(value: 9)]),
                .gauge("demo_a_total", help: "Clashes with the collected counter.", samples: [CollectedSample(value: 9)]),
                .gauge("9invalid", help: "Not a metric name.", samples: [CollectedSample(value: 9)]),
                .gauge("demo_d", help: "Bad label name.", labelNames: ["__reserved"], samples: [CollectedSample(labelValues: ["v"], value: 9)]),
            ]
        })
        #expect(
            Self.text(registry, .prometheusText) == """
                # HELP demo_a_total Collected counter.
                # TYPE demo_a_total counter
                demo_a_total 1.5
                # HELP demo_b Registered.
                # TYPE demo_b gauge
                demo_b 1.0
                # HELP demo_c Collected.
                # TYPE demo_c gauge
                demo_c{model="x"} 3.0
                demo_c{model="y"} 2.0

                """)
    }

    @Test func testUnregisteredCollectorIsNoLongerCalled() {
        let registry = MetricsRegistry()
        let id = registry.register(collector: { [.gauge("demo_collected", help: "C.", samples: [CollectedSample(value: 1)])] })
        #expect(Self.text(registry, .prometheusText).contains("demo_collected 1.0"))
        registry.unregister(collector: id)
        #expect(Self.text(registry, .prometheusText) == "")
    }
}

/// Removing the children of an unloaded model version.
@Suite struct RemovalTests {
    @Test func testRemoveOneChildByLabelValues() {
        let registry = MetricsRegistry()
        let family = registry.gauge("demo_queue_depth", help: "Queue.", labelNames: ["model", "version"])
        family.labels("digits", "1").set(4)
        family.labels("digits", "2").set(5)
        #expect(family.remove("digits", "1"))
        #expect(!family.remove("digits", "1"))
        let text = String(decoding: registry.exposition(.prometheusText), as: UTF8.self)
        #expect(!text.contains(#"version="1""#))
        #expect(text.contains(#"demo_queue_depth{model="digits",version="2"} 5.0"#))
    }

    @Test func testRemoveChildrenMatchingAcrossEveryFamily() {
        let registry = MetricsRegistry()
        let requests = registry.counter("demo_requests_total", help: "R.", labelNames: ["model", "version", "code"])
        let depth = registry.gauge("demo_queue_depth", help: "Q.", labelNames: ["model", "version"])
        let latency = registry.histogram("demo_latency_seconds", help: "L.", labelNames: ["model", "version"], buckets: [1])
        let connections = registry.gauge("demo_open_connections", help: "C.", labelNames: ["protocol"])
        for version in ["1", "2"] {
            requests.labels("digits", version, "OK").increment()
            requests.labels("digits", version, "NOT_FOUND").increment()
            depth.labels("digits", version).set(1)
            latency.labels("digits", version).observe(0.5)
        }
        requests.labels("other", "1", "OK").increment()
        connections.labels("grpc").set(3)
        #expect(registry.removeChildren(matching: ["model": "digits", "version": "1"]) == 4)
        let text = String(decoding: registry.exposition(.prometheusText), as: UTF8.self)
        #expect(!text.contains(#"model="digits",version="1""#))
        #expect(text.contains(#"demo_requests_total{model="digits",version="2",code="OK"} 1"#))
        #expect(text.contains(#"demo_requests_total{model="other",version="1",code="OK"} 1"#))
        #expect(text.contains(#"demo_open_connections{protocol="grpc"} 3.0"#))
    }

    @Test func testAChildAskedForAgainAfterRemovalStartsAtZero() {
        let registry = MetricsRegistry()
        let family = registry.counter("demo_requests_total", help: "R.", labelNames: ["model"])
        let old = family.labels("digits")
        old.increment(by: 5)
        family.removeAll()
        old.increment()
        #expect(family.labels("digits") !== old)
        #expect(family.labels("digits").value == 0)
    }
}

/// Bucket placement and the bucket helpers.
@Suite struct HistogramTests {
    @Test func testObservationOnABoundCountsInThatBucketAndNaNInInf() {
        let registry = MetricsRegistry()
        let histogram = registry.histogram("demo_h", help: "H.", buckets: [1, 2, 4]).labels()
        for value in [-1, 1, 1.5, 2, 4, 4.0000001, 100] { histogram.observe(value) }
        #expect(histogram.cumulativeCounts == [2, 4, 5, 7])
        histogram.observe(.nan)
        #expect(histogram.cumulativeCounts == [2, 4, 5, 8])
        #expect(histogram.count == 8)
        #expect(histogram.sum.isNaN)
    }

    @Test func testTrailingInfinityBoundIsImplied() {
        let registry = MetricsRegistry()
        let family = registry.histogram("demo_h", help: "H.", buckets: [1, .infinity])
        family.labels().observe(3)
        #expect(family.labels().cumulativeCounts == [0, 1])
        #expect(registry.histogram("demo_h", help: "H.", buckets: [1]) === family)
    }

    @Test func testBucketHelpers() {
        #expect(Histogram.exponentialBuckets(start: 0.001, factor: 10, count: 3).count == 3)
        #expect(Histogram.exponentialBuckets(start: 1, factor: 2, count: 4) == [1, 2, 4, 8])
        #expect(Histogram.linearBuckets(start: 0.5, width: 0.5, count: 4) == [0.5, 1, 1.5, 2])
        #expect(Histogram.batchSizeBuckets(maxBatchSize: 64) == [1, 2, 4, 8, 16, 32, 64])
        #expect(Histogram.batchSizeBuckets(maxBatchSize: 48) == [1, 2, 4, 8, 16, 32, 48])
        #expect(Histogram.batchSizeBuckets(maxBatchSize: 1) == [1])
    }

    @Test func testGaugeSetAndAdd() {
        let gauge = MetricsRegistry().gauge("demo_g", help: "G.").labels()
        gauge.set(2.5)
        gauge.add(-1)
        gauge.increment()
        gauge.decrement()
        gauge.decrement()
        #expect(gauge.value == 0.5)
    }
}
