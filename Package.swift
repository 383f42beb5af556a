// swift-tools-version:6.2
// Tensorwire: a gRPC model server. No package dependencies, by design (see README and DESIGN.md):
// the only external code is the system libnghttp2, libhttp-parser, OpenBLAS and zlib, each fenced behind one module.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// Release executables carry the Swift runtime and standard library inside them (`-static-stdlib`): one binary that
/// needs only glibc and the system libraries on the host, calls into the runtime (retain, release, allocation) made
/// directly instead of through the PLT, and less resident memory (docs/performance.md, "The runtime linked in").
/// Debug and sanitizer builds keep the shared runtime.
let releaseLinking: [LinkerSetting] = [.unsafeFlags(["-static-stdlib"], .when(configuration: .release))]

let package = Package(
    name: "Tensorwire",
    products: [
        .executable(name: "tensorwire-server", targets: ["tensorwire-server"]),
        .executable(name: "tensorwire", targets: ["tensorwire"]),
        .library(name: "TensorwireClient", targets: ["TensorwireClient"]),
    ],
    targets: [
        // System libraries: each is imported by exactly one module, `internal`ly.
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // libhttp-parser ships no pkg-config file; its module map links `http_parser` directly.
        .systemLibrary(name: "CHTTPParser", providers: [.apt(["libhttp-parser-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),

        // The version and the git commit the binary was built from (stamped by BuildInfoPlugin before every build).
        .target(name: "BuildInfo", swiftSettings: strict, plugins: ["BuildInfoPlugin"]),
        .plugin(name: "BuildInfoPlugin", capability: .buildTool(), path: "Tools/build-info-plugin"),
        // The one lock (`Lock<State>`, a pthread mutex ThreadSanitizer can follow, with Mutex's API); no dependencies.
        .target(name: "Locks", swiftSettings: strict),
        // The one monotonic instant type and its clocks (system, manual for tests), and the wall clock for reported
        // timestamps; only Locks (ManualClock's observers).
        .target(name: "Clocks", dependencies: ["Locks"], swiftSettings: strict),
        // Prometheus metrics: counters, gauges and histograms updated with atomics (no lock per update), scrape-time
        // collectors (the process's /proc figures among them), the text 0.0.4 and OpenMetrics expositions.
        .target(name: "Metrics", dependencies: ["Clocks", "Locks"], swiftSettings: strict),
        // Log lines: levels, records and fields, the text and JSON formats (JSON written by JSONWire's writer), the
        // access log, standard error.
        .target(name: "Logging", dependencies: ["JSONWire", "Locks"], swiftSettings: strict),
        // W3C Trace Context: the traceparent value, trace and span ids; pure, no dependencies (Transport, Server and
        // RPCCore-level code may all use it).
        .target(name: "Tracing", swiftSettings: strict),
        // Base64 (RFC 4648), the one codec: gRPC binary metadata, JSON bytes fields, embedded files.
        .target(name: "Base64Codec", swiftSettings: strict),
        // The protobuf wire format; knows no message.
        .target(name: "ProtoWire", swiftSettings: strict),
        // JSON (RFC 8259): a strict pull reader and a compact writer over bytes; knows no message.
        .target(name: "JSONWire", swiftSettings: strict),
        // Hand-written message types for every file in Proto/.
        .target(name: "TensorwireProto", dependencies: ["ProtoWire", "Base64Codec"], swiftSettings: strict),
        // JSON bodies of the REST routes: proto3 JSON of tensorwire.v1, KServe v2 / Triton HTTP bodies; sans-I/O.
        .target(name: "TensorwireJSON", dependencies: ["JSONWire", "TensorwireProto", "Base64Codec"], swiftSettings: strict),
        // Sans-I/O service logic shared by the Server's handlers: the health status board, the reflection responder.
        .target(name: "ServiceSupport", dependencies: ["TensorwireProto", "Locks"], swiftSettings: strict),
        // The types every HTTP layer shares: header fields, HTTP/2 error codes; no dependencies.
        .target(name: "HTTPTypes", swiftSettings: strict),
        // gRPC semantics, sans-I/O.
        .target(name: "RPCCore", dependencies: ["Base64Codec", "HTTPTypes"], swiftSettings: strict),
        // gRPC message compression (gzip, deflate), sans-I/O; the only importer of CZlib.
        .target(name: "GRPCCompression", dependencies: ["CZlib", "RPCCore"], swiftSettings: strict),
        // The only importer of CNGHTTP2.
        .target(name: "HTTP2", dependencies: ["CNGHTTP2", "HTTPTypes"], swiftSettings: strict),
        // The sans-I/O HTTP/1.1 request parser: libhttp-parser behind a strict pre-scan; the only importer of CHTTPParser.
        .target(name: "HTTP1", dependencies: ["CHTTPParser", "HTTPTypes"], swiftSettings: strict),
        // epoll, eventfd, timerfd and socket helpers that Glibc does not expose; imported only by EventLoop.
        .target(name: "CLinuxShims"),
        // SHA-256, random bytes, constant-time comparison and the sans-I/O TLS server session (memory BIOs); the only
        // importer of COpenSSL.
        .target(name: "Crypto", dependencies: ["COpenSSL"], swiftSettings: strict),
        // Epoll loop threads, timers, cross-thread execute, non-blocking sockets.
        .target(name: "EventLoop", dependencies: ["CLinuxShims", "Clocks", "Locks"], swiftSettings: strict),
        // gRPC over HTTP/2 connections (server and client; write coalescing, backpressure, GOAWAY) and REST on the
        // server's port: HTTP/1.1 connections and h2c REST streams.
        .target(
            name: "Transport",
            dependencies: [
                "EventLoop", "Clocks", "HTTP1", "HTTP2", "HTTPTypes", "RPCCore", "GRPCCompression", "Logging", "Tracing",
                "Locks", "Crypto",
            ],
            swiftSettings: strict
        ),
        // GEMM micro-kernels over packed weights, compiled for AVX-512 (skylake-avx512: F, CD, BW, DQ, VL, FMA).
        // Only Inference calls them, and only after checking the CPU (PackedGEMM.isSupported). Optimised in every
        // configuration: unoptimised 16-lane SIMD code is a function call per lane operation.
        // A software prefetch (header-only, inlined); imported only by AVX512Kernels.
        .target(name: "CPrefetch"),
        .target(
            name: "AVX512Kernels",
            dependencies: ["CPrefetch"],
            swiftSettings: strict + [
                .unsafeFlags(["-Xfrontend", "-target-cpu", "-Xfrontend", "skylake-avx512"]),
                .unsafeFlags(["-O"], .when(configuration: .debug)),
            ]
        ),
        // Tensors, GEMM on OpenBLAS (the only importer of COpenBLAS) and on the packed kernels, ONNX models; the
        // repository opens sealed models and checks pinned digests with Crypto.
        .target(
            name: "Inference",
            dependencies: ["ProtoWire", "JSONWire", "Base64Codec", "COpenBLAS", "AVX512Kernels", "Logging", "Crypto"],
            swiftSettings: strict
        ),
        // The dynamic batcher: pure policy, queue, instance threads; knows no RPC.
        .target(name: "Batching", dependencies: ["Inference", "Logging", "Clocks", "Locks"], swiftSettings: strict),
        // API keys and mTLS identities with scopes: the key file, the decision, the reloading watcher.
        .target(name: "Auth", dependencies: ["JSONWire", "Logging", "Locks", "Crypto", "EventLoop"], swiftSettings: strict),
        // Composition root: the services (native, KServe v2, health, reflection; over gRPC and REST), config,
        // lifecycle.
        .target(
            name: "Server",
            dependencies: [
                "ProtoWire", "TensorwireProto", "TensorwireJSON", "JSONWire", "ServiceSupport", "RPCCore", "HTTPTypes",
                "EventLoop", "Transport", "Inference", "Batching", "Logging", "Clocks", "Tracing", "Metrics", "BuildInfo",
                "Locks", "Crypto", "Auth",
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "tensorwire-server",
            dependencies: ["Server", "EventLoop", "Clocks", "Logging", "BuildInfo", "CLinuxShims"],
            swiftSettings: strict, linkerSettings: releaseLinking
        ),

        // Clients: the typed Swift client library (gRPC, and REST over its own HTTP/1.1 client), the CLI's logic (a
        // library so tests can reach it) and the CLI.
        .target(
            name: "TensorwireClient",
            dependencies: [
                "ProtoWire", "TensorwireProto", "TensorwireJSON", "JSONWire", "RPCCore", "HTTPTypes", "Transport", "EventLoop",
                "Locks", "Crypto", "Clocks",
            ],
            path: "Clients/TensorwireClient",
            swiftSettings: strict
        ),
        .target(
            name: "TensorwireCLI",
            dependencies: [
                "TensorwireClient", "TensorwireProto", "TensorwireJSON", "RPCCore", "ProtoWire", "Transport", "EventLoop",
                "BuildInfo", "Locks", "Crypto", "Auth",
            ],
            path: "Clients/TensorwireCLI",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "tensorwire", dependencies: ["TensorwireCLI"], path: "Clients/tensorwire",
            swiftSettings: strict, linkerSettings: releaseLinking
        ),

        // Tools: fuzz entry points (shared by the libFuzzer binary and the corpus-replay test) and benchmarks.
        // tensorwire-fuzz drives six decoders (proto, onnx, config, http2, http1, json; Tools/fuzz/run TARGET).
        .target(
            name: "DecoderFuzzing",
            dependencies: ["ProtoWire", "TensorwireProto"],
            path: "Tools/fuzz/DecoderFuzzing",
            swiftSettings: strict
        ),
        // grpc.testing.TestService on our transport (and our client's run of the interop cases):
        // Tools/interop/grpc-interop.sh runs it against grpcio, our client and grpcurl.
        .target(
            name: "InteropService",
            dependencies: ["ProtoWire", "RPCCore", "Transport", "GRPCCompression", "Locks"],
            path: "Tools/interop/server/InteropService",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "tensorwire-interop-server",
            dependencies: ["InteropService", "Transport", "EventLoop", "CLinuxShims"],
            path: "Tools/interop/server/tensorwire-interop-server",
            swiftSettings: strict, linkerSettings: releaseLinking
        ),
        .executableTarget(
            name: "tensorwire-fuzz",
            dependencies: ["DecoderFuzzing", "Inference", "HTTP2", "HTTP1", "HTTPTypes", "TensorwireJSON", "TensorwireProto"],
            path: "Tools/fuzz/tensorwire-fuzz",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "tensorwire-codec-bench",
            dependencies: ["ProtoWire", "TensorwireProto"],
            path: "Tools/bench/swift/tensorwire-codec-bench",
            swiftSettings: strict, linkerSettings: releaseLinking
        ),
        .executableTarget(
            name: "tensorwire-json-bench",
            dependencies: ["JSONWire"],
            path: "Tools/bench/swift/tensorwire-json-bench",
            swiftSettings: strict, linkerSettings: releaseLinking
        ),
        .executableTarget(
            name: "tensorwire-echo-server",
            dependencies: ["Transport", "RPCCore", "EventLoop", "CLinuxShims"],
            path: "Tools/bench/swift/tensorwire-echo-server",
            swiftSettings: strict, linkerSettings: releaseLinking
        ),
        .executableTarget(
            name: "tensorwire-engine-bench",
            dependencies: ["Inference"],
            path: "Tools/bench/swift/tensorwire-engine-bench",
            swiftSettings: strict, linkerSettings: releaseLinking
        ),
        .executableTarget(
            name: "tensorwire-grpc-load",
            dependencies: ["Transport", "RPCCore", "ProtoWire", "TensorwireProto", "Locks"],
            path: "Tools/bench/swift/tensorwire-grpc-load",
            swiftSettings: strict, linkerSettings: releaseLinking
        ),
        .executableTarget(
            name: "tensorwire-auth-bench",
            dependencies: ["Auth", "Logging"],
            path: "Tools/bench/swift/tensorwire-auth-bench",
            swiftSettings: strict, linkerSettings: releaseLinking
        ),
        .executableTarget(
            name: "tensorwire-metrics-bench",
            dependencies: ["Metrics", "Locks"],
            path: "Tools/bench/swift/tensorwire-metrics-bench",
            swiftSettings: strict, linkerSettings: releaseLinking
        ),

        // What every test target shares: the seeded generator, the waits for another thread, the `.live` tag.
        .target(name: "TestSupport", dependencies: ["Locks"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "LocksTests", dependencies: ["Locks", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ProtoWireTests", dependencies: ["ProtoWire", "TestSupport"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(
            name: "TensorwireProtoTests",
            dependencies: ["ProtoWire", "TensorwireProto", "ServiceSupport", "DecoderFuzzing", "TestSupport"],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ServiceSupportTests",
            dependencies: ["ServiceSupport", "TensorwireProto", "ProtoWire", "Locks"],
            swiftSettings: strict
        ),
        .testTarget(name: "RPCCoreTests", dependencies: ["RPCCore", "HTTPTypes", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "AuthTests", dependencies: ["Auth", "Crypto", "Logging", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "Base64CodecTests", dependencies: ["Base64Codec"], swiftSettings: strict),
        .testTarget(name: "LoggingTests", dependencies: ["Logging", "JSONWire", "Locks"], swiftSettings: strict),
        .testTarget(name: "TracingTests", dependencies: ["Tracing", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "JSONWireTests", dependencies: ["JSONWire"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(
            name: "TensorwireJSONTests",
            dependencies: ["TensorwireJSON", "JSONWire", "TensorwireProto", "ProtoWire"],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(name: "InteropTests", dependencies: ["InteropService", "Transport", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "GRPCCompressionTests", dependencies: ["GRPCCompression", "RPCCore"], swiftSettings: strict),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "TensorwireProto", "RPCCore", "Inference", "Batching", "Logging", "Clocks", "TestSupport",
                "Locks", "Crypto", "EventLoop",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ClientTests",
            dependencies: [
                "TensorwireClient", "TensorwireCLI", "Server", "TensorwireProto", "RPCCore", "HTTPTypes", "Transport", "Logging",
                "TestSupport", "Locks", "Auth", "ProtoWire", "Clocks", "EventLoop", "Crypto",
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "HTTP2Tests", dependencies: ["HTTP2", "HTTPTypes", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1", "HTTPTypes"], swiftSettings: strict),
        .testTarget(
            name: "EventLoopTests", dependencies: ["EventLoop", "Clocks", "TestSupport", "Locks"], swiftSettings: strict
        ),
        .testTarget(
            name: "TransportTests",
            dependencies: [
                "Transport", "RPCCore", "EventLoop", "GRPCCompression", "HTTP2", "HTTPTypes", "Logging", "Clocks", "TestSupport",
                "Locks", "Crypto",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "BatchingTests", dependencies: ["Batching", "Inference", "Clocks", "TestSupport", "Locks"], swiftSettings: strict
        ),
        .testTarget(
            name: "InferenceTests",
            dependencies: ["Inference", "ProtoWire", "Logging", "Crypto", "TestSupport"],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
    ]
)
