/// The `tensorwire-server` command line, parsed by hand. A value; `parse` never exits or prints.
public struct ServerOptions: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 50051
    /// A model repository directory; nil serves the built-in `digits` model.
    public var modelsDirectory: String?
    public var loops = 1
    public var maxReceiveMessageBytes = 64 << 20
    public var drainSeconds = 10.0

    public init() {}

    public static let usage = """
        usage: tensorwire-server [options]

          --host HOST                        address to listen on (default 127.0.0.1; 0.0.0.0 for containers)
          --port PORT                        port (default 50051; 0 picks a free one)
          --models DIR                       model repository: DIR/<model>/<version>/model.onnx
                                             (default: the built-in `digits` model)
          --loops N                          event-loop threads (default 1)
          --max-receive-message-bytes N      largest request message accepted (default 67108864)
          --drain-seconds S                  grace period for in-flight calls on SIGTERM/SIGINT (default 10)
          -h, --help                         this text
        """

    /// What the command line asks for.
    public enum Parsed: Equatable, Sendable {
        case run(ServerOptions)
        case help
    }

    public struct UsageError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ arguments: [String]) throws(UsageError) -> Parsed {
        var options = ServerOptions()
        var index = 0
        func value(_ flag: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else { throw UsageError(description: "\(flag) needs a value") }
            return arguments[index]
        }
        func integer(_ flag: String, in range: ClosedRange<Int>) throws(UsageError) -> Int {
            let text = try value(flag)
            guard let number = Int(text), range.contains(number) else {
                throw UsageError(description: "\(flag): \"\(text)\" is not a whole number in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        while index < arguments.count {
            var flag = arguments[index]
            // Accept --flag=value as well as --flag value.
            if flag.hasPrefix("--"), let equals = flag.firstIndex(of: "=") {
                var rest = arguments
                rest.insert(String(flag[flag.index(after: equals)...]), at: index + 1)
                flag = String(flag[..<equals])
                return try parse(Array(rest[..<index]) + [flag] + Array(rest[(index + 1)...]))
            }
            switch flag {
            case "-h", "--help": return .help
            case "--host": options.host = try value(flag)
            case "--port": options.port = try integer(flag, in: 0...65535)
            case "--models": options.modelsDirectory = try value(flag)
            case "--loops": options.loops = try integer(flag, in: 1...256)
            case "--max-receive-message-bytes": options.maxReceiveMessageBytes = try integer(flag, in: 1...Int(Int32.max))
            case "--drain-seconds":
                let text = try value(flag)
                guard let seconds = Double(text), seconds >= 0, seconds <= 3600 else {
                    throw UsageError(description: "--drain-seconds: \"\(text)\" is not a number of seconds in 0...3600")
                }
                options.drainSeconds = seconds
            default:
                throw UsageError(description: "unknown option \"\(flag)\"")
            }
            index += 1
        }
        return .run(options)
    }
}
